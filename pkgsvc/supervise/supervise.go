// Package supervise is servicectl's resident supervisor (SPEC §9.1,
// §9.2). Each service it watches has one owner goroutine that waits on
// the service's process handle (a pidfd: a death is known at once),
// tells a crash from a stop by the state file's intent, and applies the
// restart policy (Tracker, a pure table of §9.2). An owner is always in
// one of a few explicit states — adopted, running, backoff, failed,
// stopping, stopped — which WaitFor lets a caller (the tests) wait on.
// It never owns the services: they run in sessions of their own, so
// killing the supervisor (even with SIGKILL) leaves them running, and
// the next one adopts them from their state files. Services started,
// restarted or stopped by the command line are picked up from the run
// directory's changes, seen through pkgsvc/watch; output files are
// rotated from the same changes.
//
// It does supervision only, as s6-supervise does; the HTTP side is
// pkgsvc/dashboard, the reactions to changed packages and configs are
// the upgrade engine's (upgrade.Reactor).
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/proc"
	"servicectl/pkgsvc/watch"
)

// State is what the supervisor is doing about one service.
type State string

// The states of an owner.
const (
	Adopted      State = "adopted"  // found running when the supervisor started, watched
	Running      State = "running"  // watched: started, restarted or revived while supervised
	Backoff      State = "backoff"  // crashed after a short run: waiting to start it again
	Failed       State = "failed"   // crashed too often (§9.2): left alone until a start
	Stopping     State = "stopping" // a stop was asked (want: down): its end is no crash
	Stopped      State = "stopped"  // no state file: not started, or stopped
	Unsupervised State = "unsupervised"
)

// ErrRunning says another supervisor already watches the playpen.
var ErrRunning = errors.New("a supervisor already runs for this playpen")

// Supervisor watches one playpen's services.
type Supervisor struct {
	p   *lifecycle.Manager
	log *slog.Logger

	mu        sync.Mutex
	owners    map[string]*owner
	changed   chan struct{} // closed and replaced at every state change (WaitFor)
	outputs   map[string]*outputCheck
	rotations map[string]int
	ctx       context.Context
	wg        sync.WaitGroup
	unlock    func()
	resolveC  chan resolveReq // to the one resolver goroutine (resolve)
	steps     chan struct{}   // owners' short steps at a time (step)
	holder    *Holder         // the services' bound sockets (§4.11)
}

// owner is the goroutine that supervises one service, and what it knows.
type owner struct {
	name string
	poke chan struct{} // the state file changed (buffered, 1)

	// guarded by Supervisor.mu: read by Alive, State and WaitFor
	state State
	pid   int
	h     *proc.Handle
	done  <-chan struct{}

	tracker  Tracker // the owner goroutine's alone
	stopPing context.CancelFunc
	// leftDead is the process (pid, start time) of a crash left dead by
	// its policy: while the state file names it, there is nothing to do.
	leftDead [2]uint64

	// guarded by Supervisor.mu: what the dashboard shows (§9.4)
	lastExit *pkgsvc.Exit
	health   *pkgsvc.Health // the last service_ping, when pinged
}

// outputCheck rate-limits rotation checks of one output file.
type outputCheck struct {
	last    time.Time
	pending bool
}

// New makes a supervisor for p, logging to log. Its revivals take their
// sockets from its Holder, which becomes p's socket source.
func New(p *lifecycle.Manager, log *slog.Logger) *Supervisor {
	h := NewHolder()
	p.Sockets = h
	return &Supervisor{p: p, log: log, owners: map[string]*owner{}, changed: make(chan struct{}),
		outputs: map[string]*outputCheck{}, rotations: map[string]int{}, resolveC: make(chan resolveReq), steps: make(chan struct{}, 2),
		holder: h}
}

// Observed is what the supervisor saw of a service (SPEC §9.4): how its
// last process ended (nil before any end it saw), and its health: the
// last service_ping when it pings it, else the pidfd check now (nil when
// it watches no process of it).
func (s *Supervisor) Observed(name string) (*pkgsvc.Exit, *pkgsvc.Health) {
	s.mu.Lock()
	o := s.owners[name]
	if o == nil {
		s.mu.Unlock()
		return nil, nil
	}
	var exit *pkgsvc.Exit
	if o.lastExit != nil {
		e := *o.lastExit
		exit = &e
	}
	health, h, pid := o.health, o.h, o.pid
	s.mu.Unlock()
	if health != nil {
		c := *health
		return exit, &c
	}
	if h == nil {
		return exit, nil
	}
	alive := h.Alive()
	detail := fmt.Sprintf("pid %d runs (pidfd)", pid)
	if !alive {
		detail = fmt.Sprintf("pid %d is gone", pid)
	}
	return exit, &pkgsvc.Health{OK: alive, At: time.Now(), Detail: detail}
}

// Known is every service the supervisor has owned since it started,
// stopped ones included: the dashboard keeps a row for a stopped
// instance of a template so that it can be started again.
func (s *Supervisor) Known() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.owners))
	for n := range s.owners {
		out = append(out, n)
	}
	return out
}

