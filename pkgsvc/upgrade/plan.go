package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"sort"
	"strings"
)

// MakePlan computes the plan of SPEC §8.1–§8.2. It changes nothing: it
// reads the playpen and the services' states (gather), then decides with
// no I/O at all (decide), so that the policy can be tested over inputs
// alone (plan_test.go).
func MakePlan(ctx context.Context, p *lifecycle.Manager, o PlanOptions) (*Plan, error) {
	changes, err := ParseChanges(p, o)
	if err != nil {
		return nil, err
	}
	return planChanges(ctx, p, changes, o)
}

func planChanges(ctx context.Context, p *lifecycle.Manager, changes []Change, o PlanOptions) (*Plan, error) {
	in, err := gather(ctx, p, changes, o)
	if err != nil {
		return nil, err
	}
	return decide(in, o)
}

// planInputs is everything a plan depends on, read before it is made.
type planInputs struct {
	changes        []Change
	oldSet, newSet map[string]string // package → version, now and after
	files          map[string]string // changed path → what changed it
	gOld, gNew     *depGraph
	depErrs        []string            // .deps files that could not be read
	services       []svcInput          // what the change may reach, instances expanded
	deps           map[string][]string // service → the services it depends on
	known          map[string]bool     // registered services
	newServices    map[string][]string // package → services its new version lists
}

// svcInput is one service as the plan sees it.
type svcInput struct {
	name, base, pkg string
	project         bool
	running         bool
	cfgErr          error // its config does not evaluate
	pol             pkgsvc.Policies
	listed          bool // the new version of its package (if it changes) still lists it
	resolved        bool // its current definition resolves: gate and batch below
	instance        string
	gate            string // of the version that will run
	healthTimeout   float64
	rollingBatch    int
}

// gather reads what the plan needs: installed and proposed versions,
// package files, dependencies at both, and each service a changed
// package (or a changed file) can reach, with its state and policies.
func gather(ctx context.Context, p *lifecycle.Manager, changes []Change, o PlanOptions) (*planInputs, error) {
	cur, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	in := &planInputs{changes: changes, oldSet: map[string]string{}, newSet: map[string]string{}, files: map[string]string{},
		deps: map[string][]string{}, known: map[string]bool{}, newServices: map[string][]string{}}
	for _, pk := range cur {
		in.oldSet[pk.Name], in.newSet[pk.Name] = pk.Version, pk.Version
	}
	for _, c := range changes {
		if c.New == "" {
			delete(in.newSet, c.Package)
		} else {
			in.newSet[c.Package] = c.New
			if svcs, err := p.PackageServices(c.Package, c.New); err == nil {
				in.newServices[c.Package] = svcs
			}
		}
		for _, f := range append(p.PackageFiles(c.Package, c.Old), p.PackageFiles(c.Package, c.New)...) {
			in.files[f] = c.Package
		}
	}
	for _, f := range o.Files {
		in.files[filepath.Clean(f)] = f
	}
	var e1, e2 []string
	in.gOld, e1 = packageDepsAt(p, in.oldSet)
	in.gNew, e2 = packageDepsAt(p, in.newSet)
	in.depErrs = append(e1, e2...)
	if len(in.depErrs) > 0 {
		return in, nil // decide reports them; nothing else is read
	}
	reg, _ := p.Registered()
	for _, r := range reg {
		in.known[r.Service] = true
	}
	names, err := p.AllServices()
	if err != nil {
		return nil, err
	}
	reach := in.reachFunc()
	var candidates []string
	for _, n := range names {
		_, _, reg, project, lerr := p.Lookup(n)
		if lerr == nil && (len(in.files) > 0 || !project && reach(reg.Package)) {
			candidates = append(candidates, n)
		}
	}
	p.ResolveAll(candidates)
	for _, n := range withInstances(p, candidates) {
		if si, ok := gatherService(ctx, p, in, n); ok {
			in.services = append(in.services, si)
		}
	}
	return in, nil
}

