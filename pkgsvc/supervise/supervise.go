// Package supervise is servicectl's resident supervisor (SPEC §9.1,
// §9.2): it watches every service that was started, learns of a death at
// once through the process's pidfd, tells a crash from a stop by the
// state file's intent, and restarts crashed services with runit's rule
// (at once after a run of 1 s or more) and a doubling backoff otherwise,
// marking a crash loop `failed`. It never owns the services: they run in
// sessions of their own, so killing the supervisor (even with SIGKILL)
// leaves them running, and the next one adopts them from their state
// files. Services started, restarted or stopped by the command line are
// picked up (or released) from the run directory's changes (inotify).
//
// It does supervision only, as s6-supervise does; the HTTP side and the
// file watcher of §9.3–§9.4 are to live in packages of their own.
package supervise

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
)

// The timings of SPEC §9.2 and §12.
const (
	steadyRun    = time.Second // a run this long resets the backoff: restart at once
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
	crashWindow  = 60 * time.Second // more than maxCrashes crashes in it: failed
	maxCrashes   = 5
)

// ErrRunning says another supervisor already watches the playpen.
var ErrRunning = errors.New("a supervisor already runs for this playpen")

// Supervisor watches one playpen's services.
type Supervisor struct {
	p   *pkgsvc.Playpen
	log *slog.Logger

	mu      sync.Mutex
	watched map[string]*entry
	ctx     context.Context
	wg      sync.WaitGroup
	unlock  func()
}

// entry is what the supervisor knows of one service.
type entry struct {
	pid     int
	h       *proc.Handle
	crashes []time.Time // within crashWindow
	backoff time.Duration
	revival *time.Timer
	dead    int // the last pid whose death was handled (one crash, one revival)

	done         <-chan struct{} // closed when h's process exits
	sizeCheck    time.Time       // last look at the output file's size
	checkPending bool
	stopPing     context.CancelFunc
}

// New makes a supervisor for p, logging to log.
func New(p *pkgsvc.Playpen, log *slog.Logger) *Supervisor {
	return &Supervisor{p: p, log: log, watched: map[string]*entry{}}
}

// Run supervises until ctx ends; the services keep running after it. It
// fails at once with ErrRunning when another supervisor holds the
// playpen.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.unlock == nil {
		if err := s.Lock(); err != nil {
			return err
		}
	}
	defer s.Unlock()
	s.ctx = ctx
	events, err := s.watchRunDir(ctx)
	if err != nil {
		s.log.Warn("cannot watch the run directory; services started by the command line are picked up at the next death or restart", "err", err)
	}
	names, err := s.p.StateNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		s.consider(n, true)
	}
	s.log.Info("supervising", "playpen", s.p.Root, "services", len(names))
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.output {
				s.outputGrew(ev.name)
			} else {
				s.consider(ev.name, false)
			}
		}
	}
}

// Lock makes this the playpen's one supervisor (ErrRunning when another
// is), before Run: a caller that serves more (the dashboard) takes it
// first so that a second daemon touches nothing.
func (s *Supervisor) Lock() error {
	if err := s.p.EnsureDirs(); err != nil {
		return err
	}
	unlock, err := s.lockPlaypen()
	if err != nil {
		return err
	}
	s.unlock = unlock
	return nil
}

// Unlock lets another supervisor take the playpen.
func (s *Supervisor) Unlock() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// lockPlaypen takes $LOCAL_RUNVAR/daemon.lock for the life of the
// supervisor (the kernel drops it if the process dies) and writes its
// pid beside it.
func (s *Supervisor) lockPlaypen() (func(), error) {
	path := filepath.Join(s.p.RunVar, "daemon.lock")
	f, ok, err := fsio.TryLock(path)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	if !ok {
		pid, _ := fsio.ReadSnapshot(filepath.Join(s.p.RunVar, "daemon.pid"))
		return nil, fmt.Errorf("%w (pid %s; %s is locked)", ErrRunning, strings.TrimSpace(string(pid)), path)
	}
	pidFile := filepath.Join(s.p.RunVar, "daemon.pid")
	fsio.WriteAtomic(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644, false)
	return func() {
		os.Remove(pidFile)
		f.Close()
	}, nil
}

