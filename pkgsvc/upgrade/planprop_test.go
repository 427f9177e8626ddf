package upgrade

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestPlanIsWhatRuns is the property of §8.6: on generated playpens
// (packages with .deps, the four policies, filedeps, running and stopped
// services, template instances), upgrade pre + post does exactly what the
// plan said to each service, no more: stop-before/start-after and
// restart-after change its pid and leave it running; untouched or
// unlisted running services keep their pid (and show stale when what they
// depend on changed); stopped services stay stopped.
func TestPlanIsWhatRuns(t *testing.T) {
	trials := 12
	if testing.Short() {
		trials = 2
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for trial := 0; trial < trials; trial++ {
		r := rand.New(rand.NewPCG(seed, uint64(trial)))
		t.Run(fmt.Sprint(trial), func(t *testing.T) { planProperty(t, r) })
	}
}

type genService struct {
	name, pkg string
	template  bool
}

func planProperty(t *testing.T, r *rand.Rand) {
	nPkg := 3 + r.IntN(3)
	files := map[string]string{}
	var installed []string
	var services []genService
	pkgs := make([]string, nPkg)
	for i := range pkgs {
		pkgs[i] = fmt.Sprintf("p%d", i)
	}
	bit := func() int { return r.IntN(2) }
	newer := map[string]bool{}
	for i, pkg := range pkgs {
		var deps []string
		for j := 0; j < i; j++ {
			if r.IntN(3) == 0 {
				deps = append(deps, pkgs[j])
			}
		}
		var svcs []string
		for k := r.IntN(3); k > 0; k-- {
			name := fmt.Sprintf("%s_s%d", pkg, k)
			svcs = append(svcs, name)
			services = append(services, genService{name: name, pkg: pkg, template: r.IntN(5) == 0})
		}
		var extra strings.Builder
		for _, s := range services {
			if s.pkg != pkg {
				continue
			}
			fmt.Fprintf(&extra, "if [ \"$SERVICE_NAME\" = %s ]; then\n", s.name)
			fmt.Fprintf(&extra, "  service_stop_on_upgrade=%d\n  service_stop_on_dep_upgrade=%d\n  service_restart_on_dep_upgrade=%d\n  service_stop_on_filedep=%d\n",
				bit(), bit(), bit(), bit())
			if r.IntN(3) == 0 {
				extra.WriteString("  service_filedeps=etc/shared.conf\n")
			}
			if s.template {
				extra.WriteString("  service_template=1\n")
			}
			extra.WriteString("fi\n")
		}
		depText := ""
		for _, d := range deps {
			depText += d + "\n"
		}
		for _, ver := range []string{"1.0", "1.1"} {
			for k, v := range pkgFiles(pkg, ver, svcs, depText, extra.String()) {
				files[k] = v
			}
		}
		installed = append(installed, pkg+" 1.0")
		newer[pkg] = r.IntN(2) == 0
	}
	files["ext/etc/installed-packages"] = strings.Join(installed, "\n") + "\n"
	files["etc/project-services"] = "\n"
	files["ext/packages/p0-1.0/p0-1.0.files"] = "etc/shared.conf\n"
	x := newTP(t, files)
	var running []string
	for _, s := range services {
		if _, err := install.NewService(x.p.Playpen, s.name); err != nil {
			t.Fatal(err)
		}
		if s.template {
			for _, in := range []string{"a", "b"} {
				if r.IntN(3) > 0 {
					running = append(running, s.name+"@"+in)
				}
			}
		} else if r.IntN(3) > 0 {
			running = append(running, s.name)
		}
	}
	if err := lifecycle.FirstError(x.reopen().StartMany(bg, running, lifecycle.ManyOptions{NoDeps: true})); err != nil {
		t.Fatal(err)
	}
	var set []string
	for _, pkg := range pkgs {
		if newer[pkg] {
			set = append(set, pkg+"=1.1")
		}
	}
	var withFiles []string
	if r.IntN(3) == 0 {
		withFiles = []string{"etc/shared.conf"}
	}
	if len(set) == 0 && withFiles == nil {
		set = []string{pkgs[0] + "=1.1"}
		newer[pkgs[0]] = true
	}
	o := Options{PlanOptions: PlanOptions{Set: set, Files: withFiles}}
	plan, err := MakePlan(bg, x.reopen(), o.PlanOptions)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	for _, n := range running {
		before[n] = x.pid(n)
	}
	if _, err := Pre(bg, x.reopen(), o); err != nil {
		t.Fatalf("pre: %v\nplan:\n%s", err, actions(plan))
	}
	var now []string
	for _, pkg := range pkgs {
		v := "1.0"
		if newer[pkg] {
			v = "1.1"
		}
		now = append(now, pkg+" "+v)
	}
	os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte(strings.Join(now, "\n")+"\n"), 0o644)
	if _, err := Post(bg, x.reopen(), o); err != nil {
		t.Fatalf("post: %v\nplan:\n%s", err, actions(plan))
	}

	act := map[string]string{}
	for _, a := range plan.Actions {
		if a.Action == ActStopBefore {
			act[a.Service] = ActStopBefore // its start-after follows
			continue
		}
		if act[a.Service] == "" {
			act[a.Service] = a.Action
		}
	}
	p := x.reopen()
	isRunning := map[string]bool{}
	for _, n := range running {
		isRunning[n] = true
	}
	var names []string
	for _, s := range services {
		if s.template {
			names = append(names, s.name+"@a", s.name+"@b")
		} else {
			names = append(names, s.name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		st, err := p.Status(bg, n)
		if err != nil {
			t.Fatal(err)
		}
		a := act[n]
		switch {
		case !isRunning[n]:
			if st.State != pkgsvc.StateStopped {
				t.Errorf("%s was stopped and is %s after the upgrade (plan: %q)", n, st.State, a)
			}
		case a == ActStopBefore || a == ActRestartAfter:
			if st.State != pkgsvc.StateRunning || st.Pid == before[n] {
				t.Errorf("%s: plan %s, but it is %s with pid %d (was %d)", n, a, st.State, st.Pid, before[n])
			}
			if st.Stale {
				t.Errorf("%s: plan %s, but it still runs stale code", n, a)
			}
		default: // untouched or not in the plan
			if st.State != pkgsvc.StateRunning || st.Pid != before[n] {
				t.Errorf("%s: plan %q (leave it), but it is %s with pid %d (was %d)", n, a, st.State, st.Pid, before[n])
			}
			if a == ActUntouched && !st.Stale {
				t.Errorf("%s: left running on old code by the plan, but not shown stale", n)
			}
		}
	}
	if t.Failed() {
		t.Logf("upgrade %v files %v\nplan:\n%s", set, withFiles, actions(plan))
	}
}

// TestPlanRunsNoUserCode: planning reads state; it never runs a hook
// (here the service_ping of a service_no_pidfile service).
func TestPlanRunsNoUserCode(t *testing.T) {
	dir := t.TempDir()
	marker, up := filepath.Join(dir, "pinged"), filepath.Join(dir, "up")
	files := merge(pkgFiles("np", "1.0", []string{"np"}, "",
		"service_no_pidfile=1\nservice_start='touch "+up+"'\nservice_stop='rm -f "+up+"'\nservice_ping='touch "+marker+"; test -e "+up+"'\n"))
	files["ext/etc/installed-packages"] = "np 1.0\n"
	x := newTP(t, files)
	if _, err := install.NewService(x.p.Playpen, "np"); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Start(bg, "np", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(marker)
	plan, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"np=1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("upgrade plan ran service_ping")
	}
	if len(plan.Running) != 1 || plan.Running[0] != "np" {
		t.Errorf("a started no-pidfile service is not planned as running: %v", plan.Running)
	}
}
