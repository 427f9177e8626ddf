package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"servicectl/envtypes"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
	"servicectl/pkgsvc/proc"
	"strings"
	"time"
)

// exitedAtOnce is a launch whose process was gone before it could be
// recorded. A revival keeps the record of the crash it answers, so that
// this start counts as the next crash and a service that cannot start
// ends failed (§9.2); a user's start leaves nothing behind.
func (p *Manager) exitedAtOnce(s *pkgsvc.Service, opts StartOptions) error {
	if opts.Revive != 0 {
		os.Remove(s.Pidfile(p.Playpen))
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
func (p *Manager) Start(ctx context.Context, name string, opts StartOptions) error {
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
func (p *Manager) StartService(ctx context.Context, s *pkgsvc.Service, opts StartOptions) (*Started, error) {
	name := s.Name
	if s.Template && s.Instance == "" {
		return nil, pkgsvc.Errorf(pkgsvc.KindUsage, name, "is a template: start instances of it, e.g. `servicectl start %s@NAME`", name)
	}
	if err := p.EnsureDirs(); err != nil {
		return nil, pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return nil, pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	defer unlock()
	outcome := ""
	if opts.outcome == nil {
		opts.outcome = &outcome
	}
	fault.Point("start.locked")
	if err := p.startLocked(ctx, s, opts); err != nil {
		return nil, pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	r := &Started{AlreadyRunning: *opts.outcome == "already running"}
	if !s.NoPidfile {
		if st, err := pkgsvc.ReadState(s.StateFile(p.Playpen)); err == nil && st.Pid > 0 {
			if h, err := proc.Claim(st.Pid, Identity(st)); err == nil {
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
func (p *Manager) prepare(ctx context.Context, s *pkgsvc.Service, opts StartOptions) ([]string, error) {
	if !s.Typed.OK() {
		var msgs []string
		for _, pr := range s.Typed.Problems {
			msgs = append(msgs, pr.Error())
		}
		return nil, pkgsvc.Errorf(pkgsvc.KindConfig, "", "environment: %s", strings.Join(msgs, "; "))
	}
	if err := p.CheckRunName(s); err != nil {
		return nil, err
	}
	if err := p.CheckPackageDir(s); err != nil {
		return nil, err
	}
	if err := p.checkRunningPorts(s); err != nil {
		return nil, err
	}
	env := s.Env
	if opts.Upgraded {
		env = SetEnv(env, "SERVICE_UPGRADED", "1")
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

func (p *Manager) startLocked(ctx context.Context, s *pkgsvc.Service, opts StartOptions) error {
	if opts.Revive != 0 {
		st, err := pkgsvc.CurrentState(s.StateFile(p.Playpen), s.LockFile(p.Playpen))
		if err != nil || st.Pid != opts.Revive || st.Want == pkgsvc.WantDown || st.Failed {
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
		info.Argv0 = argv0s(s)[0]
	}
	if !s.OwnPidfile && s.Hooks["start"].Empty() {
		if err := pkgsvc.WritePidfile(s.Pidfile(p.Playpen), pid); err != nil {
			return err
		}
	}
	fault.Point("start.pidfile")
	if err := pkgsvc.WriteState(s.StateFile(p.Playpen), p.newState(s, pid, info, opts)); err != nil {
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
func (p *Manager) startProbe(ctx context.Context, s *pkgsvc.Service, opts StartOptions) (running, dead bool, err error) {
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	switch st.State {
	case pkgsvc.StateRunning:
		if opts.outcome != nil {
			*opts.outcome = "already running"
		}
		if st.Detail != "" && !s.NoPidfile && !s.OwnPidfile {
			// Found through the state file: the pidfile says so again.
			return true, false, pkgsvc.WritePidfile(s.Pidfile(p.Playpen), st.Pid)
		}
		return true, false, nil
	case pkgsvc.StateDead:
		// The stale pidfile goes; the state file stays until the new one
		// replaces it: a servicectl (or daemon) killed before then leaves
		// the service recorded as wanted up, and the next supervisor
		// revives it instead of forgetting it.
		os.Remove(s.Pidfile(p.Playpen))
		return false, true, nil
	}
	return false, false, nil
}

// startByCommand runs service_start (§5.2): the pid is what it wrote in
// the pidfile; with service_no_pidfile there is none, and the start is
// Recorded here.
func (p *Manager) startByCommand(ctx context.Context, s *pkgsvc.Service, env []string, opts StartOptions) (int, error) {
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
		return 0, pkgsvc.WriteState(s.StateFile(p.Playpen), p.newState(s, 0, proc.Info{}, opts))
	}
	got, err := pkgsvc.ReadPidfile(s.Pidfile(p.Playpen))
	if err != nil || got == 0 {
		return 0, fmt.Errorf("the start command did not write %s (a custom start must write the pidfile unless service_no_pidfile=1)", s.Pidfile(p.Playpen))
	}
	return got, nil
}

func (p *Manager) afterStart(ctx context.Context, s *pkgsvc.Service, env []string) error {
	if err := p.runStep(ctx, s, "post-start", env); err != nil {
		return fmt.Errorf("post-start failed (the service is running): %w", err)
	}
	return nil
}

func (p *Manager) newState(s *pkgsvc.Service, pid int, info proc.Info, opts StartOptions) *pkgsvc.State {
	return &pkgsvc.State{
		Pid: pid, StartTime: info.StartTime, Sid: info.Sid, Argv0: info.Argv0, RunName: s.RunName,
		Package: s.Package, Version: s.Version, StartedAt: time.Now().UTC(),
		Restarts: opts.Restarts, Upgraded: opts.Upgraded, Deps: p.DepVersions(s), NoPidfile: s.NoPidfile,
		StopSignal: s.StopSigName, StopTimeout: s.StopTimeout, OwnPidfile: s.OwnPidfile,
		Want: pkgsvc.WantUp, Ports: s.Ports(), Sockets: s.Sockets,
	}
}

// checkRunningPorts refuses to start s when one of its ports is another
// port variable's of a running service (§6.4), as `env --check` would
// report it; it reads the running services' state files, never their
// configs.
func (p *Manager) checkRunningPorts(s *pkgsvc.Service) error {
	mine := s.Ports()
	if len(mine) == 0 {
		return nil
	}
	var uses []envtypes.PortUse
	for k, v := range mine {
		uses = append(uses, envtypes.PortUse{Service: s.Name, Name: k, Value: v})
	}
	uses = append(uses, p.RunningPorts(map[string]bool{s.Name: true})...)
	for _, c := range envtypes.Clashes(uses) {
		if c.A.Service == s.Name || c.B.Service == s.Name {
			return pkgsvc.Errorf(pkgsvc.KindConfig, "", "port clash: %v (`servicectl env --check` lists every clash)", c)
		}
	}
	return nil
}