// gatherService reads one service: its definition (or the one recorded
// at its start), state, policies and health gate.
func gatherService(ctx context.Context, p *lifecycle.Manager, in *planInputs, n string) (svcInput, bool) {
	s, cerr, rerr := p.ResolveOrRecorded(n)
	base, _, reg, project, lerr := p.Lookup(n)
	if lerr != nil {
		return svcInput{}, false
	}
	si := svcInput{name: n, base: base, pkg: reg.Package, project: project, cfgErr: cerr, listed: true, rollingBatch: 1,
		pol: pkgsvc.Policies{StopOnUpgrade: true, StopOnDepUpgrade: true, RestartOnDepUpgrade: true}}
	if rerr == nil {
		si.running = p.StateOf(ctx, s).State == pkgsvc.StateRunning
	}
	if s != nil {
		si.pol = s.Policies
	}
	for _, c := range in.changes {
		if c.Package == reg.Package && !project && c.New != "" {
			si.listed = packageLists(p, reg.Package, c.New, base)
		}
	}
	if cur, err := p.Resolve(n); err == nil {
		in.deps[n] = cur.Depends
		si.resolved = true
		si.gate, si.healthTimeout, si.instance, si.rollingBatch = cur.HealthGate(), cur.HealthTimeout, cur.Instance, cur.RollingBatch
		// The plan is the promise: the gate is the one of the version
		// that will run (the unpacked new one's config).
		if ver := newVersionOf(in.changes, reg.Package); ver != "" && ver != cur.Version {
			if ns, _, _, done, err := newDefinition(p, n, reg.Package, ver); err == nil {
				si.gate, si.healthTimeout = ns.HealthGate(), ns.HealthTimeout
				done()
			}
		}
	}
	return si, true
}

// newVersionOf is the version a change installs of pkg; "" when none.
func newVersionOf(changes []Change, pkg string) string {
	v := ""
	for _, c := range changes {
		if c.Package == pkg && c.New != "" {
			v = c.New
		}
	}
	return v
}

// reachFunc says whether a package is changed or depends, before or
// after, on one that is.
func (in *planInputs) reachFunc() func(pkg string) bool {
	changed := map[string]bool{}
	for _, c := range in.changes {
		changed[c.Package] = true
	}
	memo := map[string]bool{}
	return func(pkg string) bool {
		if v, ok := memo[pkg]; ok {
			return v
		}
		hit := changed[pkg]
		for _, g := range []*depGraph{in.gOld, in.gNew} {
			for dep := range g.reaches(pkg) {
				hit = hit || changed[dep]
			}
		}
		memo[pkg] = hit
		return hit
	}
}

// decide makes the plan from its inputs alone, in the steps of §8.2:
// versions, dependencies, the policy of each service, the order, the
// services new versions bring, and the health gates.
func decide(in *planInputs, o PlanOptions) (*Plan, error) {
	plan := &Plan{Changes: in.changes, Files: []string{}, Actions: []Action{}, Errors: []string{}, Warnings: []string{}, Running: []string{}}
	if plan.Changes == nil {
		plan.Changes = []Change{}
	}
	if err := checkVersions(in.changes, o); err != nil {
		return nil, err
	}
	for f := range in.files {
		plan.Files = append(plan.Files, f)
	}
	sort.Strings(plan.Files)
	errs, err := checkDeps(in)
	if err != nil {
		return nil, err
	}
	plan.Errors = errs
	acts, untouched, err := decideServices(in, o, plan)
	if err != nil {
		return nil, err
	}
	orderActions(plan, acts, in.deps)
	plan.Actions = append(plan.Actions, untouched...)
	for _, c := range in.changes {
		for _, s := range in.newServices[c.Package] {
			if c.New != "" && !in.known[s] {
				plan.Actions = append(plan.Actions, Action{Service: s, Package: c.Package, Action: ActNew, Reason: c.Package, Chain: "listed by " + c.Package + "-" + c.New + ".services"})
			}
		}
	}
	sort.Strings(plan.Running)
	sort.Strings(plan.Warnings)
	annotateGates(plan, in.services)
	return plan, nil
}

// checkVersions refuses a downgrade unless it is allowed.
func checkVersions(changes []Change, o PlanOptions) error {
	for _, c := range changes {
		if c.Old != "" && c.New != "" {
			if cmp, _ := pkgsvc.CompareVersions(c.New, c.Old); cmp < 0 && !o.AllowDowngrade {
				return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Err: &DowngradeError{Package: c.Package, Old: c.Old, New: c.New}}
			}
		}
	}
	return nil
}