// consider reads a service's state file and acts: adopt a new pid,
// release a stopped service, revive one that died while nobody watched.
func (s *Supervisor) consider(name string, atStart bool) {
	st, err := s.p.ServiceState(name)
	s.mu.Lock()
	e := s.watched[name]
	if e == nil {
		e = &entry{}
		s.watched[name] = e
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		s.log.Warn("unreadable state file", "service", name, "err", err)
		return
	case st == nil:
		s.release(name, e, "stopped")
		return
	case st.NoPidfile:
		return // its aliveness is its service_ping: not supervised by pid
	case st.Failed:
		s.release(name, e, "failed")
		return
	}
	s.mu.Lock()
	same := e.pid == st.Pid && e.h != nil
	s.mu.Unlock()
	if same || st.Want == pkgsvc.WantDown {
		return
	}
	h, err := proc.Claim(st.Pid, st.Identity())
	if err != nil {
		// Wanted up and dead: it died while no supervisor ran (§9.1), or
		// before this one could watch it. Bring it back.
		if atStart {
			s.log.Info("found dead at start", "service", name, "pid", st.Pid, "why", err)
		}
		s.crashed(name, st, time.Now())
		return
	}
	s.mu.Lock()
	if e.h != nil {
		e.h.Close()
	}
	e.pid, e.h = st.Pid, h
	s.mu.Unlock()
	s.log.Info("watching", "service", name, "pid", st.Pid)
	done := h.Done() // before anyone may close h
	s.mu.Lock()
	e.done = done
	s.mu.Unlock()
	s.wg.Add(1)
	go s.await(name, h, done, st)
	if def, err := s.p.ResolveContext(s.ctx, name); err == nil && def.PingInterval > 0 {
		pctx, cancel := context.WithCancel(s.ctx)
		s.mu.Lock()
		if e.stopPing != nil {
			e.stopPing()
		}
		e.stopPing = cancel
		s.mu.Unlock()
		s.wg.Add(1)
		go s.pinger(pctx, name, time.Duration(def.PingInterval*float64(time.Second)))
	}
}

// Alive says whether the supervisor watches pid as service name's running
// process (claimed with that start time): the pidfd's Done tells it
// without a system call. It is Playpen.Liveness for the dashboard.
func (s *Supervisor) Alive(name string, pid int, start uint64) (alive, known bool) {
	s.mu.Lock()
	e := s.watched[name]
	if e == nil || e.h == nil || e.pid != pid || e.h.Info.StartTime != start || e.done == nil {
		s.mu.Unlock()
		return false, false
	}
	done := e.done
	s.mu.Unlock()
	select {
	case <-done:
		return false, true
	default:
		return true, true
	}
}

// release stops watching a service (stopped, failed, or gone).
func (s *Supervisor) release(name string, e *entry, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.stopPing != nil {
		e.stopPing()
		e.stopPing = nil
	}
	if e.h != nil {
		e.h.Close()
		e.h, e.pid = nil, 0
		s.log.Info("released", "service", name, "why", why)
	}
	if e.revival != nil {
		e.revival.Stop()
		e.revival = nil
	}
}

// await waits for the watched process to end and decides what its end
// was.
func (s *Supervisor) await(name string, h *proc.Handle, done <-chan struct{}, at *pkgsvc.State) {
	defer s.wg.Done()
	select {
	case <-done:
	case <-s.ctx.Done():
		return
	}
	died := time.Now()
	st, _ := s.p.ServiceState(name)
	switch {
	case st == nil || st.Want == pkgsvc.WantDown:
		s.log.Info("stopped as asked", "service", name, "pid", h.Pid)
		s.mu.Lock()
		if e := s.watched[name]; e != nil && e.pid == h.Pid {
			e.h.Close()
			e.h, e.pid = nil, 0
		}
		s.mu.Unlock()
	case st.Pid != h.Pid:
		// Restarted by someone else: the new pid arrives as an event.
	default:
		s.log.Warn("died without a stop being asked", "service", name, "pid", h.Pid, "ran", died.Sub(at.StartedAt).Round(time.Millisecond))
		s.crashed(name, st, died)
	}
}

// crashed applies §9.2 to a service whose process died unasked.
func (s *Supervisor) crashed(name string, st *pkgsvc.State, died time.Time) {
	s.mu.Lock()
	e := s.watched[name]
	if e.dead == st.Pid {
		s.mu.Unlock()
		return // this death is being handled already
	}
	e.dead = st.Pid
	if e.h != nil && e.pid == st.Pid {
		e.h.Close()
		e.h = nil
	}
	recent := e.crashes[:0]
	for _, t := range e.crashes {
		if died.Sub(t) < crashWindow {
			recent = append(recent, t)
		}
	}
	e.crashes = append(recent, died)
	n := len(e.crashes)
	ran := died.Sub(st.StartedAt)
	var delay time.Duration
	if ran < steadyRun {
		if e.backoff == 0 {
			e.backoff = firstBackoff
		} else {
			e.backoff = min(2*e.backoff, maxBackoff)
		}
		delay = e.backoff
	} else {
		e.backoff = 0
	}
	s.mu.Unlock()
	if def, err := s.p.ResolveContext(s.ctx, name); err == nil && !def.Policies.RestartOnCrash {
		s.log.Info("not restarting: service_restart_on_crash=0", "service", name)
		return
	}
	if n > maxCrashes {
		if err := s.p.MarkFailed(s.ctx, name, st.Pid, n); err != nil && !errors.Is(err, pkgsvc.ErrNotWanted) {
			s.log.Error("cannot record the failed verdict", "service", name, "err", err)
		}
		s.log.Error("failed: crashed too often; left alone until `servicectl start`", "service", name, "crashes", n, "within", crashWindow)
		return
	}
	revive := func() { s.revive(name, st) }
	if delay == 0 {
		go revive()
		return
	}
	s.log.Info("restarting after a backoff", "service", name, "in", delay)
	s.mu.Lock()
	e.revival = time.AfterFunc(delay, revive)
	s.mu.Unlock()
}

