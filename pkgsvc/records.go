package pkgsvc

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"servicectl/internal/fsio"
	"sort"
	"strings"
	"syscall"

	"servicectl/hooks"
)

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