// checkDeps: unreadable .deps and cycles are errors of the playpen;
// a dependency the new set would not satisfy is an error of the plan.
func checkDeps(in *planInputs) ([]string, error) {
	if len(in.depErrs) > 0 {
		errs := append([]string{}, in.depErrs...)
		sort.Strings(errs)
		return nil, errf(pkgsvc.KindConfig, "", "%s", strings.Join(errs, "; "))
	}
	for _, g := range []*depGraph{in.gOld, in.gNew} {
		if cyc := g.cycle(); cyc != nil {
			return nil, errf(pkgsvc.KindConfig, "", "package dependency cycle: %s (check the .deps files)", strings.Join(cyc, " -> "))
		}
	}
	errs := []string{}
	for name, ds := range in.gNew.deps {
		for _, d := range ds {
			v, ok := in.newSet[d.Name]
			switch {
			case !ok:
				errs = append(errs, fmt.Sprintf("%s %s needs %s, which would not be installed", name, in.newSet[name], d.Name))
			case d.Constraint != nil:
				pv, err := pkgsvc.ParseVersion(v)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", d.Name, err))
				} else if !d.Constraint.Check(pv.Upstream) {
					errs = append(errs, fmt.Sprintf("%s %s needs %s %s, but %s would be installed", name, in.newSet[name], d.Name, d.Raw, v))
				}
			}
		}
	}
	sort.Strings(errs)
	return errs, nil
}

// affected is a service the plan acts on: stopped before the change
// and/or started or restarted after.
type affected struct {
	name   string
	before bool
	after  string
	act    Action
}

// decideServices applies each service's policy (§8.2).
func decideServices(in *planInputs, o PlanOptions, plan *Plan) (acts []affected, untouched []Action, err error) {
	reach := in.reachFunc()
	changed := map[string]Change{}
	for _, c := range in.changes {
		changed[c.Package] = c
	}
	for _, si := range in.services {
		if si.cfgErr != nil {
			if err := brokenConfig(in, si, reach, plan); err != nil {
				return nil, nil, err
			}
			continue
		}
		if si.running {
			plan.Running = append(plan.Running, si.name)
		}
		if !si.running && !o.All {
			continue
		}
		a, x, ok := policyFor(in, si, changed)
		switch {
		case !ok:
		case x == nil:
			untouched = append(untouched, a)
		default:
			acts = append(acts, *x)
		}
	}
	return acts, untouched, nil
}

// brokenConfig: a service whose config does not evaluate cannot say its
// policy. Running and reached by a package: nothing is planned; else a
// warning.
func brokenConfig(in *planInputs, si svcInput, reach func(string) bool, plan *Plan) error {
	why := pkgsvc.ConfigErrText(si.cfgErr)
	pkgHit := !si.project && reach(si.pkg)
	switch {
	case si.running && pkgHit:
		return &pkgsvc.Error{Kind: pkgsvc.KindConfig, Service: si.name, Err: fmt.Errorf("its config does not evaluate (%s), and this change reaches its package %s: its policies decide whether it is stopped or restarted, so nothing is planned; fix the config first", why, si.pkg)}
	case pkgHit:
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: its config does not evaluate (%s): cannot tell whether a change of %s would stop or restart it (it is not running, so an upgrade leaves it stopped)", si.name, why, si.pkg))
	case len(in.files) > 0:
		state := "stopped"
		if si.running {
			state = "running"
		}
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s (%s): its config does not evaluate (%s): cannot tell whether its service_filedeps include the changed files; the upgrade leaves it as it is", si.name, state, why))
	}
	if si.running {
		plan.Running = append(plan.Running, si.name)
	}
	return nil
}

// policyFor decides one service: its own package changed, a dependency
// of it did, or a file it lists in service_filedeps. ok is false when
// nothing reaches it; x is nil for a service left running on old code.
func policyFor(in *planInputs, si svcInput, changed map[string]Change) (a Action, x *affected, ok bool) {
	a = Action{Service: si.name, Package: si.pkg}
	stop := false
	switch c, own := changed[si.pkg]; {
	case !si.project && own:
		a.Reason = si.pkg
		if c.New == "" || !si.listed {
			a.Action = ActRemove
			a.Chain = fmt.Sprintf("%s is no longer provided by %s", si.base, packageVersion(c))
			return a, &affected{name: si.name, before: true, act: a}, true
		}
		a.Policy, stop = "service_stop_on_upgrade", si.pol.StopOnUpgrade
		a.Chain = fmt.Sprintf("%s %s -> %s", si.pkg, c.Old, c.New)
		if c.Old == c.New {
			a.Chain = si.pkg + " changes"
		}
	case !si.project && nearestDep(in, si.pkg, changed, &a):
		switch {
		case si.pol.StopOnDepUpgrade:
			a.Policy, stop = "service_stop_on_dep_upgrade", true
		case si.pol.RestartOnDepUpgrade:
			a.Policy = "service_restart_on_dep_upgrade"
		default:
			a.Policy, a.Action = "service_restart_on_dep_upgrade", ActUntouched
			a.Chain += " (left running on the old code: it will show as stale)"
			return a, nil, true
		}
	default:
		f, hit := filedep(in, si)
		if !hit {
			return a, nil, false
		}
		a.Reason, a.Policy, stop = f, "service_stop_on_filedep", si.pol.StopOnFiledep
		a.Chain = "service_filedeps lists " + f
	}
	if stop {
		return a, &affected{name: si.name, before: true, after: ActStartAfter, act: a}, true
	}
	return a, &affected{name: si.name, after: ActRestartAfter, act: a}, true
}

