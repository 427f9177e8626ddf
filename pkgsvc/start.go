package pkgsvc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"servicectl/envtypes"
	"servicectl/pkgsvc/internal/fault"
	"servicectl/pkgsvc/proc"
	"strings"
	"time"
)

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
