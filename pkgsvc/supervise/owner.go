package supervise

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/proc"
)

// own is the owner goroutine of one service: it reads the state file,
// watches the process it names, and acts on its end, until the
// supervisor stops.
func (s *Supervisor) own(o *owner, atStart bool) {
	defer s.wg.Done()
	defer s.stopPinger(o)
	ctx := s.ctx
	first := true
	for ctx.Err() == nil {
		var st *pkgsvc.State
		var err error
		var watch bool
		s.step(func() {
			st, err = s.p.ServiceState(o.name)
			watch = s.settle(o, st, err, first && atStart)
		})
		if watch && o.leftDead == [2]uint64{uint64(st.Pid), st.StartTime} {
			watch = false
		}
		if !watch {
			first = false
			if !s.await(ctx, o.poke) {
				return
			}
			continue
		}
		adopted := first && atStart
		first = false
		died, dead, ok := s.watchProcess(ctx, o, st, adopted)
		if !ok {
			return
		}
		if dead != nil {
			var leftDead bool
			aside(func() { leftDead = s.crashLoop(ctx, o, dead, died) }) // a revival runs hooks: deep
			if leftDead {
				// service_restart_on_crash=0: its state file names the
				// dead pid until a command acts; reading it again is no news.
				o.leftDead = [2]uint64{uint64(dead.Pid), dead.StartTime}
			}
		}
	}
}

// settle handles the states in which there is no process to watch
// (stopped, failed, stopping, no pidfile); it reports whether the state
// file names a process to watch.
func (s *Supervisor) settle(o *owner, st *pkgsvc.State, err error, atStart bool) bool {
	switch {
	case err != nil:
		s.log.Warn("unreadable state file", "service", o.name, "err", err)
		return false
	case st == nil:
		s.mu.Lock()
		pid, prev := o.pid, o.state
		s.mu.Unlock()
		if had := s.release(o, Stopped); had || prev != Stopped && prev != Unsupervised {
			// Its state file is gone: a stop ended it (or is ending it),
			// maybe before this owner claimed a revived process.
			s.log.Info("stopped as asked", "service", o.name, "pid", pid)
		}
		return false
	case st.NoPidfile:
		s.release(o, Unsupervised) // its aliveness is its service_ping: not supervised by pid
		return false
	case st.Failed:
		s.release(o, Failed)
		return false
	case st.Want == pkgsvc.WantDown:
		s.setStateKeep(o, Stopping)
		s.mu.Lock()
		watching := o.h != nil && o.pid == st.Pid
		s.mu.Unlock()
		return watching // wait for the stop to end it
	}
	if s.StateOf(o.name) == Failed {
		o.tracker.Reset() // started again by the user after `failed`
	}
	return true
}

// watchProcess claims the process st names and waits for its end or a
// change of the state file. dead is the state of a process that died
// without a stop being asked (or was found dead), with the time.
func (s *Supervisor) watchProcess(ctx context.Context, o *owner, st *pkgsvc.State, adopted bool) (time.Time, *pkgsvc.State, bool) {
	s.mu.Lock()
	h := o.h
	if h == nil || o.pid != st.Pid {
		h = nil
	}
	s.mu.Unlock()
	if h == nil {
		var err error
		s.step(func() { h, err = s.claim(ctx, o, st, adopted) })
		if err != nil {
			return time.Now(), st, true
		}
	}
	select {
	case <-ctx.Done():
		return time.Time{}, nil, false
	case <-o.poke:
		return time.Time{}, nil, true // read the state file again
	case <-h.Done():
	}
	died := time.Now()
	var dead *pkgsvc.State
	s.step(func() { dead = s.ended(o, st, h, died) })
	return died, dead, true
}

// ended decides what the end of the watched process was: a stop asked
// for (nil), a restart by someone else (nil: the owner reads the new
// pid), or a crash (the state it died in).
func (s *Supervisor) ended(o *owner, st *pkgsvc.State, h *proc.Handle, died time.Time) *pkgsvc.State {
	now, _ := s.p.ServiceState(o.name)
	if st.Want == pkgsvc.WantDown && (now == nil || now.Pid == h.Pid) {
		now = nil // the stop it was asked for
	}
	exit := exitOf(h.Pid, died)
	switch {
	case now == nil || now.Want == pkgsvc.WantDown:
		exit.Asked = true
		s.setExit(o, exit)
		s.log.Info("stopped as asked", "service", o.name, "pid", h.Pid)
		s.release(o, Stopping)
		return nil
	case now.Pid != h.Pid:
		exit.Asked = true
		s.setExit(o, exit)
		return nil // restarted by someone else: the loop reads the new pid
	}
	s.setExit(o, exit)
	s.log.Warn("died without a stop being asked", "service", o.name, "pid", h.Pid, "ran", died.Sub(st.StartedAt).Round(time.Millisecond), "exit", exit.String())
	return now
}

