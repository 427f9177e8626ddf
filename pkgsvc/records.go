package pkgsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"servicectl/envtypes"
	"servicectl/internal/fsio"
	"sort"
	"strings"
	"syscall"

	"servicectl/hooks"
)

// ServiceState is the state file of a service, as the supervisor reads
// it: nil and no error when there is none (never started, or stopped).
func (p *Playpen) ServiceState(name string) (*State, error) {
	st, err := CurrentState(filepath.Join(p.RunVar, name+".state"), filepath.Join(p.RunVar, name+".lock"))
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

// Recorded is what servicectl knows of a service without reading its
// config: its registration and the state file written when it started.
// That is enough to show, ping and stop a service whose config no longer
// evaluates (SPEC §4.4): identity comes from the recorded start time and
// argv[0], the stop from the recorded signal and time-out (TERM and 10 s
// when none was recorded); it has no hooks.
func (p *Playpen) Recorded(name string) (*Service, error) {
	base, instance, reg, project, err := p.Lookup(name)
	if err != nil {
		return nil, err
	}
	s := &Service{Name: name, Base: base, Instance: instance, Package: reg.Package, Version: reg.Version, Project: project,
		StopSignal: syscall.SIGTERM, StopSigName: "TERM", StopTimeout: 10, Hooks: map[string]Hook{}}
	state, _ := ReadState(s.StateFile(p))
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

// ConfigErrText is a config error without the layers that say "config".
func ConfigErrText(err error) string {
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

// ResolveOrRecorded is Resolve, or, when the config does not evaluate,
// the recorded service and the config's error.
func (p *Playpen) ResolveOrRecorded(name string) (*Service, error, error) {
	s, err := p.Resolve(name)
	if err == nil || !ConfigError(err) {
		return s, nil, err
	}
	rs, rerr := p.Recorded(name)
	if rerr != nil {
		return nil, nil, err
	}
	return rs, err, nil
}

// RunningPorts are the port variables recorded by the services with run
// state (not stopping), but those in skip: read from state files, no
// config evaluated.
func (p *Playpen) RunningPorts(skip map[string]bool) []envtypes.PortUse {
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

// RunningInstances lists instances of a template that have a pidfile.
func (p *Playpen) RunningInstances(base string) ([]string, error) {
	entries, err := fsio.ReadDirNames(p.RunVar)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e, base+"@") && strings.HasSuffix(e, ".pid") {
			out = append(out, strings.TrimSuffix(e, ".pid"))
		}
	}
	return out, nil
}

// IsTemplate says whether name is a bare template (service_template=1,
// no instance): what stop, restart and status expand to its instances.
func (p *Playpen) IsTemplate(name string) bool {
	if strings.Contains(name, "@") {
		return false
	}
	s, err := p.Resolve(name)
	return err == nil && s.Template
}

// ExpandTemplates replaces each bare template among names as verb needs
// (§7): stop and restart act on its running instances (as `systemctl
// stop 'web@*'`); start skips it, since a template itself never runs.
// notes say what was done instead, for the user.
func (p *Playpen) ExpandTemplates(names []string, verb string) (out []string, notes []string) {
	for _, n := range names {
		if !p.IsTemplate(n) {
			out = append(out, n)
			continue
		}
		insts, _ := p.RunningInstances(n)
		switch {
		case verb == "start":
			notes = append(notes, fmt.Sprintf("%s is a template: skipped (start an instance: `servicectl start %s@NAME`)", n, n))
		case len(insts) == 0:
			notes = append(notes, fmt.Sprintf("%s is a template and no instance of it runs: nothing to %s", n, verb))
		default:
			out = append(out, insts...)
		}
	}
	return out, notes
}
