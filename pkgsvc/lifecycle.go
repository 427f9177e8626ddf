package pkgsvc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"servicectl/envtypes"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc/internal/fault"
	"servicectl/pkgsvc/proc"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"servicectl/hooks"
	"servicectl/linkfarm"
)

// Service states of SPEC §4.8.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	StateDead    = "dead"
	StateFailed  = "failed"
)

// Status is one service's observed state, the value behind `status`,
// `status --json` and the dashboard.
type Status struct {
	Service   string     `json:"service"`
	Package   string     `json:"package"`
	Version   string     `json:"version"`
	State     string     `json:"state"`
	Pid       int        `json:"pid"`
	StartedAt *time.Time `json:"started_at"`
	RunName   string     `json:"run_name"`
	Restarts  int        `json:"restarts"`
	Stale     bool       `json:"stale"`
	Upgraded  bool       `json:"upgraded"`
	// ConfigError is set when the service's config does not evaluate:
	// the state then comes from its recorded state (§4.4).
	ConfigError string `json:"config_error,omitempty"`
	Detail      string `json:"detail,omitempty"`
	// Sockets are the sockets the running process was handed (§4.11),
	// as NETWORK:ADDRESS.
	Sockets []string `json:"sockets,omitempty"`
}

// lockCtx is lock that gives up when ctx ends: a supervisor must not
// hang on a service another command holds. It tries without blocking and
// then waits on the lock in a goroutine that lets go of it if nobody
// wants it any more.
func (p *Playpen) lockCtx(ctx context.Context, s *Service) (func(), error) {
	if ctx.Done() == nil {
		return p.lock(s)
	}
	type result struct {
		unlock func()
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		u, err := p.lock(s)
		ch <- result{u, err}
	}()
	select {
	case r := <-ch:
		return r.unlock, r.err
	case <-ctx.Done():
		go func() { // release it if it comes
			if r := <-ch; r.err == nil {
				r.unlock()
			}
		}()
		return nil, fmt.Errorf("waiting for the lock of %s: %w", s.Name, ctx.Err())
	}
}