// exitOf is how pid ended: its wait status when the daemon is its
// parent (a revival), else only when.
func exitOf(pid int, at time.Time) *pkgsvc.Exit {
	e := &pkgsvc.Exit{At: at}
	ws, ok := proc.ChildExit(pid, 100*time.Millisecond)
	switch {
	case ok && ws.Signaled():
		e.Signal = strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
	case ok:
		c := ws.ExitStatus()
		e.Code = &c
	default:
		e.Why = "started by a command, not by the daemon: only a process's parent learns its exit status"
	}
	return e
}

func (s *Supervisor) setExit(o *owner, e *pkgsvc.Exit) {
	s.mu.Lock()
	o.lastExit = e
	s.mu.Unlock()
}

// crashLoop applies §9.2 to a service whose process died unasked:
// revive it, after a backoff when it ran less than a second, or give up
// with `failed`. A start that fails at once counts as the next crash.
// leftDead says the service's policy is not to restart it: its record
// stays as it is, dead, until a command changes it.
func (s *Supervisor) crashLoop(ctx context.Context, o *owner, st *pkgsvc.State, died time.Time) (leftDead bool) {
	for st != nil && ctx.Err() == nil {
		s.release(o, Backoff)
		v := o.tracker.Crash(st.StartedAt, died)
		if def, err := s.resolve(ctx, o.name); err == nil && !def.Policies.RestartOnCrash {
			s.log.Info("not restarting: service_restart_on_crash=0", "service", o.name)
			s.release(o, Stopped)
			return true
		}
		if v.Failed {
			if err := s.p.MarkFailed(ctx, o.name, st.Pid, v.Crashes); err != nil && !errors.Is(err, lifecycle.ErrNotWanted) {
				s.log.Error("cannot record the failed verdict", "service", o.name, "err", err)
			}
			s.log.Error("failed: crashed too often; left alone until `servicectl start`", "service", o.name, "crashes", v.Crashes, "within", crashWindow)
			s.release(o, Failed)
			return false
		}
		if v.Delay > 0 {
			s.log.Info("restarting after a backoff", "service", o.name, "in", v.Delay)
			if !s.backoff(ctx, o, st, v.Delay) {
				return false // stopped or started meanwhile: the owner's loop reads it
			}
		}
		st, died = s.revive(ctx, o, st)
	}
	return false
}

// backoff waits d before a revival; it reports false when the state file
// changed meanwhile to something else than this crash (a stop, a start).
func (s *Supervisor) backoff(ctx context.Context, o *owner, st *pkgsvc.State, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-o.poke:
			now, _ := s.p.ServiceState(o.name)
			if now == nil || now.Pid != st.Pid || now.Want == pkgsvc.WantDown || now.Failed {
				s.poke(o.name, false) // let the loop read it
				return false
			}
		}
	}
}

// revive starts a crashed service again, unless it was stopped or
// started again meanwhile. It returns the state of a start that died at
// once (another crash), or nil.
func (s *Supervisor) revive(ctx context.Context, o *owner, st *pkgsvc.State) (*pkgsvc.State, time.Time) {
	def, err := s.resolve(ctx, o.name)
	if err != nil {
		s.log.Error("cannot restart: its definition does not resolve", "service", o.name, "err", err)
		s.release(o, Stopped)
		return nil, time.Time{}
	}
	r, err := s.p.StartService(ctx, def, lifecycle.StartOptions{Revive: st.Pid, Restarts: st.Restarts + 1})
	switch {
	case errors.Is(err, lifecycle.ErrNotWanted):
		s.log.Info("not restarted: stopped or started meanwhile", "service", o.name)
		return nil, time.Time{}
	case err != nil:
		// A start that fails (exits within service_start_secs) is
		// another crash: the revival kept its record, so it counts as
		// one and a service that cannot start ends failed, not looping.
		s.log.Warn("restart failed", "service", o.name, "err", err)
		if again, _ := s.p.ServiceState(o.name); again != nil && again.Pid != st.Pid && again.Want != pkgsvc.WantDown {
			return again, time.Now()
		}
		return nil, time.Time{}
	}
	if r.Proc == nil { // started, and gone before it could be claimed: the loop reads its record
		s.log.Info("restarted", "service", o.name, "restarts", st.Restarts+1)
		return nil, time.Time{}
	}
	s.log.Info("restarted", "service", o.name, "pid", r.Proc.Pid, "restarts", st.Restarts+1)
	r.Proc.Close()
	return nil, time.Time{}
}

