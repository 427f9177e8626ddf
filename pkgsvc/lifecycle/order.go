package lifecycle

import (
	"context"
	"fmt"
	"servicectl/envtypes"
	"servicectl/internal/par"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
	"sort"
	"strings"
	"sync"
)

// Result is the outcome of one service in a multi-service operation.
type Result struct {
	Service string
	Err     error
}

// ManyOptions tune start/stop/restart of several services (SPEC §4.6).
type ManyOptions struct {
	Jobs   int  // parallel operations; default 8
	NoDeps bool // do not add dependencies to a start
	// Release, for a stop, says the services stop for good (a user's
	// stop, not an upgrade's stop-before): the daemon closes the sockets
	// it holds for them (§4.11).
	Release bool
}

// graph is the dependency order among a set of services.
type graph struct {
	names []string
	deps  map[string][]string // name → what must run before it (within the set)
}

// depsOf lists a service's service_depends; an instance depends on what
// its template names.
func (p *Manager) depsOf(name string) ([]string, error) {
	s, err := p.Resolve(name)
	if err != nil {
		return nil, err
	}
	return s.Depends, nil
}

// buildGraph orders names; with expand, dependencies outside the set are
// added (a start starts what it needs). A cycle is a configuration error
// naming it.
func (p *Manager) buildGraph(names []string, expand bool) (*graph, map[string]error) {
	g := &graph{deps: map[string][]string{}}
	errs := map[string]error{}
	in := map[string]bool{}
	queue := append([]string(nil), names...)
	for _, n := range names {
		in[n] = true
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		g.names = append(g.names, n)
		deps, err := p.depsOf(n)
		if err != nil {
			errs[n] = err
			continue
		}
		for _, d := range deps {
			if !in[d] {
				if !expand {
					continue
				}
				in[d] = true
				queue = append(queue, d)
			}
			g.deps[n] = append(g.deps[n], d)
		}
	}
	if cyc := g.cycle(); cyc != nil {
		err := pkgsvc.Errorf(pkgsvc.KindConfig, "", "dependency cycle: %s (check service_depends)", strings.Join(cyc, " -> "))
		for _, n := range cyc {
			errs[n] = &pkgsvc.Error{Kind: pkgsvc.KindConfig, Service: n, Err: err.Err}
		}
	}
	return g, errs
}

func (g *graph) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, d := range g.deps[n] {
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						found = append(append([]string{}, stack[i:]...), d)
					}
				}
				return true
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range g.names {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}

// run executes fn over the graph: forward, a service after its
// dependencies; reverse, after everything that depends on it. At most
// jobs run at once; fn calls release when its slot may go to another
// (after launch, before a start's watch period), and the slot is released
// at the latest when fn returns. A failed prerequisite fails a forward
// dependant without running it.
func (g *graph) run(ctx context.Context, jobs int, reverse bool, pre map[string]error, fn func(name string, release func()) error) []Result {
	if jobs <= 0 {
		jobs = 8
	}
	before := map[string][]string{}
	for n, ds := range g.deps {
		for _, d := range ds {
			if reverse {
				before[d] = append(before[d], n)
			} else {
				before[n] = append(before[n], d)
			}
		}
	}
	done := map[string]chan struct{}{}
	for _, n := range g.names {
		done[n] = make(chan struct{})
	}
	var (
		mu      sync.Mutex
		results = map[string]error{}
		sem     = make(chan struct{}, jobs)
		wg      sync.WaitGroup
	)
	for _, n := range g.names {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			defer close(done[n])
			var err error
			defer func() {
				mu.Lock()
				results[n] = err
				mu.Unlock()
			}()
			if e := pre[n]; e != nil {
				err = e
				return
			}
			for _, b := range before[n] {
				<-done[b]
				mu.Lock()
				berr := results[b]
				mu.Unlock()
				if berr != nil && !reverse {
					err = pkgsvc.Errorf(pkgsvc.KindFailed, n, "not started: dependency %s failed", b)
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				err = ctx.Err()
				return
			}
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			err = fn(n, release)
			release()
		}(n)
	}
	wg.Wait()
	out := make([]Result, 0, len(g.names))
	for _, n := range g.names {
		out = append(out, Result{Service: n, Err: results[n]})
	}
	return out
}

// StartMany starts services in dependency order, in parallel (§4.6).
func (p *Manager) StartMany(ctx context.Context, names []string, o ManyOptions) []Result {
	g, pre := p.buildGraph(names, !o.NoDeps)
	p.portClashesAmong(g.names, pre)
	p.runNamesAmong(g.names, pre)
	return g.run(ctx, o.Jobs, false, pre, func(n string, release func()) error {
		verb := "started"
		err := p.Start(ctx, n, StartOptions{Launched: release, outcome: &verb})
		p.progress(n, err, verb)
		return err
	})
}

