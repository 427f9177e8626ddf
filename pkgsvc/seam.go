package pkgsvc

import (
	"context"
	"io"
	"path/filepath"
	"servicectl/internal/fsio"
	"sort"
	"time"
)

// The seam the upgrade engine (pkgsvc/upgrade) works through: reads of
// definitions and states, and the lifecycle steps, each a thin exported
// door onto what the command line uses too, so an upgrade starts, stops
// and checks services exactly as `start`, `stop` and `status` do.

// ResolveOrRecorded resolves name; when its config does not evaluate it
// returns the definition recorded at its last start (stop signal, pid
// identity) and the config's error as cfgErr. err is a failure to find it
// at all.
func (p *Playpen) ResolveOrRecorded(name string) (s *Service, cfgErr, err error) {
	return p.resolveOrRecorded(name)
}

// StateOf is a service's state from its files and /proc only: never user
// code (a no-pidfile service counts as running while its state says it
// was started). What plans use, so planning changes nothing.
func (p *Playpen) StateOf(ctx context.Context, s *Service) Status {
	st, o := p.probeState(ctx, s)
	if o != nil {
		o.Close()
	}
	return st
}

// Probe is a service's state as start and stop judge it (service_ping for
// a no-pidfile service).
func (p *Playpen) Probe(ctx context.Context, s *Service) Status {
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	return st
}

// Warm resolves names in parallel ahead of use.
func (p *Playpen) Warm(names []string) { p.warm(names) }

// ServiceOrder sorts names so that each comes after what it depends on
// (service_depends); ties keep name order.
func (p *Playpen) ServiceOrder(names []string) []string {
	return OrderByDeps(names, func(n string) []string {
		deps, _ := p.depsOf(n)
		return deps
	})
}

// OrderByDeps sorts names so that each comes after what it depends on
// among them (deps says what that is), by name where nothing decides: a
// pure order, for plans made without reading anything.
func OrderByDeps(names []string, deps func(string) []string) []string {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	sorted := append([]string{}, names...)
	sort.Strings(sorted)
	var out []string
	state := map[string]int{}
	var visit func(n string)
	visit = func(n string) {
		if state[n] != 0 {
			return
		}
		state[n] = 1
		ds := append([]string{}, deps(n)...)
		sort.Strings(ds)
		for _, d := range ds {
			if in[d] {
				visit(d)
			}
		}
		state[n] = 2
		out = append(out, n)
	}
	for _, n := range sorted {
		visit(n)
	}
	return out
}

// RunOrdered runs fn for each of names in dependency order, jobs at a
// time: a service waits for what it depends on (fn's release frees its
// job slot early, once launched).
func (p *Playpen) RunOrdered(ctx context.Context, names []string, jobs int, fn func(name string, release func()) error) []Result {
	g, pre := p.buildGraph(names, false)
	return g.run(ctx, jobs, false, pre, fn)
}

// FindCycle returns a dependency cycle among names (deps: name → what it
// depends on), or nil.
func FindCycle(names []string, deps map[string][]string) []string {
	return (&graph{names: names, deps: deps}).cycle()
}

// ConfigErrText is a config error in one line, for messages.
func ConfigErrText(err error) string { return configErrText(err) }

// PackageDir is where an installed package version's files live.
func (p *Playpen) PackageDir(name, version string) string { return p.packageDir(name, version) }

// PackageFiles reads NAME-VERSION.files (SPEC §1.4); none when missing.
func (p *Playpen) PackageFiles(name, ver string) []string {
	if ver == "" {
		return nil
	}
	lines, err := readList(filepath.Join(p.packageDir(name, ver), name+"-"+ver+".files"))
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range lines {
		out = append(out, filepath.Clean(l.Fields[0]))
	}
	return out
}

// Unregister removes a service from installed-services.
func (p *Playpen) Unregister(name string) error { return p.unregister(name) }

// Progress reports one service's outcome to the Log callback.
func (p *Playpen) Progress(name string, err error, verb string) { p.progress(name, err, verb) }

// Warnf reports a warning about service to the Warn callback.
func (p *Playpen) Warnf(service, format string, args ...any) { p.warn(service, format, args...) }

// ErrOut is where configs and the commands servicectl runs for a service
// (a rollback) write what they print: Stderr, or the process's.
func (p *Playpen) ErrOut() io.Writer { return p.configStderr() }

// UpgradeLock serialises the upgrade commands of one playpen; the returned
// function releases it.
func (p *Playpen) UpgradeLock() (func(), error) {
	if err := p.EnsureDirs(); err != nil {
		return nil, err
	}
	f, err := fsio.Lock(filepath.Join(p.RunVar, "upgrade.lock"))
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// StartedSince says whether the running service s was (re)started after
// t: an earlier `upgrade post`, killed, already did its part.
func (p *Playpen) StartedSince(s *Service, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	st, err := readState(s.StateFile(p))
	return err == nil && st.StartedAt.After(t)
}

// Errorf makes an error of a kind, for packages that build on pkgsvc.
func Errorf(kind Kind, service, format string, args ...any) error {
	return errf(kind, service, format, args...)
}

// SetEnv is env with key set to value, once.
func SetEnv(env []string, key, value string) []string { return setEnv(env, key, value) }
