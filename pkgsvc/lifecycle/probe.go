package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
	"time"
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

// argv0s are the argv[0] a process of s may show when no state file
// records it (§4.7).
func argv0s(s *pkgsvc.Service) []string {
	if s.LinkPath != "" {
		return []string{s.LinkPath}
	}
	return []string{s.Program}
}

// probe finds out whether s runs, verifying the pidfile's claim (§4.7).
// When running, the claimed process is returned open; the caller closes it.
func (p *Manager) probe(ctx context.Context, s *pkgsvc.Service) (st Status, o *proc.Handle) {
	return p.probeWith(ctx, s, true)
}

// probeState is probe without running user code: a service_no_pidfile
// service counts as running while its state file (written at start,
// removed by stop) says it was started. What plans use, so that planning
// only reads (issue 12).
func (p *Manager) probeState(ctx context.Context, s *pkgsvc.Service) (Status, *proc.Handle) {
	return p.probeWith(ctx, s, false)
}

func (p *Manager) probeWith(ctx context.Context, s *pkgsvc.Service, ping bool) (st Status, o *proc.Handle) {
	st = Status{Service: s.Name, Package: s.Package, Version: s.Version, State: pkgsvc.StateStopped, RunName: s.RunName}
	state, serr := pkgsvc.ReadState(s.StateFile(p.Playpen))
	if state != nil {
		st.Restarts, st.Upgraded = state.Restarts, state.Upgraded
	}
	if s.NoPidfile {
		return p.probeNoPidfile(ctx, s, st, state, ping), nil
	}
	defer func() {
		// The supervisor gave up on it (§9.2): failed, until a start.
		if st.State != pkgsvc.StateRunning && state != nil && state.Failed {
			st.State = pkgsvc.StateFailed
		}
	}()
	pid, err := pkgsvc.ReadPidfile(s.Pidfile(p.Playpen))
	// The state file is servicectl's own record, with the start time: when
	// the pidfile was removed, garbled or changed behind its back, the
	// process the state names is still the service if it checks out, and
	// never the one a changed pidfile names (issue 15: nothing lost,
	// nothing foreign claimed).
	byState := func(why string) bool {
		if state == nil || state.Pid <= 1 || s.OwnPidfile || state.OwnPidfile {
			return false
		}
		h, cerr := proc.Claim(state.Pid, Identity(state))
		if cerr != nil {
			return false
		}
		o, pid, st.Detail = h, state.Pid, why+fmt.Sprintf("; the service is pid %d, as the state file says", state.Pid)
		return true
	}
	switch {
	case err != nil:
		if !byState("the pidfile is unreadable: " + err.Error()) {
			st.State, st.Detail = pkgsvc.StateDead, err.Error()
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
		o, err = proc.Claim(pid, Identity(state))
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
		o, err = proc.Claim(pid, proc.Want{Argv0s: append(argv0s(s), state.Argv0)})
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
		st.State, st.Detail = pkgsvc.StateDead, err.Error()
		return st, nil
	}
	st.State, st.Pid = pkgsvc.StateRunning, pid
	if state != nil {
		t := state.StartedAt
		st.StartedAt = &t
		st.Stale = p.Stale(s, state)
		st.Sockets = socketNames(state.Sockets)
	}
	return st, o
}

// probeNoPidfile is the state of a service_no_pidfile service: its
// service_ping says (§4.8), or without running user code, its state file.
func (p *Manager) probeNoPidfile(ctx context.Context, s *pkgsvc.Service, st Status, state *pkgsvc.State, ping bool) Status {
	up := state != nil && state.Want != pkgsvc.WantDown
	if ping {
		up = p.runStep(ctx, s, "ping", s.Env) == nil
	}
	if up {
		st.State = pkgsvc.StateRunning
		if state != nil {
			t := state.StartedAt
			st.StartedAt = &t
			st.Stale = p.Stale(s, state)
		}
	}
	return st
}

// cleanStale removes a pidfile and state file that name no live process
// of ours (§4.7); it never signals anything.
func (p *Manager) cleanStale(s *pkgsvc.Service) {
	os.Remove(s.Pidfile(p.Playpen))
	os.Remove(s.StateFile(p.Playpen))
	p.clearLaunch(s)
}

// Status reports one service's state without taking its lock. A service
// whose config does not evaluate is still reported from its recorded
// state, with the config's error both in ConfigError and returned.
func (p *Manager) Status(ctx context.Context, name string) (Status, error) {
	if st, ok := p.quickStatus(name); ok {
		return st, nil
	}
	s, cerr, err := p.ResolveOrRecorded(name)
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

// knownAlive asks the Liveness hook, when there is one.
func (p *Manager) knownAlive(name string, pid int, start uint64) (alive, known bool) {
	if p.Liveness == nil {
		return false, false
	}
	return p.Liveness(name, pid, start)
}

// quickStatus answers for a running service whose state file proves its
// pid without reading the service's config: what `status` of many
// running services spends its time on otherwise. Anything less certain
// (no state, no pidfile, a mismatch) falls back to the full probe.
func (p *Manager) quickStatus(name string) (Status, bool) {
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
	} else if !proc.Matches(pid, Identity(state)) {
		return Status{}, false
	}
	t := state.StartedAt
	return Status{
		Service: name, Package: reg.Package, Version: reg.Version, State: pkgsvc.StateRunning, Pid: pid,
		StartedAt: &t, RunName: state.RunName, Restarts: state.Restarts, Upgraded: state.Upgraded, Sockets: socketNames(state.Sockets),
		Stale: p.StaleDeps(state),
	}, true
}

// StateOf is a service's state from its files and /proc only: never user
// code (a no-pidfile service counts as running while its state says it
// was started). What plans use, so planning changes nothing.
func (p *Manager) StateOf(ctx context.Context, s *pkgsvc.Service) Status {
	st, o := p.probeState(ctx, s)
	if o != nil {
		o.Close()
	}
	return st
}

// Probe is a service's state as start and stop judge it (service_ping for
// a no-pidfile service).
func (p *Manager) Probe(ctx context.Context, s *pkgsvc.Service) Status {
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	return st
}

// StartedSince says whether the running service s was (re)started after
// t: an earlier `upgrade post`, killed, already did its part.
func (p *Manager) StartedSince(s *pkgsvc.Service, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	st, err := pkgsvc.ReadState(s.StateFile(p.Playpen))
	return err == nil && st.StartedAt.After(t)
}
