package lifecycle

import (
	"context"
	"servicectl/pkgsvc"
	"sort"
	"time"
)

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

// ServiceOrder sorts names so that each comes after what it depends on
// (service_depends); ties keep name order.
func (p *Manager) ServiceOrder(names []string) []string {
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
func (p *Manager) RunOrdered(ctx context.Context, names []string, jobs int, fn func(name string, release func()) error) []Result {
	g, pre := p.buildGraph(names, false)
	return g.run(ctx, jobs, false, pre, fn)
}

// FindCycle returns a dependency cycle among names (deps: name → what it
// depends on), or nil.
func FindCycle(names []string, deps map[string][]string) []string {
	return (&graph{names: names, deps: deps}).cycle()
}

// Progress reports one service's outcome to the Log callback.
func (p *Manager) Progress(name string, err error, verb string) { p.progress(name, err, verb) }

// StartedSince says whether the running service s was (re)started after
// t: an earlier `upgrade post`, killed, already did its part.
func (p *Manager) StartedSince(s *pkgsvc.Service, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	st, err := pkgsvc.ReadState(s.StateFile(p.Playpen))
	return err == nil && st.StartedAt.After(t)
}