// nearestDep finds the nearest changed dependency of pkg, old graph or
// new, and writes it into a.
func nearestDep(in *planInputs, pkg string, changed map[string]Change, a *Action) bool {
	best := ""
	var bestPath []string
	for _, g := range []*depGraph{in.gOld, in.gNew} {
		for dep, path := range g.reaches(pkg) {
			if _, ok := changed[dep]; ok && (best == "" || len(path) < len(bestPath) || len(path) == len(bestPath) && dep < best) {
				best, bestPath = dep, path
			}
		}
	}
	if best == "" {
		return false
	}
	a.Reason, a.Chain = best, strings.Join(bestPath, " depends on ")
	return true
}

// filedep is the first of a service's service_filedeps that changed.
func filedep(in *planInputs, si svcInput) (string, bool) {
	for _, f := range si.pol.Filedeps {
		if _, ok := in.files[filepath.Clean(f)]; ok {
			return filepath.Clean(f), true
		}
	}
	return "", false
}

// orderActions puts stops in reverse dependency order, then starts in
// order (deps: what each service depends on).
func orderActions(plan *Plan, acts []affected, deps map[string][]string) {
	var names []string
	for _, a := range acts {
		names = append(names, a.name)
	}
	idx := map[string]int{}
	for i, n := range lifecycle.OrderByDeps(names, func(n string) []string { return deps[n] }) {
		idx[n] = i
	}
	sort.SliceStable(acts, func(i, j int) bool { return idx[acts[i].name] < idx[acts[j].name] })
	for i := len(acts) - 1; i >= 0; i-- {
		if acts[i].before {
			a := acts[i].act
			if a.Action != ActRemove {
				a.Action = ActStopBefore
			}
			plan.Actions = append(plan.Actions, a)
		}
	}
	for _, x := range acts {
		if x.after != "" {
			a := x.act
			a.Action = x.after
			plan.Actions = append(plan.Actions, a)
		}
	}
}

// annotateGates gives each start-after and restart-after its health gate
// and the instances of a template restarted together their rolling
// batches (issue 16).
func annotateGates(plan *Plan, services []svcInput) {
	byName := map[string]svcInput{}
	for _, si := range services {
		byName[si.name] = si
	}
	groups := map[string][]int{}
	var bases []string
	for i := range plan.Actions {
		a := &plan.Actions[i]
		si, ok := byName[a.Service]
		if !ok || a.Action != ActStartAfter && a.Action != ActRestartAfter || !si.resolved {
			continue
		}
		a.Gate, a.HealthTimeout = si.gate, si.healthTimeout
		if a.Action == ActRestartAfter && si.instance != "" {
			if _, ok := groups[si.base]; !ok {
				bases = append(bases, si.base)
			}
			groups[si.base] = append(groups[si.base], i)
		}
	}
	for _, b := range bases {
		idx := groups[b]
		if len(idx) < 2 {
			continue
		}
		sort.Slice(idx, func(x, y int) bool { return plan.Actions[idx[x]].Service < plan.Actions[idx[y]].Service })
		batch := max(byName[plan.Actions[idx[0]].Service].rollingBatch, 1)
		of := (len(idx) + batch - 1) / batch
		for k, i := range idx {
			plan.Actions[i].Roll, plan.Actions[i].RollOf = k/batch+1, of
		}
	}
}

func packageVersion(c Change) string {
	if c.New == "" {
		return c.Package + " (removed)"
	}
	return c.Package + " " + c.New
}

// packageLists reports whether version ver of pkg still provides service
// (unknown when the new version is not unpacked yet: assume it does).
func packageLists(p *lifecycle.Manager, pkg, ver, service string) bool {
	if _, err := os.Stat(p.PackageDir(pkg, ver)); err != nil {
		return true
	}
	svcs, err := p.PackageServices(pkg, ver)
	if err != nil {
		return true
	}
	for _, s := range svcs {
		if s == service {
			return true
		}
	}
	return false
}

// withInstances adds the running instances of templates to names.
func withInstances(p *lifecycle.Manager, names []string) []string {
	var out []string
	for _, n := range names {
		s, err := p.Resolve(n)
		if err == nil && s.Template {
			insts, _ := p.RunningInstances(n)
			out = append(out, insts...)
			continue
		}
		out = append(out, n)
	}
	return out
}