// release stops watching a service's process and sets its state; it
// reports whether a process was being watched.
func (s *Supervisor) release(o *owner, st State) bool {
	s.mu.Lock()
	had := o.h != nil
	s.mu.Unlock()
	s.stopPinger(o)
	s.setState(o, st, nil)
	return had
}

// setStateKeep changes the state and keeps the watched process.
func (s *Supervisor) setStateKeep(o *owner, st State) {
	s.mu.Lock()
	h := o.h
	s.mu.Unlock()
	s.setState(o, st, h)
}

// await waits for a poke; false when the supervisor stops.
func (s *Supervisor) await(ctx context.Context, poke <-chan struct{}) bool {
	select {
	case <-poke:
		return true
	case <-ctx.Done():
		return false
	}
}

// startPinger runs service_ping every service_ping_interval while the
// process is watched; 3 failures in a row restart it (§9.2).
func (s *Supervisor) startPinger(ctx context.Context, o *owner) {
	s.stopPinger(o)
	def, err := s.resolve(ctx, o.name)
	if err != nil || def.PingInterval <= 0 {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	o.stopPing = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go s.pinger(pctx, o.name, time.Duration(def.PingInterval*float64(time.Second)))
}

func (s *Supervisor) stopPinger(o *owner) {
	s.mu.Lock()
	stop := o.stopPing
	o.stopPing = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (s *Supervisor) pinger(ctx context.Context, name string, every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.p.Ping(ctx, name)
		if ctx.Err() != nil {
			return
		}
		s.setHealth(name, err)
		if err == nil {
			fails = 0
			continue
		}
		fails++
		s.log.Warn("ping failed", "service", name, "in_a_row", fails, "err", err)
		if fails < 3 {
			continue
		}
		s.log.Warn("restarting after 3 failed pings", "service", name)
		if err := s.p.Restart(ctx, name, lifecycle.RestartOptions{NoHUP: true}); err != nil {
			s.log.Error("restart after failed pings", "service", name, "err", err)
		}
		fails = 0
	}
}

// setHealth records a ping's result for the dashboard.
func (s *Supervisor) setHealth(name string, err error) {
	h := &pkgsvc.Health{OK: err == nil, At: time.Now(), Detail: "service_ping passed"}
	if err != nil {
		h.Detail = "service_ping failed: " + err.Error()
	}
	s.mu.Lock()
	if o := s.owners[name]; o != nil {
		o.health = h
	}
	s.mu.Unlock()
}

// claim takes the process st names and starts watching it; an error says
// it is dead (died while no supervisor ran, or before this one could
// watch it: the caller brings it back, §9.1).
func (s *Supervisor) claim(ctx context.Context, o *owner, st *pkgsvc.State, adopted bool) (*proc.Handle, error) {
	h, err := proc.Claim(st.Pid, lifecycle.Identity(st))
	if err != nil {
		if adopted {
			s.log.Info("found dead at start", "service", o.name, "pid", st.Pid, "why", err)
		}
		return nil, err
	}
	state := Running
	switch {
	case st.Want == pkgsvc.WantDown:
		state = Stopping
	case adopted:
		state = Adopted
	}
	if len(st.Sockets) > 0 && !s.holder.Holds(o.name) {
		// Started while no daemon ran (or by a command that could not
		// hand them over): take its sockets from the process, before the
		// owner shows the process as watched (Holder.settle waits for that).
		if err := s.holder.TakeFrom(o.name, h, st.Sockets); err != nil {
			s.log.Warn("cannot hold its sockets: a restart will close them", "service", o.name, "err", err)
		} else {
			s.log.Info("holding its sockets", "service", o.name, "sockets", len(st.Sockets))
		}
	}
	s.setState(o, state, h)
	s.log.Info("watching", "service", o.name, "pid", st.Pid)
	s.startPinger(ctx, o)
	return h, nil
}

// aside runs fn on a goroutine of its own and waits for it. An owner
// parks for the whole life of its service; what it reads and logs runs
// deep (JSON, /proc, slog), and a goroutine keeps the stack it grew to
// while it waits: 200 owners parked on grown stacks cost megabytes of
// the daemon's memory. On a short-lived goroutine the owner's own stack
// stays small.
func aside(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// step is aside for an owner's short steps (reading its state file,
// claiming, deciding what an end was), two at a time across owners: the
// adoption of hundreds of services at once would otherwise block as many
// threads in file reads, and the runtime keeps the threads it made.
func (s *Supervisor) step(fn func()) {
	s.steps <- struct{}{}
	defer func() { <-s.steps }()
	aside(fn)
}