// lock takes the service's flock (SPEC §4.10); the returned func releases
// it. The kernel drops it if servicectl dies, so no lock outlives us.
func (p *Playpen) lock(s *Service) (func(), error) {
	f, err := fsio.Lock(s.LockFile(p))
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// argv0s are the argv[0] a process of s may show when no state file
// records it (§4.7).
func (s *Service) argv0s() []string {
	if s.LinkPath != "" {
		return []string{s.LinkPath}
	}
	return []string{s.Program}
}

// probe finds out whether s runs, verifying the pidfile's claim (§4.7).
// When running, the claimed process is returned open; the caller closes it.
func (p *Playpen) probe(ctx context.Context, s *Service) (st Status, o *proc.Handle) {
	return p.probeWith(ctx, s, true)
}

// probeState is probe without running user code: a service_no_pidfile
// service counts as running while its state file (written at start,
// removed by stop) says it was started. What plans use, so that planning
// only reads (issue 12).
func (p *Playpen) probeState(ctx context.Context, s *Service) (Status, *proc.Handle) {
	return p.probeWith(ctx, s, false)
}

func (p *Playpen) probeWith(ctx context.Context, s *Service, ping bool) (st Status, o *proc.Handle) {
	st = Status{Service: s.Name, Package: s.Package, Version: s.Version, State: StateStopped, RunName: s.RunName}
	state, serr := readState(s.StateFile(p))
	if state != nil {
		st.Restarts, st.Upgraded = state.Restarts, state.Upgraded
	}
	if s.NoPidfile {
		return p.probeNoPidfile(ctx, s, st, state, ping), nil
	}
	defer func() {
		// The supervisor gave up on it (§9.2): failed, until a start.
		if st.State != StateRunning && state != nil && state.Failed {
			st.State = StateFailed
		}
	}()
	pid, err := readPidfile(s.Pidfile(p))
	// The state file is servicectl's own record, with the start time: when
	// the pidfile was removed, garbled or changed behind its back, the
	// process the state names is still the service if it checks out, and
	// never the one a changed pidfile names (issue 15: nothing lost,
	// nothing foreign claimed).
	byState := func(why string) bool {
		if state == nil || state.Pid <= 1 || s.OwnPidfile || state.OwnPidfile {
			return false
		}
		h, cerr := proc.Claim(state.Pid, state.Identity())
		if cerr != nil {
			return false
		}
		o, pid, st.Detail = h, state.Pid, why+fmt.Sprintf("; the service is pid %d, as the state file says", state.Pid)
		return true
	}
	switch {
	case err != nil:
		if !byState("the pidfile is unreadable: " + err.Error()) {
			st.State, st.Detail = StateDead, err.Error()
			return st, nil
		}
		err = nil
	case pid == 0:
		if !byState("the pidfile was removed") {
			return st, nil
		}
	}
	switch {
	case o != nil:
		// found through the state file
	case state != nil && state.Pid == pid:
		o, err = proc.Claim(pid, state.Identity())
	case serr == nil && state != nil && !s.OwnPidfile && !state.OwnPidfile:
		// servicectl wrote this pidfile and recorded another pid: whoever
		// changed it, the process it names is not the one we started (a
		// process run through the same linkfarm path would pass argv[0]).
		why := fmt.Sprintf("the pidfile names pid %d, but servicectl started pid %d (state file): the pidfile was changed by someone else", pid, state.Pid)
		if byState(why) {
			err = nil
		} else {
			err = &proc.NotOurs{Why: why}
		}
	case serr == nil && state != nil:
		// service_own_pidfile: the program may have replaced itself; the
		// new pid is ours if it runs our program and started no earlier
		// than the one we started.
		o, err = proc.Claim(pid, proc.Want{Argv0s: append(s.argv0s(), state.Argv0)})
		if err == nil && o.Info.StartTime < state.StartTime {
			o.Close()
			o, err = nil, &proc.NotOurs{Why: fmt.Sprintf("pid %d started before the service did: it is not the service's", pid)}
		}
		state = nil
	default:
		// A pidfile with no state file (an older servicectl's, or the
		// state lost): ours only if the process leads its own session and
		// carries this service's launch environment (§4.7). A program run
		// by hand through the linkfarm path does neither.
		o, err = p.claimStateless(s, pid)
	}
	if err != nil && state != nil && state.Engine && state.Pid == pid {
		// Run by another engine through `servicectl run`: it stopped it
		// (or the program exited); restarting is that engine's call.
		st.Detail = "ended under the engine that ran `servicectl run` (systemd, supervisord, Nomad): it stopped it or the program exited; that engine restarts it if configured to"
		return st, nil
	}
	if err != nil {
		st.State, st.Detail = StateDead, err.Error()
		return st, nil
	}
	st.State, st.Pid = StateRunning, pid
	if state != nil {
		t := state.StartedAt
		st.StartedAt = &t
		st.Stale = p.stale(s, state)
		st.Sockets = socketNames(state.Sockets)
	}
	return st, o
}

// probeNoPidfile is the state of a service_no_pidfile service: its
// service_ping says (§4.8), or without running user code, its state file.
func (p *Playpen) probeNoPidfile(ctx context.Context, s *Service, st Status, state *State, ping bool) Status {
	up := state != nil && state.Want != WantDown
	if ping {
		up = p.runStep(ctx, s, "ping", s.Env) == nil
	}
	if up {
		st.State = StateRunning
		if state != nil {
			t := state.StartedAt
			st.StartedAt = &t
			st.Stale = p.stale(s, state)
		}
	}
	return st
}

// exitedAtOnce is a launch whose process was gone before it could be
// recorded. A revival keeps the record of the crash it answers, so that
// this start counts as the next crash and a service that cannot start
// ends failed (§9.2); a user's start leaves nothing behind.
func (p *Playpen) exitedAtOnce(s *Service, opts StartOptions) error {
	if opts.Revive != 0 {
		os.Remove(s.Pidfile(p))
		p.clearLaunch(s)
	} else {
		p.cleanStale(s)
	}
	return fmt.Errorf("exited at once%s", p.tail(s))
}

// cleanStale removes a pidfile and state file that name no live process
// of ours (§4.7); it never signals anything.
func (p *Playpen) cleanStale(s *Service) {
	os.Remove(s.Pidfile(p))
	os.Remove(s.StateFile(p))
	p.clearLaunch(s)
}

// Status reports one service's state without taking its lock. A service
// whose config does not evaluate is still reported from its recorded
// state, with the config's error both in ConfigError and returned.
func (p *Playpen) Status(ctx context.Context, name string) (Status, error) {
	if st, ok := p.quickStatus(name); ok {
		return st, nil
	}
	s, cerr, err := p.resolveOrRecorded(name)
	if err != nil {
		return Status{Service: name}, err
	}
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	if cerr != nil {
		st.ConfigError = cerr.Error()
	}
	return st, cerr
}

// StartOptions tune one start.
type StartOptions struct {
	Upgraded bool // SERVICE_UPGRADED=1 (§8.4)
	// Launched, when set, is called once the process runs and its pidfile
	// is written, before the service_start_secs watch: a parallel caller
	// frees its job slot there.
	Launched func()
	// Restarts is the count the new state file records (a restart's or
	// the supervisor's revival's).
	Restarts int
	// Revive, when set, is the pid of a process that died without a stop
	// being asked: the start happens only if, under the service's lock,
	// the state file still names that pid and wants the service up.
	// Otherwise (a stop or another start came first) it is
	// ErrNotWanted. What the supervisor restarts a crashed service with.
	Revive int
	// outcome, when set, receives what happened when it was not a start
	// ("already running"), so progress lines tell the truth.
	outcome *string
}

// Start starts one service (SPEC §4.3). Already running is success. It
// is StartService for a name, for the command line.
func (p *Playpen) Start(ctx context.Context, name string, opts StartOptions) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	r, err := p.StartService(ctx, s, opts)
	if r != nil && r.Proc != nil {
		r.Proc.Close()
	}
	return err
}

// Started is what a start gives a caller that watches the service (the
// supervisor): the process, claimed, whose Done fires when it exits —
// servicectl's child or a pid it found already running.
type Started struct {
	Proc           *proc.Handle // nil for a service_no_pidfile service
	AlreadyRunning bool
}