// Holder is where the supervisor keeps the services' sockets.
// Keeper is the holder as commands reach it through daemon.sock: a take
// for a service the holder has nothing of first waits, briefly, until
// the daemon has looked at the service's running process (and taken its
// sockets from it): a restart asked for right after the daemon started
// must not find the holder empty and close them. The supervisor's own
// revivals use the Holder directly and never wait.
func (s *Supervisor) Keeper() *Keeper { return &Keeper{Holder: s.holder, sup: s} }

// Keeper: see Supervisor.Keeper.
type Keeper struct {
	*Holder
	sup *Supervisor
}

// Take is Holder.Take after the wait described at Supervisor.Keeper.
func (k *Keeper) Take(sv *pkgsvc.Service) []*os.File {
	if !k.Holds(sv.Name) {
		// Only a process that runs with sockets can be waited for: a
		// stopped service's start does not wait.
		if st, err := k.sup.p.ServiceState(sv.Name); err == nil && st != nil && st.Pid > 0 && len(st.Sockets) > 0 && st.Want != pkgsvc.WantDown {
			k.sup.watched(sv.Name)
		}
	}
	return k.Holder.Take(sv)
}

// watched waits, at most settleFor, until name's owner watches a process
// (o.h set). A name with no running process returns at the bound.
func (s *Supervisor) watched(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), settleFor)
	defer cancel()
	for {
		s.mu.Lock()
		o, ch := s.owners[name], s.changed
		ok := o != nil && o.h != nil
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// settleFor bounds Keeper's wait: a daemon adopts its running services
// within milliseconds of starting.
const settleFor = 300 * time.Millisecond

// Holder is the supervisor's socket holder, which daemon.sock serves to
// commands so that a restart hands the same sockets on (§4.11).
func (s *Supervisor) Holder() *Holder { return s.holder }

// resolve reads a service's definition on the supervisor's one resolver
// goroutine, one at a time: evaluating a config runs the interpreter
// deep, and on the owners' own stacks that would leave hundreds of grown
// goroutine stacks behind, and at start hundreds of evaluations at once
// (the daemon's resident memory is a figure users compare). A definition
// read once is cached by the playpen, so the queue is short after that.
func (s *Supervisor) resolve(ctx context.Context, name string) (*pkgsvc.Service, error) {
	req := resolveReq{ctx: ctx, name: name, reply: make(chan resolveRes, 1)}
	select {
	case s.resolveC <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.def, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type resolveReq struct {
	ctx   context.Context
	name  string
	reply chan resolveRes
}

type resolveRes struct {
	def *pkgsvc.Service
	err error
}

// resolver serves resolve until ctx ends.
func (s *Supervisor) resolver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-s.resolveC:
			def, err := s.p.ResolveContext(req.ctx, req.name)
			req.reply <- resolveRes{def, err}
		}
	}
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
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	go s.resolver(ctx)
	w, err := watch.New(0)
	var batches <-chan watch.Batch
	if err != nil {
		s.log.Warn("cannot watch the run directory; services started by the command line are picked up at the next death or restart", "err", err)
	} else {
		w.Watch(s.p.RunVar)
		go w.Run(ctx)
		batches = w.C()
	}
	names, err := s.p.StateNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		s.poke(n, true)
	}
	s.log.Info("supervising", "playpen", s.p.Root, "services", len(names))
	// Adopting or picking up hundreds of services allocates once (state
	// files, claims, definitions) and faults in code never run again;
	// trim hands that back a second after the run directory goes quiet:
	// the daemon's resident memory is a figure users compare.
	quiet := time.NewTimer(quietAfter)
	defer quiet.Stop()
	for {
		select {
		case <-quiet.C:
			s.log.Debug("quiet: returned freed memory and start-up pages", "mappings", trim())
		case <-ctx.Done():
			s.wg.Wait()
			s.log.Info("stopped supervising; the services keep running")
			return nil
		case b, ok := <-batches:
			if !ok {
				batches = nil
				continue
			}
			if s.changes(b) {
				quiet.Reset(quietAfter)
			}
		}
	}
}

// changes dispatches a batch of the run directory's changes: a state
// file to its owner, an output file to the rotation check. After lost
// events every state file is read again. It reports whether any state
// changed (output alone is not work worth trimming after).
func (s *Supervisor) changes(b watch.Batch) (work bool) {
	for _, path := range b.Paths {
		base := filepath.Base(path)
		if strings.HasPrefix(base, ".") {
			continue
		}
		if n, ok := strings.CutSuffix(base, ".state"); ok {
			s.poke(n, false)
			work = true
		} else if n, ok := strings.CutSuffix(base, ".output"); ok {
			s.outputGrew(n)
		}
	}
	if b.Rescan {
		s.log.Warn("run directory events were lost (queue overflow): reading every state file again")
		names, _ := s.p.StateNames()
		s.mu.Lock()
		for n := range s.owners {
			names = append(names, n)
		}
		s.mu.Unlock()
		for _, n := range names {
			s.poke(n, false)
		}
		work = true
	}
	return work
}

