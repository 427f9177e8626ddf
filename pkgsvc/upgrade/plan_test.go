package upgrade

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"servicectl/pkgsvc"
)

// The plan's policy over inputs alone (issue 25): no playpen, no
// process, no file. Each case is a set of packages and services; the
// want is the plan's actions as "action service (policy)" lines.

type planCase struct {
	name     string
	changes  []Change
	deps     map[string]string // package → its .deps text (after the change)
	services []svcInput
	svcDeps  map[string][]string
	o        PlanOptions
	want     []string // actions
	errs     []string // plan.Errors, as substrings
	warn     string   // a warning, as a substring
	fail     string   // decide's error, as a substring
}

func graph(t *testing.T, deps map[string]string) *depGraph {
	t.Helper()
	g := &depGraph{deps: map[string][]pkgsvc.Dep{}}
	for pkg, text := range deps {
		ds, err := pkgsvc.ParseDeps(pkg+".deps", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		g.deps[pkg] = ds
	}
	return g
}

var defaults = pkgsvc.Policies{StopOnUpgrade: true, StopOnDepUpgrade: true, RestartOnDepUpgrade: true}

func svc(name, pkg string, running bool, pol pkgsvc.Policies) svcInput {
	return svcInput{name: name, base: name, pkg: pkg, running: running, pol: pol, listed: true, resolved: true, rollingBatch: 1}
}

func runPlanCase(t *testing.T, c planCase) {
	in := &planInputs{changes: c.changes, oldSet: map[string]string{}, newSet: map[string]string{}, files: map[string]string{},
		deps: c.svcDeps, known: map[string]bool{}, newServices: map[string][]string{}, services: c.services}
	for _, s := range c.services {
		in.known[s.name] = true
	}
	for _, ch := range c.changes {
		in.oldSet[ch.Package] = ch.Old
		if ch.New != "" {
			in.newSet[ch.Package] = ch.New
		}
	}
	for pkg := range c.deps {
		if _, ok := in.newSet[pkg]; !ok {
			in.oldSet[pkg], in.newSet[pkg] = "1.0.0", "1.0.0"
		}
	}
	in.gOld, in.gNew = graph(t, c.deps), graph(t, c.deps)
	plan, err := decide(in, c.o)
	if c.fail != "" {
		if err == nil || !strings.Contains(err.Error(), c.fail) {
			t.Fatalf("error %v, want one saying %q", err, c.fail)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range plan.Actions {
		line := a.Action + " " + a.Service
		if a.Policy != "" {
			line += " (" + a.Policy + ")"
		}
		if a.RollOf > 0 {
			line += fmt.Sprintf(" roll %d/%d", a.Roll, a.RollOf)
		}
		got = append(got, line)
	}
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Errorf("actions:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
	}
	for _, e := range c.errs {
		if !strings.Contains(strings.Join(plan.Errors, "\n"), e) {
			t.Errorf("errors %q lack %q", plan.Errors, e)
		}
	}
	if c.warn != "" && !strings.Contains(strings.Join(plan.Warnings, "\n"), c.warn) {
		t.Errorf("warnings %q lack %q", plan.Warnings, c.warn)
	}
}

func TestDecidePolicies(t *testing.T) {
	noStop := defaults
	noStop.StopOnUpgrade = false
	restartDep := pkgsvc.Policies{RestartOnDepUpgrade: true}
	leaveDep := pkgsvc.Policies{}
	filePol := pkgsvc.Policies{StopOnFiledep: true, Filedeps: []string{"/etc/app.conf"}}
	up := []Change{{Package: "app", Old: "1.0.0", New: "1.1.0"}}
	for _, c := range []planCase{
		{name: "own package, stop on upgrade", changes: up, services: []svcInput{svc("web", "app", true, defaults)},
			want: []string{"stop-before web (service_stop_on_upgrade)", "start-after web (service_stop_on_upgrade)"}},
		{name: "own package, restart", changes: up, services: []svcInput{svc("web", "app", true, noStop)},
			want: []string{"restart-after web (service_stop_on_upgrade)"}},
		{name: "stopped service left alone", changes: up, services: []svcInput{svc("web", "app", false, defaults)}},
		{name: "stopped service with --all", changes: up, services: []svcInput{svc("web", "app", false, defaults)}, o: PlanOptions{All: true},
			want: []string{"stop-before web (service_stop_on_upgrade)", "start-after web (service_stop_on_upgrade)"}},
		{name: "dependency, stop", changes: up, deps: map[string]string{"front": "app\n"}, services: []svcInput{svc("ui", "front", true, defaults)},
			want: []string{"stop-before ui (service_stop_on_dep_upgrade)", "start-after ui (service_stop_on_dep_upgrade)"}},
		{name: "dependency, restart", changes: up, deps: map[string]string{"front": "app\n"}, services: []svcInput{svc("ui", "front", true, restartDep)},
			want: []string{"restart-after ui (service_restart_on_dep_upgrade)"}},
		{name: "dependency, left on old code", changes: up, deps: map[string]string{"front": "app\n"}, services: []svcInput{svc("ui", "front", true, leaveDep)},
			want: []string{"untouched ui (service_restart_on_dep_upgrade)"}},
		{name: "package removed", changes: []Change{{Package: "app", Old: "1.0.0"}}, services: []svcInput{svc("web", "app", true, defaults)},
			want: []string{"remove web"}},
		{name: "service no longer listed", changes: up, services: []svcInput{func() svcInput { s := svc("web", "app", true, defaults); s.listed = false; return s }()},
			want: []string{"remove web"}},
		{name: "unrelated package", changes: up, services: []svcInput{svc("db", "pg", true, defaults)}},
		{name: "dependency order", changes: up, svcDeps: map[string][]string{"web": {"api"}},
			services: []svcInput{svc("web", "app", true, defaults), svc("api", "app", true, defaults)},
			want:     []string{"stop-before web (service_stop_on_upgrade)", "stop-before api (service_stop_on_upgrade)", "start-after api (service_stop_on_upgrade)", "start-after web (service_stop_on_upgrade)"}},
		{name: "downgrade refused", changes: []Change{{Package: "app", Old: "1.1.0", New: "1.0.0"}}, fail: "downgrade"},
		{name: "downgrade allowed", changes: []Change{{Package: "app", Old: "1.1.0", New: "1.0.0"}}, o: PlanOptions{AllowDowngrade: true},
			services: []svcInput{svc("web", "app", true, noStop)}, want: []string{"restart-after web (service_stop_on_upgrade)"}},
		{name: "unsatisfied constraint", changes: up, deps: map[string]string{"front": "app >= 2.0\n"}, errs: []string{"front 1.0.0 needs app >= 2.0, but 1.1.0 would be installed"}},
		{name: "cycle", changes: up, deps: map[string]string{"app": "front\n", "front": "app\n"}, fail: "package dependency cycle"},
	} {
		t.Run(c.name, func(t *testing.T) { runPlanCase(t, c) })
	}
	t.Run("filedep", func(t *testing.T) {
		in := planCase{changes: nil, services: []svcInput{svc("web", "", true, filePol)}, want: []string{"stop-before web (service_stop_on_filedep)", "start-after web (service_stop_on_filedep)"}}
		in.services[0].project = true
		runFiles(t, in, "/etc/app.conf")
	})
}

func runFiles(t *testing.T, c planCase, files ...string) {
	in := &planInputs{oldSet: map[string]string{}, newSet: map[string]string{}, files: map[string]string{}, known: map[string]bool{},
		newServices: map[string][]string{}, services: c.services, gOld: graph(t, nil), gNew: graph(t, nil)}
	for _, f := range files {
		in.files[f] = f
	}
	plan, err := decide(in, c.o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range plan.Actions {
		got = append(got, a.Action+" "+a.Service+" ("+a.Policy+")")
	}
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Errorf("actions %q, want %q", got, c.want)
	}
}

func TestDecideBrokenConfigs(t *testing.T) {
	up := []Change{{Package: "app", Old: "1.0.0", New: "1.1.0"}}
	broken := func(running bool) svcInput {
		s := svc("web", "app", running, defaults)
		s.cfgErr = errors.New("config: line 3: syntax error")
		return s
	}
	runPlanCase(t, planCase{changes: up, services: []svcInput{broken(true)}, fail: "its config does not evaluate"})
	runPlanCase(t, planCase{changes: up, services: []svcInput{broken(false)}, warn: "cannot tell whether a change of app would stop or restart it"})
}

func TestDecideNewServicesAndRolls(t *testing.T) {
	noStop := defaults
	noStop.StopOnUpgrade = false
	up := []Change{{Package: "app", Old: "1.0.0", New: "1.1.0"}}
	inst := func(n string) svcInput {
		s := svc(n, "app", true, noStop)
		s.base, s.instance, s.rollingBatch, s.gate = "worker", strings.TrimPrefix(n, "worker@"), 2, "pid"
		return s
	}
	in := &planInputs{changes: up, oldSet: map[string]string{"app": "1.0.0"}, newSet: map[string]string{"app": "1.1.0"}, files: map[string]string{},
		known: map[string]bool{"worker": true}, newServices: map[string][]string{"app": {"worker", "cron"}},
		services: []svcInput{inst("worker@a"), inst("worker@b"), inst("worker@c")}, gOld: graph(t, nil), gNew: graph(t, nil)}
	plan, err := decide(in, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range plan.Actions {
		got = append(got, fmt.Sprintf("%s %s %s %d/%d", a.Action, a.Service, a.Gate, a.Roll, a.RollOf))
	}
	want := "restart-after worker@a pid 1/2,restart-after worker@b pid 1/2,restart-after worker@c pid 2/2,new cron  0/0"
	if strings.Join(got, ",") != want {
		t.Errorf("actions %q,\nwant %q", strings.Join(got, ","), want)
	}
}