// StartService starts a resolved service under its lock (SPEC §4.3) and
// returns a handle on its process; the caller closes it.
func (p *Playpen) StartService(ctx context.Context, s *Service, opts StartOptions) (*Started, error) {
	name := s.Name
	if s.Template && s.Instance == "" {
		return nil, errf(KindUsage, name, "is a template: start instances of it, e.g. `servicectl start %s@NAME`", name)
	}
	if err := p.EnsureDirs(); err != nil {
		return nil, wrap(KindFailed, name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return nil, wrap(KindFailed, name, err)
	}
	defer unlock()
	outcome := ""
	if opts.outcome == nil {
		opts.outcome = &outcome
	}
	fault.Point("start.locked")
	if err := p.startLocked(ctx, s, opts); err != nil {
		return nil, wrap(KindFailed, name, err)
	}
	r := &Started{AlreadyRunning: *opts.outcome == "already running"}
	if !s.NoPidfile {
		if st, err := readState(s.StateFile(p)); err == nil && st.Pid > 0 {
			if h, err := proc.Claim(st.Pid, st.Identity()); err == nil {
				r.Proc = h
			}
		}
	}
	return r, nil
}

// Stopped is how a stop ended.
type Stopped struct {
	WasRunning bool
	// How: "signal TERM" (or the configured signal), "stop command",
	// "SIGKILL after 10s" when the first way did not end it in time.
	How string
}

// prepare is what every start does before the program runs (SPEC §4.3):
// the typed environment must hold, the run name must be the service's,
// config files are rendered, pre-start runs. It returns the environment
// to run the program in. `start` launches after it, `run` execs.
func (p *Playpen) prepare(ctx context.Context, s *Service, opts StartOptions) ([]string, error) {
	if !s.Typed.OK() {
		var msgs []string
		for _, pr := range s.Typed.Problems {
			msgs = append(msgs, pr.Error())
		}
		return nil, errf(KindConfig, "", "environment: %s", strings.Join(msgs, "; "))
	}
	if err := p.checkRunName(s); err != nil {
		return nil, err
	}
	if err := p.checkPackageDir(s); err != nil {
		return nil, err
	}
	if err := p.checkRunningPorts(s); err != nil {
		return nil, err
	}
	env := s.Env
	if opts.Upgraded {
		env = setEnv(env, "SERVICE_UPGRADED", "1")
	}
	if err := p.render(ctx, s, env); err != nil {
		return nil, err
	}
	if err := p.runStep(ctx, s, "pre-start", env); err != nil {
		return nil, fmt.Errorf("pre-start failed, not started: %w%s", err, p.tail(s))
	}
	return env, nil
}

// ErrNotWanted says a revival did not happen: the service was stopped or
// started again meanwhile (see StartOptions.Revive).
var ErrNotWanted = errors.New("no longer wanted up: it was stopped or started again meanwhile")

func (p *Playpen) startLocked(ctx context.Context, s *Service, opts StartOptions) error {
	if opts.Revive != 0 {
		st, err := p.currentState(s.StateFile(p), s.LockFile(p))
		if err != nil || st.Pid != opts.Revive || st.Want == WantDown || st.Failed {
			return ErrNotWanted
		}
	}
	launched := func() {
		if opts.Launched != nil {
			opts.Launched()
			opts.Launched = nil
		}
	}
	defer launched()
	if err := p.recoverLaunch(s); err != nil {
		return err
	}
	running, dead, err := p.startProbe(ctx, s, opts)
	if running || err != nil {
		return err
	}
	env, err := p.prepare(ctx, s, opts)
	if err != nil {
		if dead && opts.Revive == 0 {
			p.cleanStale(s) // the user's start failed: nothing is running
		}
		return err
	}
	fault.Point("start.prepared")
	var (
		pid    int
		exited <-chan struct{}
	)
	if h := s.Hooks["start"]; !h.Empty() {
		if pid, err = p.startByCommand(ctx, s, env, opts); err != nil {
			return err
		}
		if s.NoPidfile {
			launched()
			return p.afterStart(ctx, s, env)
		}
	} else {
		if !s.OwnPidfile {
			if err := p.recordLaunch(s); err != nil {
				return err
			}
		}
		var err error
		pid, exited, err = p.launch(s, env)
		if err != nil {
			p.clearLaunch(s) // nothing was launched
			return err
		}
		fault.Point("start.launched")
	}
	if s.OwnPidfile && s.Hooks["start"].Empty() {
		got, err := p.waitOwnPidfile(s, exited)
		if err != nil {
			return err
		}
		pid, exited = got, nil
	}
	// The identity recorded is the kernel's start time and session
	// (§4.7), which the program keeps through any exec. argv[0] is what
	// we executed (a launch) or, for a pid a program or start command
	// wrote, what it runs now: only the own-pidfile rule looks at it.
	read := proc.ReadArgs
	if exited != nil {
		read = proc.ReadStat
	}
	info, err := read(pid)
	if err != nil || info.Zombie {
		return p.exitedAtOnce(s, opts)
	}
	if exited != nil {
		info.Argv0 = s.argv0s()[0]
	}
	if !s.OwnPidfile && s.Hooks["start"].Empty() {
		if err := writePidfile(s.Pidfile(p), pid); err != nil {
			return err
		}
	}
	fault.Point("start.pidfile")
	if err := writeState(s.StateFile(p), p.newState(s, pid, info, opts)); err != nil {
		return err
	}
	p.clearLaunch(s) // recorded: the intent is done
	fault.Point("start.state")
	launched()
	if err := p.watchStart(s, pid, info, exited, opts.Revive != 0); err != nil {
		return err
	}
	return p.afterStart(ctx, s, env)
}

// startProbe is start's look at what runs: already running (nothing to
// do; a pidfile lost meanwhile is written again), or a dead record.
func (p *Playpen) startProbe(ctx context.Context, s *Service, opts StartOptions) (running, dead bool, err error) {
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	switch st.State {
	case StateRunning:
		if opts.outcome != nil {
			*opts.outcome = "already running"
		}
		if st.Detail != "" && !s.NoPidfile && !s.OwnPidfile {
			// Found through the state file: the pidfile says so again.
			return true, false, writePidfile(s.Pidfile(p), st.Pid)
		}
		return true, false, nil
	case StateDead:
		// The stale pidfile goes; the state file stays until the new one
		// replaces it: a servicectl (or daemon) killed before then leaves
		// the service recorded as wanted up, and the next supervisor
		// revives it instead of forgetting it.
		os.Remove(s.Pidfile(p))
		return false, true, nil
	}
	return false, false, nil
}

// startByCommand runs service_start (§5.2): the pid is what it wrote in
// the pidfile; with service_no_pidfile there is none, and the start is
// recorded here.
func (p *Playpen) startByCommand(ctx context.Context, s *Service, env []string, opts StartOptions) (int, error) {
	if !s.NoPidfile {
		if err := p.recordLaunch(s); err != nil {
			return 0, err
		}
	}
	if err := p.runStep(ctx, s, "start", env); err != nil {
		p.clearLaunch(s)
		return 0, fmt.Errorf("start command failed: %w%s", err, p.tail(s))
	}
	if s.NoPidfile {
		return 0, writeState(s.StateFile(p), p.newState(s, 0, proc.Info{}, opts))
	}
	got, err := readPidfile(s.Pidfile(p))
	if err != nil || got == 0 {
		return 0, fmt.Errorf("the start command did not write %s (a custom start must write the pidfile unless service_no_pidfile=1)", s.Pidfile(p))
	}
	return got, nil
}

func (p *Playpen) afterStart(ctx context.Context, s *Service, env []string) error {
	if err := p.runStep(ctx, s, "post-start", env); err != nil {
		return fmt.Errorf("post-start failed (the service is running): %w", err)
	}
	return nil
}

func (p *Playpen) newState(s *Service, pid int, info proc.Info, opts StartOptions) *State {
	return &State{
		Pid: pid, StartTime: info.StartTime, Sid: info.Sid, Argv0: info.Argv0, RunName: s.RunName,
		Package: s.Package, Version: s.Version, StartedAt: time.Now().UTC(),
		Restarts: opts.Restarts, Upgraded: opts.Upgraded, Deps: p.depVersions(s), NoPidfile: s.NoPidfile,
		StopSignal: s.StopSigName, StopTimeout: s.StopTimeout, OwnPidfile: s.OwnPidfile,
		Want: WantUp, Ports: s.ports(), Sockets: s.Sockets,
	}
}

// ports are s's port variables and their values, and the ports of its
// sockets (by entry) that no port variable gives: the clash check of
// §6.4 covers both.
func (s *Service) ports() map[string]string {
	var m map[string]string
	have := map[string]bool{}
	for _, v := range s.Typed.Values {
		if v.Spec.Type == envtypes.Port {
			if m == nil {
				m = map[string]string{}
			}
			m[v.Spec.Name] = v.Value
			have[v.Value] = true
		}
	}
	for _, sk := range s.Sockets {
		if port := sk.Port(); port != "" && !have[port] {
			if m == nil {
				m = map[string]string{}
			}
			m["service_sockets "+sk.Entry] = port
			have[port] = true
		}
	}
	return m
}

// runningPorts are the port variables recorded by the services with run
// state (not stopping), but those in skip: read from state files, no
// config evaluated.
func (p *Playpen) runningPorts(skip map[string]bool) []envtypes.PortUse {
	var uses []envtypes.PortUse
	for n, st := range p.recordedState() {
		if skip[n] {
			continue
		}
		for k, v := range st.Ports {
			uses = append(uses, envtypes.PortUse{Service: n, Name: k, Value: v})
		}
	}
	return uses
}

// checkRunningPorts refuses to start s when one of its ports is another
// port variable's of a running service (§6.4), as `env --check` would
// report it; it reads the running services' state files, never their
// configs.
func (p *Playpen) checkRunningPorts(s *Service) error {
	mine := s.ports()
	if len(mine) == 0 {
		return nil
	}
	var uses []envtypes.PortUse
	for k, v := range mine {
		uses = append(uses, envtypes.PortUse{Service: s.Name, Name: k, Value: v})
	}
	uses = append(uses, p.runningPorts(map[string]bool{s.Name: true})...)
	for _, c := range envtypes.Clashes(uses) {
		if c.A.Service == s.Name || c.B.Service == s.Name {
			return errf(KindConfig, "", "port clash: %v (`servicectl env --check` lists every clash)", c)
		}
	}
	return nil
}

// ServiceState is the state file of a service, as the supervisor reads
// it: nil and no error when there is none (never started, or stopped).
func (p *Playpen) ServiceState(name string) (*State, error) {
	st, err := p.currentState(filepath.Join(p.RunVar, name+".state"), filepath.Join(p.RunVar, name+".lock"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return st, err
}

// StateNames lists the services that have a state file: those started
// and not stopped since, the supervisor's candidates.
func (p *Playpen) StateNames() ([]string, error) {
	ents, err := fsio.ReadDir(p.RunVar)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name, ".state"); ok && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// MarkFailed records the supervisor's verdict (§9.2) under the service's
// lock, if the state file still names the dead pid: status then shows
// `failed` until a start.
func (p *Playpen) MarkFailed(ctx context.Context, name string, pid, crashes int) error {
	s, err := p.recorded(name)
	if err != nil {
		return err
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := p.currentState(s.StateFile(p), s.LockFile(p))
	if err != nil || st.Pid != pid || st.Want == WantDown {
		return ErrNotWanted
	}
	st.Failed, st.Crashes = true, crashes
	return writeState(s.StateFile(p), st)
}

// recorded is what servicectl knows of a service without reading its
// config: its registration and the state file written when it started.
// That is enough to show, ping and stop a service whose config no longer
// evaluates (SPEC §4.4): identity comes from the recorded start time and
// argv[0], the stop from the recorded signal and time-out (TERM and 10 s
// when none was recorded); it has no hooks.
func (p *Playpen) recorded(name string) (*Service, error) {
	base, instance, reg, project, err := p.Lookup(name)
	if err != nil {
		return nil, err
	}
	s := &Service{Name: name, Base: base, Instance: instance, Package: reg.Package, Version: reg.Version, Project: project,
		StopSignal: syscall.SIGTERM, StopSigName: "TERM", StopTimeout: 10, Hooks: map[string]Hook{}}
	state, _ := readState(s.StateFile(p))
	if state == nil {
		return s, nil
	}
	s.RunName, s.LinkPath, s.OwnPidfile = state.RunName, state.Argv0, state.OwnPidfile
	if sig, name, ok := parseSignal(state.StopSignal); ok {
		s.StopSignal, s.StopSigName = sig, name
	}
	if state.StopTimeout > 0 {
		s.StopTimeout = state.StopTimeout
	}
	return s, nil
}

// ConfigError is the error of a service's config that does not evaluate,
// or nil: what lets a command that needs only the recorded state go on
// (status, ping, logs, stop) where start and restart refuse.
func ConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindConfig
}

// configErrText is a config error without the layers that say "config".
func configErrText(err error) string {
	var se *hooks.ScriptError
	if errors.As(err, &se) {
		return se.Error()
	}
	var e *Error
	if errors.As(err, &e) {
		return strings.TrimPrefix(e.Err.Error(), "config: ")
	}
	return err.Error()
}

// resolveOrRecorded is Resolve, or, when the config does not evaluate,
// the recorded service and the config's error.
func (p *Playpen) resolveOrRecorded(name string) (*Service, error, error) {
	s, err := p.Resolve(name)
	if err == nil || !ConfigError(err) {
		return s, nil, err
	}
	rs, rerr := p.recorded(name)
	if rerr != nil {
		return nil, nil, err
	}
	return rs, err, nil
}

// launch executes the program through the linkfarm, detached in its own
// session, stdin /dev/null, output appended to the output file (§4.3).
// exited closes when the process ends (we are its parent until we exit).
func (p *Playpen) launch(s *Service, env []string) (int, <-chan struct{}, error) {
	if s.ProgramErr != "" {
		return 0, nil, errors.New(s.ProgramErr + "; fix service_program in " + strings.Join(s.ConfigFiles, ", "))
	}
	path, sys, err := p.execPlan(s)
	if err != nil {
		return 0, nil, err
	}
	sys.Setsid = true
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer devnull.Close()
	out, err := fsio.OpenAppend(s.OutputFile(p), 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("output file: %w", err)
	}
	defer out.Close()
	exe, argv := path, append([]string{path}, s.Flags...)
	files := []*os.File{devnull, out, out}
	env = withoutListen(env)
	socks, fresh, err := p.sockets(s, sys.Credential)
	if err != nil {
		return 0, nil, err
	}
	defer closeAll(socks) // the child has its own; a holder its copy
	if len(socks) > 0 {
		files = append(files, socks...)
		env = append(env, listenEnv(s)...)
		if exe, argv, err = hooks.ListenTrampoline(path, argv, nil); err != nil {
			return 0, nil, err
		}
	}
	child, err := os.StartProcess(exe, argv, &os.ProcAttr{Dir: s.Workdir, Env: env, Files: files, Sys: sys})
	if err != nil {
		return 0, nil, fmt.Errorf("cannot execute %s: %w", path, err)
	}
	if fresh && p.Sockets != nil {
		p.Sockets.Hold(s, socks)
	}
	if s.Nice != nil {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, child.Pid, *s.Nice); err != nil {
			p.warn(s.Name, "service_nice=%d: %v", *s.Nice, err)
		}
	}
	return child.Pid, proc.WatchChild(child), nil
}

// execPlan is what launching a service's program needs, for `start`
// (a child) and `run` (an exec) alike: the path to execute (the
// linkfarm link unless service_no_symlink), a working directory that
// exists, and the credentials to switch to.
func (p *Playpen) execPlan(s *Service) (string, *syscall.SysProcAttr, error) {
	path := s.Program
	if !s.NoSymlink {
		lp, err := linkfarm.Farm{Dir: p.LinkDir}.Ensure(s.RunName, s.Program)
		if err != nil {
			return "", nil, err
		}
		path = lp
	}
	if fi, err := os.Stat(s.Workdir); err != nil || !fi.IsDir() {
		return "", nil, fmt.Errorf("service_workdir %s is not a directory", s.Workdir)
	}
	sys := &syscall.SysProcAttr{}
	if err := credential(s, sys); err != nil {
		return "", nil, err
	}
	return path, sys, nil
}

// credential applies service_user and service_group: as root, the process
// drops to them; otherwise asking for another user is an error.
func credential(s *Service, sys *syscall.SysProcAttr) error {
	if s.User == "" && s.Group == "" {
		return nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if s.User != "" {
		u, err := user.Lookup(s.User)
		if err != nil {
			return fmt.Errorf("service_user=%s: %v", s.User, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if s.Group != "" {
		g, err := user.LookupGroup(s.Group)
		if err != nil {
			return fmt.Errorf("service_group=%s: %v", s.Group, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	if os.Geteuid() != 0 && (int(cred.Uid) != os.Getuid() || int(cred.Gid) != os.Getgid()) {
		return fmt.Errorf("service_user/service_group ask for uid %d gid %d, and only root can switch to them; run servicectl as root or unset them", cred.Uid, cred.Gid)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	cred.Groups = []uint32{cred.Gid}
	sys.Credential = cred
	return nil
}

// waitOwnPidfile waits up to 10 s for a program that writes its own
// pidfile (§4.3). The pid it names may be a forked child.
func (p *Playpen) waitOwnPidfile(s *Service, exited <-chan struct{}) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	diedAt := time.Time{}
	for {
		if pid, err := readPidfile(s.Pidfile(p)); err == nil && pid > 0 {
			if info, err := proc.ReadStat(pid); err == nil && !info.Zombie {
				return pid, nil
			}
		}
		if diedAt.IsZero() && exited != nil {
			select {
			case <-exited:
				// A daemonizing program exits after forking; give the child
				// a moment to write the pidfile, then give up.
				diedAt = time.Now()
			default:
			}
		}
		if !diedAt.IsZero() && time.Since(diedAt) > time.Second || time.Now().After(deadline) {
			return 0, fmt.Errorf("service_own_pidfile=1 but no live pid appeared in %s within 10 s%s", s.Pidfile(p), p.tail(s))
		}
		<-tick.C
	}
}

// watchStart waits service_start_secs and fails the start when the
// process died meanwhile (§4.3), removing its pidfile and state.
func (p *Playpen) watchStart(s *Service, pid int, info proc.Info, exited <-chan struct{}, keepState bool) error {
	clean := func() {
		// A revival keeps the record of the process that died at once:
		// the supervisor counts it as a crash and revives it again.
		if !keepState {
			p.cleanStale(s)
		}
	}
	d := time.Duration(s.StartSecs * float64(time.Second))
	if d <= 0 {
		return nil
	}
	if exited != nil {
		select {
		case <-exited:
			clean()
			return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
		case <-time.After(d):
			return nil
		}
	}
	o, err := proc.Claim(pid, proc.Want{StartTime: info.StartTime, Sid: info.Sid})
	if err != nil {
		clean()
		return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
	}
	defer o.Close()
	if o.Wait(d) {
		clean()
		return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
	}
	return nil
}

// tail is the last 20 lines of the output file, for failure messages.
func (p *Playpen) tail(s *Service) string {
	lines, err := TailLines(s.OutputFile(p), 20)
	if err != nil || len(lines) == 0 {
		return ""
	}
	return "\n--- last lines of " + s.OutputFile(p) + " ---\n" + strings.Join(lines, "\n")
}

// TailLines returns the last n lines of a file (not through a link).
func TailLines(path string, n int) ([]string, error) {
	f, err := fsio.OpenRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lines, _, err := tailFile(f, n)
	return lines, err
}

// tailFile is TailLines of an open file; end is the size the lines were
// taken up to, where a follower goes on reading (so that nothing written
// meanwhile is skipped).
func tailFile(f *os.File, n int) ([]string, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var buf []byte
	chunk := int64(8192)
	for off := size; off > 0 && bytes.Count(buf, []byte{'\n'}) <= n; {
		step := min(chunk, off)
		off -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return nil, 0, err
		}
		buf = append(b, buf...)
	}
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return nil, size, nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, size, nil
}

// Stop stops one service (SPEC §4.4). Not running is success. A service
// whose config no longer evaluates is stopped as it was recorded at
// start, without hooks, with a warning.
// Its sockets (§4.11) are let go: a stop is for good.
func (p *Playpen) Stop(ctx context.Context, name string) error {
	_, err := p.stop(ctx, name)
	if err == nil {
		p.releaseSockets(name)
	}
	return err
}

// StopService stops a resolved service under its lock (SPEC §4.4) and
// says how it ended.
func (p *Playpen) StopService(ctx context.Context, s *Service) (Stopped, error) {
	if err := p.EnsureDirs(); err != nil {
		return Stopped{}, wrap(KindFailed, s.Name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return Stopped{}, wrap(KindFailed, s.Name, err)
	}
	defer unlock()
	var r Stopped
	_, err = p.stopLockedHow(ctx, s, &r)
	return r, wrap(KindFailed, s.Name, err)
}

// stop is Stop that also says whether the service was running.
func (p *Playpen) stop(ctx context.Context, name string) (bool, error) {
	s, cerr, err := p.resolveOrRecorded(name)
	if err != nil {
		return false, err
	}
	if cerr != nil {
		p.warn(name, "its config does not evaluate (%s); stopping it as recorded at start (SIG%s, %gs), without hooks", configErrText(cerr), s.StopSigName, s.StopTimeout)
	}
	r, err := p.StopService(ctx, s)
	return r.WasRunning, err
}

// stopLocked returns the state the service was in and any failure.
func (p *Playpen) stopLocked(ctx context.Context, s *Service) (*State, error) {
	return p.stopLockedHow(ctx, s, nil)
}

// stopLockedHow is stopLocked; how, when set, learns how it ended.
func (p *Playpen) stopLockedHow(ctx context.Context, s *Service, how *Stopped) (*State, error) {
	if how == nil {
		how = &Stopped{}
	}
	if err := p.recoverLaunch(s); err != nil {
		return nil, err
	}
	st, o := p.probe(ctx, s)
	old, _ := readState(s.StateFile(p))
	if st.State != StateRunning {
		if !s.NoPidfile {
			p.cleanStale(s)
		}
		return nil, nil
	}
	how.WasRunning = true
	if o != nil {
		defer o.Close()
	}
	if o != nil {
		p.markStopping(s, o.Pid)
	}
	fault.Point("stop.want-down")
	var errs []error
	if err := p.runStep(ctx, s, "pre-stop", s.Env); err != nil {
		errs = append(errs, fmt.Errorf("pre-stop failed (stopping anyway): %w", err))
	}
	timeout := time.Duration(s.StopTimeout * float64(time.Second))
	if h := s.Hooks["stop"]; !h.Empty() {
		how.How = "stop command"
		if err := p.runStep(ctx, s, "stop", s.Env); err != nil {
			errs = append(errs, fmt.Errorf("stop command failed: %w", err))
		}
		if o != nil && !o.Wait(timeout) {
			how.How = fmt.Sprintf("SIGKILL after %gs", s.StopTimeout)
			o.Signal(syscall.SIGKILL, true)
			o.Wait(5 * time.Second)
		}
	} else if o != nil {
		how.How = "signal " + s.StopSigName
		if err := o.Signal(s.StopSignal, true); err != nil {
			errs = append(errs, err)
		}
		fault.Point("stop.signalled")
		if !o.Wait(timeout) {
			how.How = fmt.Sprintf("SIGKILL after %gs", s.StopTimeout)
			p.warn(s.Name, "did not stop within %gs of SIG%s; sending SIGKILL", s.StopTimeout, s.StopSigName)
			o.Signal(syscall.SIGKILL, true)
			if !o.Wait(5 * time.Second) {
				errs = append(errs, fmt.Errorf("pid %d survived SIGKILL", o.Pid))
				return old, errors.Join(errs...)
			}
		}
	}
	fault.Point("stop.exited")
	if !s.OwnPidfile || o == nil || !o.Alive() {
		p.cleanStale(s)
	}
	if err := p.runStep(ctx, s, "post-stop", s.Env); err != nil {
		errs = append(errs, fmt.Errorf("post-stop failed: %w", err))
	}
	return old, errors.Join(errs...)
}

// RestartOptions tune one restart.
type RestartOptions struct {
	Upgraded bool // caused by an upgrade: never SIGHUP, SERVICE_UPGRADED=1 (§4.5, §8.4)
	NoHUP    bool // a new binary must run: stop and start even with service_hup=1
	Launched func()
	outcome  *string // see StartOptions
}

func setOutcome(p *string, s string) {
	if p != nil {
		*p = s
	}
}

// Restart restarts one service by the order of preference of SPEC §4.5.
func (p *Playpen) Restart(ctx context.Context, name string, opts RestartOptions) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if s.Template && s.Instance == "" {
		return errf(KindUsage, name, "is a template: restart instances of it, e.g. `servicectl restart %s@NAME`", name)
	}
	if err := p.EnsureDirs(); err != nil {
		return wrap(KindFailed, name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return wrap(KindFailed, name, err)
	}
	defer unlock()
	return wrap(KindFailed, name, p.restartLocked(ctx, s, opts))
}

func (p *Playpen) restartLocked(ctx context.Context, s *Service, opts RestartOptions) error {
	st, o := p.probe(ctx, s)
	if st.State != StateRunning {
		if o != nil {
			o.Close()
		}
		setOutcome(opts.outcome, "started (it was not running)")
		return p.startLocked(ctx, s, StartOptions{Upgraded: opts.Upgraded, Launched: opts.Launched})
	}
	if opts.Launched != nil {
		defer opts.Launched()
	}
	if s.HUP && !opts.Upgraded && !opts.NoHUP && o != nil {
		defer o.Close()
		setOutcome(opts.outcome, "sent SIGHUP (service_hup=1), same pid")
		return o.Signal(syscall.SIGHUP, false)
	}
	if o != nil {
		o.Close()
	}
	if h := s.Hooks["restart"]; !h.Empty() {
		setOutcome(opts.outcome, "restarted by service_restart")
		env := s.Env
		if opts.Upgraded {
			env = setEnv(env, "SERVICE_UPGRADED", "1")
		}
		return p.runStep(ctx, s, "restart", env)
	}
	old, err := p.stopLocked(ctx, s)
	if err != nil {
		return err
	}
	fault.Point("restart.stopped")
	if s.RestartDelay > 0 {
		select {
		case <-time.After(time.Duration(s.RestartDelay * float64(time.Second))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	restarts := 1
	if old != nil {
		restarts = old.Restarts + 1
	}
	return p.startLocked(ctx, s, StartOptions{Upgraded: opts.Upgraded, Launched: opts.Launched, Restarts: restarts})
}

// Reload sends SIGHUP to a service that takes it (service_hup=1, §4.5).
func (p *Playpen) Reload(ctx context.Context, name string) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if !s.HUP {
		return errf(KindFailed, name, "does not take SIGHUP (service_hup is not 1); use `servicectl restart %s`", name)
	}
	st, o := p.probe(ctx, s)
	if o == nil {
		return errf(KindNotRunning, name, "is %s; nothing to reload", st.State)
	}
	defer o.Close()
	return wrap(KindFailed, name, o.Signal(syscall.SIGHUP, false))
}

// Ping exits 0 when alive (§4.9): service_ping when set, else the pid
// check (the only check left when the config does not evaluate).
func (p *Playpen) Ping(ctx context.Context, name string) error {
	if err := p.CheckDirs(); err != nil {
		return err
	}
	s, cerr, err := p.resolveOrRecorded(name)
	if err != nil {
		return err
	}
	if cerr != nil {
		p.warn(name, "its config does not evaluate (%s); checking the recorded pid only", configErrText(cerr))
	}
	if !s.Hooks["ping"].Empty() {
		if err := p.runStep(ctx, s, "ping", s.Env); err != nil {
			return errf(KindNotRunning, name, "ping failed: %v", err)
		}
		return nil
	}
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
		return nil
	}
	return errf(KindNotRunning, name, "is %s", st.State)
}

// ErrNoTest says the service has no self-test; it counts as passed.
var ErrNoTest = errors.New("has no test (service_test or a test hook); counted as passed")

// Test runs the service's self-test (§4.9) and returns its status.
func (p *Playpen) Test(ctx context.Context, name string) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if s.Hooks["test"].Empty() {
		return ErrNoTest
	}
	if err := p.runStep(ctx, s, "test", s.Env); err != nil {
		return &Error{Kind: KindFailed, Status: max(1, hooks.Status(err)), Service: name, Err: fmt.Errorf("test failed: %w", err)}
	}
	return nil
}

func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// runStep runs what is configured for a hook step or replacement command
// (§5.1–§5.3): the config variable's code, then the hook file. Output goes
// to the service's output file, never to servicectl's own stdout.
func (p *Playpen) runStep(ctx context.Context, s *Service, step string, env []string) error {
	h, ok := s.Hooks[step]
	if !ok || h.Empty() {
		return nil
	}
	out, err := fsio.OpenAppend(s.OutputFile(p), 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := p.EnsureDirs(); err != nil {
			return err
		}
		out, err = fsio.OpenAppend(s.OutputFile(p), 0o644)
	}
	if err != nil {
		return fmt.Errorf("output file: %w", err)
	}
	defer out.Close()
	args := []string{s.Name}
	if !s.Project {
		args = append(args, s.Version)
	}
	opts := hooks.Options{Env: env, Dir: s.Workdir, Stdout: out, Stderr: out, Args: args}
	if h.Code != "" {
		name := "service_" + strings.ReplaceAll(step, "-", "_") + " (" + filepath.Base(s.ConfigFiles[len(s.ConfigFiles)-1]) + ")"
		if err := hooks.RunCode(ctx, name, h.Code, hooks.HookTimeout, opts); err != nil {
			return namedErr(name, err)
		}
	}
	if h.File != "" {
		if err := hooks.RunFile(ctx, h.File, hooks.HookTimeout, opts); err != nil {
			return namedErr(h.File, err)
		}
	}
	return nil
}

// namedErr says which script failed, unless the error names it already.
func namedErr(name string, err error) error {
	var se *hooks.ScriptError
	if errors.As(err, &se) && strings.HasPrefix(se.Error(), name) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// render runs sub-conf for each of service_config_files (§5.4) with the
// service environment.
func (p *Playpen) render(ctx context.Context, s *Service, env []string) error {
	if len(s.RenderFiles) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	for _, f := range s.RenderFiles {
		if err := hooks.SubConf(lookup, f); err != nil {
			return errf(KindConfig, "", "service_config_files: %v", err)
		}
	}
	return nil
}

// knownAlive asks the Liveness hook, when there is one.
func (p *Playpen) knownAlive(name string, pid int, start uint64) (alive, known bool) {
	if p.Liveness == nil {
		return false, false
	}
	return p.Liveness(name, pid, start)
}

// quickStatus answers for a running service whose state file proves its
// pid without reading the service's config: what `status` of many
// running services spends its time on otherwise. Anything less certain
// (no state, no pidfile, a mismatch) falls back to the full probe.
func (p *Playpen) quickStatus(name string) (Status, bool) {
	_, _, reg, _, err := p.Lookup(name)
	if err != nil {
		return Status{}, false
	}
	// A bare template has no state file of its own (its instances do), so
	// it never passes the next step: its status needs the config.
	runVar := p.RunVar
	state, err := p.heldState(filepath.Join(runVar, name+".state"))
	if err != nil || state.NoPidfile || state.RunName == "" || state.Version != reg.Version {
		return Status{}, false
	}
	pid, err := p.heldPidfile(filepath.Join(runVar, name+".pid"))
	if err != nil || pid != state.Pid {
		return Status{}, false
	}
	if alive, known := p.knownAlive(name, pid, state.StartTime); known {
		if !alive {
			return Status{}, false
		}
	} else if !proc.Matches(pid, state.Identity()) {
		return Status{}, false
	}
	t := state.StartedAt
	return Status{
		Service: name, Package: reg.Package, Version: reg.Version, State: StateRunning, Pid: pid,
		StartedAt: &t, RunName: state.RunName, Restarts: state.Restarts, Upgraded: state.Upgraded, Sockets: socketNames(state.Sockets),
		Stale: p.staleDeps(state),
	}, true
}