// StopMany stops services in reverse dependency order, in parallel. A
// service whose config does not evaluate is stopped all the same, from
// its recorded state (§4.4), in no particular order.
func (p *Manager) StopMany(ctx context.Context, names []string, o ManyOptions) []Result {
	g, pre := p.buildGraph(names, false)
	for n, err := range pre {
		// Only a config that does not evaluate (it has no edges in the
		// graph); a dependency cycle still refuses.
		if _, rerr := p.Resolve(n); pkgsvc.ConfigError(err) && rerr != nil && len(g.deps[n]) == 0 {
			if _, lerr := p.Recorded(n); lerr == nil {
				delete(pre, n)
			}
		}
	}
	return g.run(ctx, o.Jobs, true, pre, func(n string, release func()) error {
		was, err := p.stop(ctx, n)
		if err == nil && o.Release {
			p.releaseSockets(n)
		}
		fault.Point("many.stopped")
		verb := "stopped"
		if !was {
			verb = "not running"
		}
		p.progress(n, err, verb)
		return err
	})
}

// RestartMany restarts services in dependency order, in parallel.
func (p *Manager) RestartMany(ctx context.Context, names []string, o ManyOptions) []Result {
	g, pre := p.buildGraph(names, false)
	return g.run(ctx, o.Jobs, false, pre, func(n string, release func()) error {
		verb := "restarted"
		err := p.Restart(ctx, n, RestartOptions{Launched: release, outcome: &verb})
		p.progress(n, err, verb)
		return err
	})
}

func (p *Manager) progress(name string, err error, verb string) {
	if err == nil && p.Log != nil {
		p.Log(name, verb)
	}
}

// StatusMany reports the state of several services; unknown names come
// back with their error. Instances of a template that run are listed
// after it (§7).
func (p *Manager) StatusMany(ctx context.Context, names []string) ([]Status, []error) {
	if err := p.CheckDirs(); err != nil {
		return nil, []error{err}
	}
	out := make([]Status, len(names))
	errs := make([]error, len(names))
	// More workers than cores: most of a status is waiting on /proc reads.
	par.For(len(names), 4, func(i int) { out[i], errs[i] = p.Status(ctx, names[i]) })
	var res []Status
	var rerrs []error
	for i := range names {
		if errs[i] != nil {
			rerrs = append(rerrs, errs[i])
			if out[i].State == "" {
				continue
			}
			// The config does not evaluate: the row comes from the
			// recorded state; a template's running instances stand in for it.
			if insts, _ := p.RunningInstances(names[i]); out[i].State != pkgsvc.StateRunning && len(insts) > 0 {
				for _, in := range insts {
					if st, _ := p.Status(ctx, in); st.State != "" {
						res = append(res, st)
					}
				}
				continue
			}
			res = append(res, out[i])
			continue
		}
		// A running entry is never a bare template; only others need the config.
		var s *pkgsvc.Service
		if out[i].State != pkgsvc.StateRunning {
			s, _ = p.Resolve(names[i])
		}
		if s != nil && s.Template && s.Instance == "" {
			insts, _ := p.RunningInstances(s.Base)
			for _, in := range insts {
				if st, err := p.Status(ctx, in); err == nil {
					res = append(res, st)
				}
			}
			continue
		}
		res = append(res, out[i])
	}
	if _, err := p.InstalledPackages(); err != nil {
		// Staleness is read from it: say it cannot be read rather than
		// guess (no service is then shown stale).
		rerrs = append(rerrs, &pkgsvc.Error{Kind: pkgsvc.KindConfig, Err: fmt.Errorf("%w (no service is shown stale until it is fixed)", err)})
	}
	return res, rerrs
}

// FirstError returns the first failure of a set of results.
func FirstError(rs []Result) error {
	for _, r := range rs {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// runNamesAmong refuses the services of one start that share a run name
// (§4.2): the holder records are written as each starts, too late for
// two starting together.
func (p *Manager) runNamesAmong(names []string, pre map[string]error) {
	owners := map[string][]string{}
	for _, n := range names {
		if pre[n] != nil {
			continue
		}
		if s, err := p.Resolve(n); err == nil && !s.Template {
			owners[s.RunName] = append(owners[s.RunName], n)
		}
	}
	for rn, ns := range owners {
		if len(ns) < 2 {
			continue
		}
		for _, n := range ns {
			pre[n] = pkgsvc.Errorf(pkgsvc.KindConfig, n, "run name %q is shared by %s; set service_run_name in one of them; not started", rn, strings.Join(ns, " and "))
		}
	}
}

// portClashesAmong refuses the services of one start whose ports clash
// with each other's (§6.4): neither of a clashing pair is started.
func (p *Manager) portClashesAmong(names []string, pre map[string]error) {
	var uses []envtypes.PortUse
	for _, n := range names {
		if pre[n] != nil {
			continue
		}
		if s, err := p.Resolve(n); err == nil {
			for k, v := range s.Ports() {
				uses = append(uses, envtypes.PortUse{Service: n, Name: k, Value: v})
			}
		}
	}
	for _, c := range envtypes.Clashes(uses) {
		for _, u := range []envtypes.PortUse{c.A, c.B} {
			if pre[u.Service] == nil {
				pre[u.Service] = pkgsvc.Errorf(pkgsvc.KindConfig, u.Service, "port clash: %v (`servicectl env --check` lists every clash); not started", c)
			}
		}
	}
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