// quietAfter is how long the run directory stays still before the
// daemon trims its memory.
const quietAfter = time.Second

// poke tells name's owner that its state file changed, starting the
// owner if there is none yet.
func (s *Supervisor) poke(name string, atStart bool) {
	s.mu.Lock()
	o := s.owners[name]
	if o == nil {
		o = &owner{name: name, poke: make(chan struct{}, 1), state: Stopped}
		s.owners[name] = o
		s.wg.Add(1)
		go s.own(o, atStart)
	}
	s.mu.Unlock()
	select {
	case o.poke <- struct{}{}:
	default: // one pending poke is enough: the owner reads the file anew
	}
}

// Lock makes this the playpen's one supervisor (ErrRunning when another
// is), before Run: a caller that serves more (the dashboard) takes it
// first so that a second daemon touches nothing.
func (s *Supervisor) Lock() error {
	if err := s.p.EnsureDirs(); err != nil {
		return err
	}
	path := filepath.Join(s.p.RunVar, "daemon.lock")
	f, ok, err := fsio.TryLock(path)
	if err != nil {
		return fmt.Errorf("daemon lock: %w", err)
	}
	if !ok {
		pid, _ := fsio.ReadSnapshot(filepath.Join(s.p.RunVar, "daemon.pid"))
		return fmt.Errorf("%w (pid %s; %s is locked)", ErrRunning, strings.TrimSpace(string(pid)), path)
	}
	pidFile := filepath.Join(s.p.RunVar, "daemon.pid")
	fsio.WriteAtomic(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644, false)
	s.unlock = func() {
		os.Remove(pidFile)
		f.Close()
	}
	return nil
}

// Unlock lets another supervisor take the playpen.
func (s *Supervisor) Unlock() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// setState records an owner's state (and its watched process) and wakes
// whoever waits on a change.
func (s *Supervisor) setState(o *owner, st State, h *proc.Handle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.h != nil && o.h != h {
		o.h.Close()
	}
	o.state, o.h, o.pid, o.done = st, h, 0, nil
	if h != nil {
		o.pid, o.done = h.Pid, h.Done()
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// StateOf is what the supervisor is doing about name: Stopped when it
// does not know it.
func (s *Supervisor) StateOf(name string) State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.owners[name]; o != nil {
		return o.state
	}
	return Stopped
}

// WaitFor waits until name's owner is in state st, or ctx ends. What the
// tests wait on instead of counting log lines (gokrazy's supervisor has
// WaitTill for the same reason).
func (s *Supervisor) WaitFor(ctx context.Context, name string, st State) error {
	for {
		s.mu.Lock()
		o, ch := s.owners[name], s.changed
		cur := Stopped
		if o != nil {
			cur = o.state
		}
		s.mu.Unlock()
		if cur == st {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s is %s, not %s: %w", name, cur, st, ctx.Err())
		}
	}
}

// Alive says whether the supervisor watches pid as service name's running
// process (claimed with that start time): the pidfd's Done tells it
// without a system call. It is Playpen.Liveness for the dashboard.
func (s *Supervisor) Alive(name string, pid int, start uint64) (alive, known bool) {
	s.mu.Lock()
	o := s.owners[name]
	if o == nil || o.h == nil || o.pid != pid || o.h.Info.StartTime != start || o.done == nil {
		s.mu.Unlock()
		return false, false
	}
	done := o.done
	s.mu.Unlock()
	select {
	case <-done:
		return false, true
	default:
		return true, true
	}
}

// Rotations counts the output rotations of each service since the
// supervisor started (/metrics; a rotation is no event of the list).
func (s *Supervisor) Rotations() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.rotations))
	for k, v := range s.rotations {
		out[k] = v
	}
	return out
}

// outputGrew rotates a service's output file when it reached
// service_log_max_bytes, looking at most once a second per service
// however chatty it is.
func (s *Supervisor) outputGrew(name string) {
	s.mu.Lock()
	c := s.outputs[name]
	if c == nil {
		c = &outputCheck{}
		s.outputs[name] = c
	}
	if time.Since(c.last) < time.Second {
		if !c.pending {
			c.pending = true
			time.AfterFunc(time.Second, func() {
				s.mu.Lock()
				c.pending = false
				s.mu.Unlock()
				s.outputGrew(name)
			})
		}
		s.mu.Unlock()
		return
	}
	c.last = time.Now()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	def, err := s.resolve(ctx, name)
	if err != nil {
		return
	}
	rotated, err := s.p.RotateOutput(name, def.LogMaxBytes, def.LogKeep)
	if err != nil {
		s.log.Warn("cannot rotate the output file", "service", name, "err", err)
	} else if rotated {
		s.mu.Lock()
		s.rotations[name]++
		s.mu.Unlock()
		s.log.Debug("rotated the output file", "service", name, "max_bytes", def.LogMaxBytes, "keep", def.LogKeep)
	}
}
