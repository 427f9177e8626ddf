package upgrade

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"
	"strings"
	"testing"
	"time"
)

// upgradePlaypen: lib (no services) <- db <- app {app, worker}; a project
// service with a filedep; app restarts (not stops) on dependency upgrades.
func upgradePlaypen(t *testing.T) *tp {
	files := merge(
		pkgFiles("lib", "1.0.0", nil, "", ""),
		pkgFiles("db", "1.0.0", []string{"db"}, "lib >= 1.0\n", ""),
		pkgFiles("app", "1.0.0", []string{"app", "worker"}, "db >= 1.0, < 2\n", `service_depends=db
if [ "$SERVICE_NAME" = app ]; then service_stop_on_dep_upgrade=0; fi
`),
		project("fd", "sleep", "service_filedeps=etc/shared.conf\n"),
		map[string]string{
			"ext/etc/installed-packages":                "lib 1.0.0\ndb 1.0.0\napp 1.0.0\n",
			"ext/packages/lib-1.0.0/lib-1.0.0.files":    "etc/shared.conf\next/lib/liblib.so\n",
			"ext/packages/lib-1.0.0/lib-1.0.0.services": "",
		},
	)
	x := newTP(t, files)
	for _, s := range []string{"db", "app", "worker"} {
		if _, err := install.NewService(x.p.Playpen, s); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func actions(p *Plan) string {
	var b strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%s %s %s %s\n", a.Action, a.Service, a.Reason, a.Policy)
	}
	return b.String()
}

func TestPlanPolicies(t *testing.T) {
	x := upgradePlaypen(t)
	if err := lifecycle.FirstError(x.reopen().StartMany(bg, []string{"db", "app", "worker", "fd"}, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	// lib changes: everything depends on it, transitively; the reason is
	// lib (the package of the upgrade set), not db in between.
	plan, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"lib=1.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `stop-before worker lib service_stop_on_dep_upgrade
stop-before db lib service_stop_on_dep_upgrade
start-after db lib service_stop_on_dep_upgrade
restart-after app lib service_restart_on_dep_upgrade
restart-after fd etc/shared.conf service_stop_on_filedep
start-after worker lib service_stop_on_dep_upgrade
`
	if got := actions(plan); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	// Own package upgrade; a stopped service stays stopped (not listed).
	x.reopen().Stop(bg, "worker")
	plan, err = MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"app=1.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(plan); got != "stop-before app app service_stop_on_upgrade\nstart-after app app service_stop_on_upgrade\n" {
		t.Fatalf("own upgrade:\n%s", got)
	}
	// Files given by hand.
	plan, _ = MakePlan(bg, x.reopen(), PlanOptions{Files: []string{"./etc/shared.conf"}})
	if got := actions(plan); got != "restart-after fd etc/shared.conf service_stop_on_filedep\n" {
		t.Fatalf("files:\n%s", got)
	}
	// A downgrade is refused unless allowed.
	if _, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"db=0.9"}}); pkgsvc.KindOf(err) != pkgsvc.KindFailed || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("downgrade: %v", err)
	}
	if _, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"db=0.9"}, AllowDowngrade: true}); err != nil {
		t.Fatal(err)
	}
	// A version that breaks a constraint is reported, and pre refuses it.
	plan, _ = MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"db=2.0.0"}})
	if len(plan.Errors) != 1 || !strings.Contains(plan.Errors[0], "app 1.0.0 needs db >= 1.0, < 2") {
		t.Fatalf("constraint: %q", plan.Errors)
	}
	if _, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=2.0.0"}}}); err == nil {
		t.Fatal("pre accepted a broken constraint")
	}
	if s, _ := x.reopen().Status(bg, "db"); s.State != pkgsvc.StateRunning {
		t.Fatal("a refused pre stopped something")
	}
	// Removal: the package's services are removed.
	plan, _ = MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"app="}})
	if got := actions(plan); !strings.Contains(got, "remove app app") {
		t.Fatalf("removal:\n%s", got)
	}
	data, _ := json.Marshal(plan)
	if strings.Contains(string(data), "null") {
		t.Errorf("null in plan JSON: %s", data)
	}
	// Why: the blast radius of lib, running or not, with the chain.
	why, err := Why(bg, x.reopen(), "lib")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range why.Actions {
		if a.Service == "app" && a.Chain == "app depends on db depends on lib" && a.Policy == "service_restart_on_dep_upgrade" {
			found = true
		}
	}
	if !found {
		t.Fatalf("why lib: %+v", why.Actions)
	}
	if why, _ := Why(bg, x.reopen(), "etc/shared.conf"); !strings.Contains(actions(why), "fd") {
		t.Fatalf("why file: %s", actions(why))
	}
}

func TestUpgradePrePost(t *testing.T) {
	x := upgradePlaypen(t)
	if err := lifecycle.FirstError(x.reopen().StartMany(bg, []string{"db", "app", "worker"}, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	appPid := x.pid("app")
	// The new db is unpacked beside the old one, as a package manager does.
	for rel, c := range pkgFiles("db", "1.1.0", []string{"db"}, "lib >= 1.0\n", "") {
		os.MkdirAll(filepath.Dir(filepath.Join(x.root, rel)), 0o755)
		os.WriteFile(filepath.Join(x.root, rel), []byte(strings.ReplaceAll(c, "@BIN@", testBin)), 0o644)
	}
	plan, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.1.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Running) != 3 {
		t.Fatalf("running recorded: %v", plan.Running)
	}
	for _, n := range []string{"db", "worker"} {
		if s, _ := x.reopen().Status(bg, n); s.State != pkgsvc.StateStopped {
			t.Fatalf("%s not stopped by pre: %s", n, s.State)
		}
	}
	if _, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.1.0"}}}); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("second pre: %v", err)
	}
	os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte("lib 1.0.0\ndb 1.1.0\napp 1.0.0\n"), 0o644)
	if _, err := Post(bg, x.reopen(), Options{}); err != nil {
		t.Fatal(err)
	}
	if pending, _ := JournalPending(x.p.Playpen); pending {
		t.Fatal("journal left after post")
	}
	p := x.reopen()
	for _, n := range []string{"db", "app", "worker"} {
		s, _ := p.Status(bg, n)
		if s.State != pkgsvc.StateRunning || s.Stale {
			t.Fatalf("%s after post: %+v", n, s)
		}
	}
	if s, _ := p.Status(bg, "db"); s.Version != "1.1.0" || s.Upgraded {
		t.Fatalf("db: %+v (start-after is SERVICE_UPGRADED=0)", s)
	}
	if s, _ := p.Status(bg, "app"); !s.Upgraded || s.Pid == appPid {
		t.Fatalf("app must be restarted with SERVICE_UPGRADED=1: %+v", s)
	}
}

func TestStaleAfterUnmanagedChange(t *testing.T) {
	x := upgradePlaypen(t)
	if err := x.reopen().Start(bg, "db", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte("lib 1.0.1\ndb 1.0.0\napp 1.0.0\n"), 0o644)
	if s, _ := x.reopen().Status(bg, "db"); !s.Stale {
		t.Fatal("db runs with lib 1.0.0 while 1.0.1 is installed: it is stale")
	}
}

func TestValidateBeforeStop(t *testing.T) {
	x := upgradePlaypen(t)
	if err := x.reopen().Start(bg, "db", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	files := pkgFiles("db", "1.1.0", []string{"db"}, "", "service_required_envars=DB_PORT\nservice_envar_DB_PORT_type=port\n")
	files["ext/packages/db-1.1.0/db-1.1.0.config"] += "\nif then\n"
	for rel, c := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(x.root, rel)), 0o755)
		os.WriteFile(filepath.Join(x.root, rel), []byte(strings.ReplaceAll(c, "@BIN@", testBin)), 0o644)
	}
	_, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.1.0"}}})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "config:7") || !strings.Contains(err.Error(), "nothing was stopped") {
		t.Fatalf("syntax error in the new version: %v", err)
	}
	// Fixed syntax, but the new version needs a variable nobody set.
	files["ext/packages/db-1.1.0/db-1.1.0.config"] = strings.Replace(files["ext/packages/db-1.1.0/db-1.1.0.config"], "\nif then\n", "", 1)
	os.WriteFile(filepath.Join(x.root, "ext/packages/db-1.1.0/db-1.1.0.config"), []byte(strings.ReplaceAll(files["ext/packages/db-1.1.0/db-1.1.0.config"], "@BIN@", testBin)), 0o644)
	_, err = Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.1.0"}}})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "DB_PORT is required") {
		t.Fatalf("typed env of the new version: %v", err)
	}
	if s, _ := x.reopen().Status(bg, "db"); s.State != pkgsvc.StateRunning {
		t.Fatal("validation failure stopped db")
	}
	if pending, _ := JournalPending(x.p.Playpen); pending {
		t.Fatal("journal written although pre refused")
	}
}

func TestJournalChecks(t *testing.T) {
	for _, c := range []struct{ data, want string }{
		{"{", "corrupt"},
		{`{"playpen_root":"/elsewhere","plan":{"actions":[]}}`, "belongs to the playpen /elsewhere"},
		{`{"playpen_root":"/p","plan":{"actions":[{"service":"../x"}]}}`, "corrupt"},
		{`{"playpen_root":"/p"}`, "corrupt"},
	} {
		_, err := ParseJournal("j", []byte(c.data), "/p")
		if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.data, err)
		}
	}
}

func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"playpen_root":"/p","created":"2026-01-01T00:00:00Z","plan":{"changes":[],"files":[],"actions":[{"service":"a","package":"b","action":"remove","reason":"b","policy":""}],"errors":[],"running":["a"]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseJournal("j", data, "/p")
		if err == nil && (j.Plan == nil || j.Root != "/p") {
			t.Fatalf("accepted %q", data)
		}
	})
}

func TestPlanRefusesBrokenDeps(t *testing.T) {
	x := upgradePlaypen(t)
	os.WriteFile(filepath.Join(x.root, "ext/packages/lib-1.0.0/lib-1.0.0.deps"), []byte("app\n"), 0o644)
	_, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"db=1.0.1"}})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
	os.WriteFile(filepath.Join(x.root, "ext/packages/lib-1.0.0/lib-1.0.0.deps"), []byte("\nzlib >>= 1\n"), 0o644)
	_, err = Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.0.1"}}})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "lib-1.0.0.deps:2") {
		t.Fatalf("bad constraint: %v", err)
	}
	if _, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"db=1.x"}}); pkgsvc.KindOf(err) != pkgsvc.KindUsage { // a command-line version: usage (issue 28)
		t.Fatalf("bad version: %v", err)
	}
}

// BenchmarkUpgradePlan: one package that 500 of 1,000 services depend on,
// in a playpen of 200 packages.
func BenchmarkUpgradePlan(b *testing.B) {
	root := genPlaypen(b, 1000)
	os.MkdirAll(filepath.Join(root, "ext/packages/core-1.0.0"), 0o755)
	os.WriteFile(filepath.Join(root, "ext/packages/core-1.0.0/core-1.0.0.services"), nil, 0o644)
	list, _ := os.ReadFile(filepath.Join(root, "ext/etc/installed-packages"))
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), append(list, "core 1.0.0\n"...), 0o644)
	for i := 0; i < 100; i++ { // packages 0..99 hold services 0..499
		ver := fmt.Sprintf("1.%d.0-1", (i*5)%7)
		d := filepath.Join(root, "ext/packages", fmt.Sprintf("pkg%03d-%s", i, ver))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, fmt.Sprintf("pkg%03d-%s.deps", i, ver)), []byte("core >= 1\n"), 0o644)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := openBench(b, root)
		plan, err := MakePlan(bg, p, PlanOptions{Set: []string{"core=1.1.0"}, All: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(plan.Actions) != 1000 { // 500 stop-before + 500 start-after
			b.Fatalf("%d actions", len(plan.Actions))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/plan")
}

// BenchmarkUpgradeRestart100: 100 running services in 20 packages that
// depend on lib; lib is upgraded with pre + post (what `upgrade run`
// does around the package manager). The first package's s000 is a
// service_depends of all others, so the order is constrained: it is
// stopped last and started first. Reports the wall time of pre + post
// with the default --jobs, and checks every service runs again, on a new
// process, afterwards.
func BenchmarkUpgradeRestart100(b *testing.B) {
	files := merge(pkgFiles("lib", "1.0.0", nil, "", ""), pkgFiles("lib", "1.1.0", nil, "", ""),
		map[string]string{"ext/etc/installed-packages": "lib 1.0.0\n"})
	var names []string
	inst := "lib 1.0.0\n"
	for p := 0; p < 20; p++ {
		var svcs []string
		for i := 0; i < 5; i++ {
			svcs = append(svcs, fmt.Sprintf("s%03d", p*5+i))
		}
		extra := "service_depends=s000\n"
		if p == 0 {
			extra = `if [ "$SERVICE_NAME" != s000 ]; then service_depends=s000; fi` + "\n"
		}
		files = merge(files, pkgFiles(fmt.Sprintf("p%02d", p), "1.0.0", svcs, "lib >= 1\n", extra))
		inst += fmt.Sprintf("p%02d 1.0.0\n", p)
		names = append(names, svcs...)
	}
	files["ext/etc/installed-packages"] = inst
	x := newTPB(b, files)
	for _, n := range names {
		if _, err := install.NewService(x.p.Playpen, n); err != nil {
			b.Fatal(err)
		}
	}
	if err := lifecycle.FirstError(openBench(b, x.root).StartMany(bg, names, lifecycle.ManyOptions{})); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		before := map[string]int{}
		sts, _ := openBench(b, x.root).StatusMany(bg, names)
		for _, s := range sts {
			before[s.Service] = s.Pid
		}
		to := "1.1.0" // and back down on odd rounds
		if i%2 == 1 {
			to = "1.0.0"
		}
		t0 := time.Now()
		plan, err := Pre(bg, openBench(b, x.root), Options{PlanOptions: PlanOptions{Set: []string{"lib=" + to}, AllowDowngrade: true}})
		if err != nil {
			b.Fatal(err)
		}
		if len(plan.Running) != 100 {
			b.Fatalf("pre recorded %d running", len(plan.Running))
		}
		os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte(strings.Replace(inst, "lib 1.0.0", "lib "+to, 1)), 0o644)
		if _, err := Post(bg, openBench(b, x.root), Options{}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		sts, errs := openBench(b, x.root).StatusMany(bg, names)
		if len(errs) > 0 || len(sts) != 100 {
			b.Fatalf("status after upgrade: %v", errs)
		}
		for _, s := range sts {
			if s.State != pkgsvc.StateRunning || s.Pid == before[s.Service] {
				b.Fatalf("%s after upgrade: %s pid %d (was %d)", s.Service, s.State, s.Pid, before[s.Service])
			}
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/upgrade")
}

// BenchmarkRollingUpgrade10: 10 instances of one template, restarted
// (service_stop_on_upgrade=0) by an upgrade of their package, one at a
// time (service_rolling_batch=1), each gated on the pid check, which
// passes at once. Beside it, the restart of one instance alone. Issue
// 16's bound: the roll within 10 × (restart + 50 ms).
func BenchmarkRollingUpgrade10(b *testing.B) {
	extra := "service_template=1\nservice_stop_on_upgrade=0\n"
	files := merge(pkgFiles("web", "1.0.0", []string{"web"}, "", extra), pkgFiles("web", "1.1.0", []string{"web"}, "", extra),
		map[string]string{"ext/etc/installed-packages": "web 1.0.0\n"})
	x := newTPB(b, files)
	if _, err := install.NewService(x.p.Playpen, "web"); err != nil {
		b.Fatal(err)
	}
	var names []string
	for i := 0; i < 10; i++ {
		names = append(names, fmt.Sprintf("web@%d", i))
	}
	if err := lifecycle.FirstError(openBench(b, x.root).StartMany(bg, names, lifecycle.ManyOptions{})); err != nil {
		b.Fatal(err)
	}
	var roll, restart time.Duration
	for i := 0; i < b.N; i++ {
		to := "1.1.0"
		if i%2 == 1 {
			to = "1.0.0"
		}
		t0 := time.Now()
		plan, err := Pre(bg, openBench(b, x.root), Options{PlanOptions: PlanOptions{Set: []string{"web=" + to}, AllowDowngrade: true}})
		if err != nil {
			b.Fatal(err)
		}
		if plan.Actions[9].RollOf != 10 {
			b.Fatalf("not a roll of 10: %+v", plan.Actions)
		}
		os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte("web "+to+"\n"), 0o644)
		if _, err := Post(bg, openBench(b, x.root), Options{}); err != nil {
			b.Fatal(err)
		}
		roll += time.Since(t0)
		t1 := time.Now()
		if err := openBench(b, x.root).Restart(bg, "web@0", lifecycle.RestartOptions{}); err != nil {
			b.Fatal(err)
		}
		restart += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(roll.Milliseconds())/n, "roll-ms/op")
	b.ReportMetric(float64(restart.Milliseconds())/n, "restart-ms/op")
	b.ReportMetric(10*(float64(restart.Milliseconds())/n+50), "bound-ms/op")
}

// TestPreMergesPendingJournal: with Merge, a second pre (dpkg unpacks
// db.deb and app.deb before configuring either) folds into the pending
// journal instead of being refused; the one post then brings every
// service that ran before either pre up on the new versions.
func TestPreMergesPendingJournal(t *testing.T) {
	x := upgradePlaypen(t)
	if err := lifecycle.FirstError(x.reopen().StartMany(bg, []string{"db", "app", "worker"}, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	for _, pv := range []struct{ name, deps string }{{"db", "lib >= 1.0\n"}, {"app", "db >= 1.0, < 2\n"}} {
		svcs, extra := []string{pv.name}, ""
		if pv.name == "app" {
			svcs, extra = []string{"app", "worker"}, "service_depends=db\n"
		}
		for rel, c := range pkgFiles(pv.name, "1.1.0", svcs, pv.deps, extra) {
			os.MkdirAll(filepath.Dir(filepath.Join(x.root, rel)), 0o755)
			os.WriteFile(filepath.Join(x.root, rel), []byte(strings.ReplaceAll(c, "@BIN@", testBin)), 0o644)
		}
	}
	if _, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"db=1.1.0"}}, Merge: true}); err != nil {
		t.Fatal(err)
	}
	// Without Merge a second pre is refused; with it, it folds in.
	if _, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"app=1.1.0"}}}); err == nil {
		t.Fatal("a second pre without Merge was not refused")
	}
	if _, err := Pre(bg, x.reopen(), Options{PlanOptions: PlanOptions{Set: []string{"app=1.1.0"}}, Merge: true}); err != nil {
		t.Fatal(err)
	}
	j, err := ReadJournal(x.reopen().Playpen)
	if err != nil || j == nil {
		t.Fatalf("journal: %v", err)
	}
	got := map[string]string{}
	for _, c := range j.Plan.Changes {
		got[c.Package] = c.Old + ">" + c.New
	}
	if got["db"] != "1.0.0>1.1.0" || got["app"] != "1.0.0>1.1.0" || len(j.Plan.Running) != 3 {
		t.Fatalf("merged journal: changes %v, running %v", got, j.Plan.Running)
	}
	os.WriteFile(filepath.Join(x.root, "ext/etc/installed-packages"), []byte("lib 1.0.0\ndb 1.1.0\napp 1.1.0\n"), 0o644)
	if _, err := Post(bg, x.reopen(), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"db", "app", "worker"} {
		if s, _ := x.reopen().Status(bg, n); s.State != pkgsvc.StateRunning || s.Version != "1.1.0" || s.Stale {
			t.Errorf("%s after the merged upgrade: %+v", n, s)
		}
	}
}

// TestPlanShowsTheNewVersionsGate (issue 28): the gate a plan shows is
// the one of the version that will run: 1.1's service_ping and
// service_health_timeout, while 1.0 has none.
func TestPlanShowsTheNewVersionsGate(t *testing.T) {
	x := newTP(t, merge(
		pkgFiles("web", "1.0.0", []string{"web"}, "", ""),
		pkgFiles("web", "1.1.0", []string{"web"}, "", "service_ping='true'\nservice_health_timeout=42\n"),
		map[string]string{"ext/etc/installed-packages": "web 1.0.0\n"},
	))
	if _, err := install.NewService(x.p.Playpen, "web"); err != nil {
		t.Fatal(err)
	}
	if err := x.p.Start(bg, "web", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(bg, x.reopen(), PlanOptions{Set: []string{"web=1.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	var got *Action
	for i := range plan.Actions {
		if plan.Actions[i].Service == "web" && plan.Actions[i].Action != ActStopBefore {
			got = &plan.Actions[i]
		}
	}
	if got == nil || got.Gate != "service_ping" || got.HealthTimeout != 42 {
		t.Errorf("web's gate in the plan: %+v, want 1.1's service_ping within 42 s", got)
	}
}