// revive starts a crashed service again, unless it was stopped or
// started again meanwhile.
func (s *Supervisor) revive(name string, st *pkgsvc.State) {
	if s.ctx.Err() != nil {
		return
	}
	def, err := s.p.ResolveContext(s.ctx, name)
	if err != nil {
		s.log.Error("cannot restart: its definition does not resolve", "service", name, "err", err)
		return
	}
	r, err := s.p.StartService(s.ctx, def, pkgsvc.StartOptions{Revive: st.Pid, Restarts: st.Restarts + 1})
	switch {
	case errors.Is(err, pkgsvc.ErrNotWanted):
		s.log.Info("not restarted: stopped or started meanwhile", "service", name)
		return
	case err != nil:
		// A start that fails (exits within service_start_secs) is
		// another crash: the revival kept its record, so it counts as
		// one and a service that cannot start ends failed, not looping.
		s.log.Warn("restart failed", "service", name, "err", err)
		if again, _ := s.p.ServiceState(name); again != nil && again.Pid != st.Pid {
			s.crashed(name, again, time.Now())
		}
		return
	}
	s.log.Info("restarted", "service", name, "pid", r.Proc.Pid, "restarts", st.Restarts+1)
	r.Proc.Close()
	s.consider(name, false)
}

// shutdown stops watching; the services keep running.
func (s *Supervisor) shutdown() {
	s.mu.Lock()
	for _, e := range s.watched {
		if e.revival != nil {
			e.revival.Stop()
		}
		if e.h != nil {
			e.h.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.log.Info("stopped supervising; the services keep running")
}

// runDirEvent is a change in the run directory: a service's state file
// (appeared, replaced, removed) or its output file (written to).
type runDirEvent struct {
	name   string
	output bool
}

// watchRunDir reports changes of state files (every state file is
// renamed into place) and writes to output files, through inotify: the
// supervisor wakes for what happens, never on a timer.
func (s *Supervisor) watchRunDir(ctx context.Context) (<-chan runDirEvent, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, s.p.RunVar, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "inotify")
	out := make(chan runDirEvent, 256)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		defer close(out)
		buf := make([]byte, 64*1024)
		for {
			n, err := f.Read(buf) // parks in the runtime poller
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				// struct inotify_event: wd, mask, cookie, len, then name.
				mask := binary.NativeEndian.Uint32(buf[off+4:])
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
				raw := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
				off += unix.SizeofInotifyEvent + nameLen
				name := strings.TrimRight(string(raw), "\x00")
				if strings.HasPrefix(name, ".") {
					continue
				}
				var ev runDirEvent
				if svc, ok := strings.CutSuffix(name, ".state"); ok && mask&unix.IN_MODIFY == 0 {
					ev = runDirEvent{name: svc}
				} else if svc, ok := strings.CutSuffix(name, ".output"); ok && mask&unix.IN_MODIFY != 0 {
					ev = runDirEvent{name: svc, output: true}
				} else {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// outputGrew rotates a service's output file when it reached
// service_log_max_bytes, looking at most once a second per service
// however chatty it is.
func (s *Supervisor) outputGrew(name string) {
	s.mu.Lock()
	e := s.watched[name]
	if e == nil {
		e = &entry{}
		s.watched[name] = e
	}
	if time.Since(e.sizeCheck) < time.Second {
		if !e.checkPending {
			e.checkPending = true
			time.AfterFunc(time.Second, func() {
				s.mu.Lock()
				e.checkPending = false
				s.mu.Unlock()
				s.outputGrew(name)
			})
		}
		s.mu.Unlock()
		return
	}
	e.sizeCheck = time.Now()
	s.mu.Unlock()
	def, err := s.p.ResolveContext(s.ctx, name)
	if err != nil {
		return
	}
	rotated, err := s.p.RotateOutput(name, def.LogMaxBytes, def.LogKeep)
	if err != nil {
		s.log.Warn("cannot rotate the output file", "service", name, "err", err)
	} else if rotated {
		s.log.Info("rotated the output file", "service", name, "max_bytes", def.LogMaxBytes, "keep", def.LogKeep)
	}
}

// pinger runs service_ping every interval while the service is watched;
// 3 failures in a row restart it (§9.2).
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
		if err := s.p.Ping(ctx, name); err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			s.log.Warn("ping failed", "service", name, "in_a_row", fails, "err", err)
			if fails < 3 {
				continue
			}
			s.log.Warn("restarting after 3 failed pings", "service", name)
			if err := s.p.Restart(ctx, name, pkgsvc.RestartOptions{NoHUP: true}); err != nil {
				s.log.Error("restart after failed pings", "service", name, "err", err)
			}
			fails = 0
			continue
		}
		fails = 0
	}
}
