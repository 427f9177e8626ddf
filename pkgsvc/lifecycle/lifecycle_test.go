package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bg = context.Background()

func TestStartStatusStop(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "service_flags=(--name \"two words\")\n")))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("web")
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if strings.TrimSpace(string(comm)) != "web" {
		t.Errorf("comm = %q, want the run name", comm)
	}
	info, _ := proc.ReadArgs(pid)
	if info.Sid != pid {
		t.Errorf("does not lead its own session: sid %d", info.Sid)
	}
	if info.Argv0 != filepath.Join(x.p.LinkDir, "web") {
		t.Errorf("argv[0] = %q", info.Argv0)
	}
	if info.Pgrp != pid {
		t.Errorf("not its own process group leader: pgrp %d", info.Pgrp)
	}
	st, err := pkgsvc.ReadState(filepath.Join(x.p.RunVar, "web.state"))
	if err != nil || st.Pid != pid || st.StartTime != info.StartTime {
		t.Fatalf("state %+v %v", st, err)
	}
	waitFor(t, 5*time.Second, func() error {
		out, _ := os.ReadFile(filepath.Join(x.p.RunVar, "web.output"))
		if !strings.Contains(string(out), `["--name" "two words"]`) {
			return fmt.Errorf("output %q", out)
		}
		return nil
	})
	// A second start of a running service is a no-op (§4.3).
	p2 := x.reopen()
	if err := p2.Start(bg, "web", StartOptions{}); err != nil || x.pid("web") != pid {
		t.Fatalf("second start: %v, pid %d -> %d", err, pid, x.pid("web"))
	}
	s, err := p2.Status(bg, "web")
	if err != nil || s.State != pkgsvc.StateRunning || s.Pid != pid || s.StartedAt == nil {
		t.Fatalf("status %+v %v", s, err)
	}
	if err := p2.Stop(bg, "web"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(filepath.Join(x.p.RunVar, "web.pid")); !os.IsNotExist(err) {
		t.Error("pidfile left after stop")
	}
	if s, _ := x.reopen().Status(bg, "web"); s.State != pkgsvc.StateStopped {
		t.Errorf("after stop: %s", s.State)
	}
	// Stopping a stopped service is fine.
	if err := x.p.Stop(bg, "web"); err != nil {
		t.Fatal(err)
	}
}

func TestServiceEnvironmentIsClean(t *testing.T) {
	x := newTP(t, merge(project("envd", "env", "export HELPER_OUT=$PLAYPEN_ROOT/env.json\nservice_workdir=var\nX_FROM_CONFIG=notexported\n"),
		map[string]string{
			"etc/project.conf": "FROM_PROJECT=1\n",
			"etc/unsanitized":  "KEEP_ME\n",
		}))
	os.MkdirAll(filepath.Join(x.root, "var"), 0o755)
	t.Setenv("KEEP_ME", "kept")
	t.Setenv("DROP_ME", "dropped")
	p, err := Open(pkgsvc.OpenOptions{Root: x.root, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(bg, "envd", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env  map[string]string
		Args []string
		Wd   string
	}
	waitFor(t, 5*time.Second, func() error {
		data, err := os.ReadFile(filepath.Join(x.root, "env.json"))
		if err != nil {
			return err
		}
		return json.Unmarshal(data, &got)
	})
	want := map[string]string{
		"FROM_PROJECT": "1", "KEEP_ME": "kept", "SERVICE_NAME": "envd", "SERVICE_INSTANCE": "",
		"SERVICE_PIDFILE": filepath.Join(p.RunVar, "envd.pid"), "SERVICE_UPGRADED": "0", "PLAYPEN_ROOT": x.root,
		"LOCAL_VAR": p.LocalVar, "LOCAL_RUNVAR": p.RunVar, "SERVICE_VERSION": "", "SERVICE_OUTPUT_FILE": filepath.Join(p.RunVar, "envd.output"),
	}
	for k, v := range want {
		if g, ok := got.Env[k]; !ok || g != v {
			t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
		}
	}
	for _, k := range []string{"DROP_ME", "X_FROM_CONFIG"} {
		if _, ok := got.Env[k]; ok {
			t.Errorf("%s leaked into the service environment", k)
		}
	}
	if !strings.HasPrefix(got.Env["PATH"], x.root+"/bin:"+x.root+"/ext/bin:") {
		t.Errorf("PATH = %q", got.Env["PATH"])
	}
	if got.Wd != filepath.Join(x.root, "var") {
		t.Errorf("workdir %q", got.Wd)
	}
}

func TestPidfileNamingAForeignProcess(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "")))
	other := foreign(t)
	os.MkdirAll(x.p.RunVar, 0o755)
	pidfile := filepath.Join(x.p.RunVar, "web.pid")
	os.WriteFile(pidfile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)

	s, _ := x.p.Status(bg, "web")
	if s.State != pkgsvc.StateDead {
		t.Fatalf("status of a pidfile naming another process: %s", s.State)
	}
	if err := x.reopen().Ping(bg, "web"); pkgsvc.KindOf(err) != pkgsvc.KindNotRunning {
		t.Fatalf("ping: %v", err)
	}
	if err := x.reopen().Stop(bg, "web"); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Restart(bg, "web", RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Reload(bg, "web"); err == nil {
		t.Fatal("reload without service_hup succeeded")
	}
	// And the same with a state file that records the foreign pid but
	// another start time: the pid was reused.
	x.reopen().Stop(bg, "web")
	os.WriteFile(pidfile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)
	info, _ := proc.ReadArgs(other.Process.Pid)
	pkgsvc.WriteState(filepath.Join(x.p.RunVar, "web.state"), &pkgsvc.State{Pid: other.Process.Pid, StartTime: info.StartTime + 1, Argv0: info.Argv0})
	if s, _ := x.reopen().Status(bg, "web"); s.State != pkgsvc.StateDead {
		t.Fatalf("reused pid: %s", s.State)
	}
	x.reopen().Stop(bg, "web")
	if !alive(other.Process.Pid) {
		t.Fatal("servicectl killed a process that was not its own")
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Error("stale pidfile not removed by stop")
	}
}

func TestGarbagePidfile(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "")))
	os.MkdirAll(x.p.RunVar, 0o755)
	os.WriteFile(filepath.Join(x.p.RunVar, "web.pid"), []byte("garbage\x00\n"), 0o644)
	s, _ := x.p.Status(bg, "web")
	if s.State != pkgsvc.StateDead || !strings.Contains(s.Detail, "not a pid") {
		t.Fatalf("status %+v", s)
	}
	if err := x.reopen().Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if x.pid("web") <= 0 {
		t.Fatal("no pid after start")
	}
}

func TestStartFailures(t *testing.T) {
	x := newTP(t, merge(
		project("dies", "exit", "export HELPER_CODE=3\n"),
		map[string]string{
			"services/missing/config":  "service_program=/nonexistent/prog\n",
			"services/noexec/config":   "service_program=noexec\n",
			"bin/noexec":               "#!/bin/sh\n",
			"services/badvalue/config": "service_program=@BIN@\nservice_stop_timeout=ten\n",
			"services/syntax/config":   "service_program=@BIN@\nif then\n",
			"services/tmpl/config":     "service_program=@BIN@\nservice_template=1\n",
		},
	))
	cases := []struct {
		name string
		code pkgsvc.Kind
		want []string
	}{
		{"dies", pkgsvc.KindFailed, []string{"dies", "exited within service_start_secs", "helper: failing on purpose"}},
		{"missing", pkgsvc.KindFailed, []string{"/nonexistent/prog does not exist"}},
		{"noexec", pkgsvc.KindFailed, []string{"not executable"}},
		{"badvalue", pkgsvc.KindConfig, []string{`service_stop_timeout="ten"`, "services/badvalue/config"}},
		{"syntax", pkgsvc.KindConfig, []string{"services/syntax/config:2"}},
		{"tmpl", pkgsvc.KindUsage, []string{"template"}},
		{"nosuch", pkgsvc.KindUnknown, []string{"unknown service"}},
		{"../etc", pkgsvc.KindUsage, []string{"not valid"}},
		{"a/b", pkgsvc.KindUsage, []string{"not valid"}},
	}
	for _, c := range cases {
		err := x.reopen().Start(bg, c.name, StartOptions{})
		if pkgsvc.KindOf(err) != c.code {
			t.Errorf("%s: code %d (%v), want %d", c.name, pkgsvc.KindOf(err), err, c.code)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.name, err, w)
			}
		}
		if _, err := os.Stat(filepath.Join(x.p.RunVar, c.name+".pid")); err == nil {
			t.Errorf("%s: pidfile left after a failed start", c.name)
		}
	}
	if l, err := os.Readlink(filepath.Join(x.p.LinkDir, "missing")); err == nil {
		t.Errorf("link to a missing target left: %s", l)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	x := newTP(t, merge(project("stubborn", "ignore-term", "service_stop_timeout=0.3\n")))
	if err := x.p.Start(bg, "stubborn", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("stubborn")
	if err := x.reopen().Stop(bg, "stubborn"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func TestOwnPidfileDaemon(t *testing.T) {
	x := newTP(t, merge(project("daemon", "daemonize", "service_own_pidfile=1\n")))
	if err := x.p.Start(bg, "daemon", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("daemon")
	if !alive(pid) {
		t.Fatal("the daemon's child is not running")
	}
	if s, _ := x.reopen().Status(bg, "daemon"); s.State != pkgsvc.StateRunning || s.Pid != pid {
		t.Fatalf("status %+v", s)
	}
	if err := x.reopen().Stop(bg, "daemon"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

func TestRestartPreferences(t *testing.T) {
	x := newTP(t, merge(
		project("plain", "sleep", "service_restart_delay=0.1\n"),
		project("hup", "sleep", "service_hup=1\n"),
	))
	// Restart of a stopped service starts it.
	if err := x.p.Restart(bg, "plain", RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	first := x.pid("plain")
	if err := x.reopen().Restart(bg, "plain", RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	second := x.pid("plain")
	if first == second || alive(first) {
		t.Fatalf("restart kept pid %d (alive %v)", second, alive(first))
	}
	if s, _ := x.reopen().Status(bg, "plain"); s.Restarts != 1 {
		t.Errorf("restarts = %d, want 1", s.Restarts)
	}
	if err := x.reopen().Start(bg, "hup", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	hpid := x.pid("hup")
	if err := x.reopen().Restart(bg, "hup", RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	if x.pid("hup") != hpid {
		t.Fatal("service_hup=1 restart changed the pid")
	}
	waitFor(t, 5*time.Second, func() error {
		out, _ := os.ReadFile(filepath.Join(x.p.RunVar, "hup.output"))
		if !strings.Contains(string(out), "got hangup") {
			return fmt.Errorf("no SIGHUP seen: %q", out)
		}
		return nil
	})
	if err := x.reopen().Reload(bg, "hup"); err != nil {
		t.Fatal(err)
	}
	// An upgrade restart never uses SIGHUP (§4.5).
	if err := x.reopen().Restart(bg, "hup", RestartOptions{Upgraded: true}); err != nil {
		t.Fatal(err)
	}
	if x.pid("hup") == hpid {
		t.Fatal("upgrade restart reused the pid via SIGHUP")
	}
	if s, _ := x.reopen().Status(bg, "hup"); !s.Upgraded {
		t.Error("upgrade restart not recorded")
	}
}

func TestConcurrentStartsAndRestarts(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "service_start_secs=0.05\n")))
	for _, op := range []string{"start", "restart"} {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := Open(pkgsvc.OpenOptions{Root: x.root, Env: []string{"PATH=" + os.Getenv("PATH")}})
				if err != nil {
					errs <- err
					return
				}
				if op == "start" {
					errs <- p.Start(bg, "web", StartOptions{})
				} else {
					errs <- p.Restart(bg, "web", RestartOptions{})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
		}
		pid := x.pid("web")
		if !alive(pid) {
			t.Fatalf("%s: pidfile names dead pid %d", op, pid)
		}
		if n := countLinkProcs(filepath.Join(x.p.LinkDir, "web")); n != 1 {
			t.Fatalf("%s: %d processes running, want 1", op, n)
		}
	}
}

// countLinkProcs counts live processes whose argv[0] is link.
func countLinkProcs(link string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, err := proc.ReadArgs(pid); err == nil && !info.Zombie && info.Argv0 == link {
			n++
		}
	}
	return n
}

func TestDependencyOrderAndCycles(t *testing.T) {
	x := newTP(t, merge(
		project("db", "sleep", ""),
		project("app", "sleep", "service_depends=db\n"),
		project("web", "sleep", "service_depends=\"app db\"\n"),
		project("c1", "sleep", "service_depends=c2\n"),
		project("c2", "sleep", "service_depends=c1\n"),
	))
	rs := x.p.StartMany(bg, []string{"web"}, ManyOptions{Jobs: 4})
	if err := FirstError(rs); err != nil {
		t.Fatal(err)
	}
	st := func(n string) time.Time {
		s, err := pkgsvc.ReadState(filepath.Join(x.p.RunVar, n+".state"))
		if err != nil {
			t.Fatal(err)
		}
		return s.StartedAt
	}
	// Each started after its dependency's start_secs passed.
	if !st("db").Before(st("app")) || !st("app").Before(st("web")) {
		t.Fatalf("order: db %v app %v web %v", st("db"), st("app"), st("web"))
	}
	rs = x.reopen().StartMany(bg, []string{"c1"}, ManyOptions{})
	err := FirstError(rs)
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "c1 -> c2 -> c1") && !strings.Contains(err.Error(), "c2 -> c1 -> c2") {
		t.Fatalf("cycle: %v", err)
	}
	// --no-deps starts only what is named.
	x.reopen().StopMany(bg, []string{"db", "app", "web"}, ManyOptions{})
	if err := FirstError(x.reopen().StartMany(bg, []string{"app"}, ManyOptions{NoDeps: true})); err != nil {
		t.Fatal(err)
	}
	if s, _ := x.reopen().Status(bg, "db"); s.State != pkgsvc.StateStopped {
		t.Fatalf("--no-deps started db: %s", s.State)
	}
}

func TestTypedEnvironmentRefusesStart(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", `service_required_envars="WEB_PORT"
service_envar_WEB_PORT_type=port
service_envar_WEB_PORT_description="HTTP port"
`)))
	err := x.p.Start(bg, "web", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), "WEB_PORT is required") || !strings.Contains(err.Error(), "HTTP port") {
		t.Fatalf("missing: %v", err)
	}
	os.WriteFile(filepath.Join(x.root, "etc/project.conf"), []byte("PORT_PREFIX=8000\nWEB_PORT_OFFSET=70000\n"), 0o644)
	err = x.reopen().Start(bg, "web", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), `WEB_PORT="78000"`) {
		t.Fatalf("bad: %v", err)
	}
	os.WriteFile(filepath.Join(x.root, "etc/project.conf"), []byte("PORT_PREFIX=8000\nWEB_PORT_OFFSET=80\n"), 0o644)
	if err := x.reopen().Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestHooksRunInOrder(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", `service_pre_start='echo "pre-start-var $1" >> "$PLAYPEN_ROOT/trace"'
service_post_stop='echo post-stop-var >> "$PLAYPEN_ROOT/trace"'
`), map[string]string{
		"services/web/pre-start":  "echo pre-start-file >> \"$PLAYPEN_ROOT/trace\"\n",
		"services/web/post-start": "echo post-start-file >> \"$PLAYPEN_ROOT/trace\"\necho garbage-on-stdout\n",
		"services/web/pre-stop*":  "#!/bin/sh\necho pre-stop-exec >> \"$PLAYPEN_ROOT/trace\"\nexit 1\n",
	}))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("web")
	err := x.reopen().Stop(bg, "web")
	if err == nil || !strings.Contains(err.Error(), "pre-stop failed") {
		t.Fatalf("a failed pre-stop must be reported: %v", err)
	}
	waitGone(t, pid) // ...and the service is stopped all the same
	trace, _ := os.ReadFile(filepath.Join(x.root, "trace"))
	want := "pre-start-var web\npre-start-file\npost-start-file\npre-stop-exec\npost-stop-var\n"
	if string(trace) != want {
		t.Fatalf("trace %q, want %q", trace, want)
	}
	out, _ := os.ReadFile(filepath.Join(x.p.RunVar, "web.output"))
	if !strings.Contains(string(out), "garbage-on-stdout") {
		t.Error("hook stdout did not go to the output file")
	}
	// A failing pre-start aborts the start.
	os.WriteFile(filepath.Join(x.root, "services/web/pre-start"), []byte("echo nope; exit 7\n"), 0o644)
	err = x.reopen().Start(bg, "web", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindFailed || !strings.Contains(err.Error(), "pre-start failed") {
		t.Fatalf("pre-start failure: %v", err)
	}
	if _, err := os.Stat(filepath.Join(x.p.RunVar, "web.pid")); err == nil {
		t.Fatal("started despite a failed pre-start")
	}
}

func TestInstances(t *testing.T) {
	x := newTP(t, merge(project("web", "env", "service_template=1\nexport HELPER_OUT=$PLAYPEN_ROOT/$SERVICE_INSTANCE.json\n")))
	rs := x.p.StartMany(bg, []string{"web@blue", "web@green"}, ManyOptions{})
	if err := FirstError(rs); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"blue", "green"} {
		pid := x.pid("web@" + in)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) != "web@"+in {
			t.Errorf("comm %q", comm)
		}
		waitFor(t, 5*time.Second, func() error {
			_, err := os.Stat(filepath.Join(x.root, in+".json"))
			return err
		})
	}
	sts, errs := x.reopen().StatusMany(bg, []string{"web"})
	if len(errs) != 0 || len(sts) != 2 {
		t.Fatalf("status of the template: %+v %v", sts, errs)
	}
	if err := x.reopen().Start(bg, "web", StartOptions{}); pkgsvc.KindOf(err) != pkgsvc.KindUsage {
		t.Fatalf("template without instance: %v", err)
	}
}

func TestRenderedConfigIsLiteral(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "service_config_files=web/app.conf\nexport TRICKY='$(touch pwned) `id` \"q\"'\n"), map[string]string{
		"ext/etc/web/app.conf": "svc=__SERVICE_NAME__\nv=__TRICKY__\n",
	}))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(x.p.LocalVar, "etc/web/app.conf"))
	if string(got) != "svc=web\nv=$(touch pwned) `id` \"q\"\n" {
		t.Fatalf("rendered %q", got)
	}
	for _, d := range []string{x.root, x.p.RunVar} {
		if _, err := os.Stat(filepath.Join(d, "pwned")); err == nil {
			t.Fatal("a value was executed")
		}
	}
}

func TestUnsafeStateDirectories(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "")))
	os.MkdirAll(filepath.Join(x.root, "elsewhere"), 0o755)
	os.Symlink(filepath.Join(x.root, "elsewhere"), filepath.Join(x.root, "var"))
	err := x.p.Start(bg, "web", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindFailed || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlinked LOCAL_VAR: %v", err)
	}
	os.Remove(filepath.Join(x.root, "var"))
	os.MkdirAll(filepath.Join(x.root, "var"), 0o777)
	os.Chmod(filepath.Join(x.root, "var"), 0o777)
	err = x.reopen().Start(bg, "web", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindFailed || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("world-writable LOCAL_VAR: %v", err)
	}
	os.Chmod(filepath.Join(x.root, "var"), 0o755)
}

// TestRunNameCollision (§4.2, issue 28): of two services with one run
// name, the first started holds it and the second is refused, without
// any start evaluating the other's config.
func TestRunNameCollision(t *testing.T) {
	x := newTP(t, merge(project("a", "sleep", "service_run_name=same\n"), project("b", "sleep", "service_run_name=same\n")))
	if err := x.p.Start(bg, "a", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	err := x.reopen().Start(bg, "b", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), `"same"`) {
		t.Fatalf("collision: %v", err)
	}
	if st, _ := x.reopen().Status(bg, "b"); st.State != pkgsvc.StateStopped {
		t.Errorf("b after the refusal: %s", st.State)
	}
	// Started together, before either holds the name: neither starts.
	x.reopen().Stop(bg, "a")
	os.RemoveAll(filepath.Join(x.p.RunVar, "runnames"))
	rs := x.reopen().StartMany(bg, []string{"a", "b"}, ManyOptions{})
	for _, r := range rs {
		if pkgsvc.KindOf(r.Err) != pkgsvc.KindConfig || !strings.Contains(r.Err.Error(), `"same"`) {
			t.Errorf("%s started together with its namesake: %v", r.Service, r.Err)
		}
	}
	if st, _ := x.reopen().Status(bg, "a"); st.State != pkgsvc.StateStopped {
		t.Errorf("a after starting together: %s", st.State)
	}
}

func TestNoPidfileService(t *testing.T) {
	x := newTP(t, merge(map[string]string{
		"services/ext/config": `service_no_pidfile=1
service_start='touch "$PLAYPEN_ROOT/up"'
service_ping='[ -e "$PLAYPEN_ROOT/up" ]'
service_stop='rm -f "$PLAYPEN_ROOT/up"'
`}))
	if s, _ := x.p.Status(bg, "ext"); s.State != pkgsvc.StateStopped {
		t.Fatalf("before: %s", s.State)
	}
	if err := x.reopen().Start(bg, "ext", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := x.reopen().Status(bg, "ext"); s.State != pkgsvc.StateRunning {
		t.Fatalf("after start: %s", s.State)
	}
	if err := x.reopen().Stop(bg, "ext"); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Ping(bg, "ext"); pkgsvc.KindOf(err) != pkgsvc.KindNotRunning {
		t.Fatalf("ping after stop: %v", err)
	}
}

func TestTestCommand(t *testing.T) {
	x := newTP(t, merge(project("a", "sleep", "service_test='exit 5'\n"), project("b", "sleep", "")))
	var e *pkgsvc.Error
	if err := x.p.Test(bg, "a"); !errors.As(err, &e) || e.Kind != pkgsvc.KindFailed || e.Status != 5 {
		t.Fatalf("test status %v", err)
	}
	if err := x.p.Test(bg, "b"); !errors.Is(err, ErrNoTest) {
		t.Fatalf("no test: %v", err)
	}
}

func TestLinkReplacedWhenTargetChanges(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "")))
	os.MkdirAll(x.p.LinkDir, 0o755)
	os.Symlink("/bin/true", filepath.Join(x.p.LinkDir, "web"))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(x.p.LinkDir, "web")); l != testBin {
		t.Fatalf("link -> %s", l)
	}
	_ = syscall.Getpid
}

// TestMatches: the quick status check accepts only a live process with
// the recorded start time and session, whatever it runs now.
func TestMatches(t *testing.T) {
	cmd := exec.Command(testBin)
	cmd.Env = append(os.Environ(), "HELPER=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	info, err := proc.ReadStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	want := proc.Want{StartTime: info.StartTime, Sid: pid}
	if !proc.Matches(pid, want) {
		t.Fatalf("live helper not recognised: %+v", info)
	}
	if proc.Matches(pid, proc.Want{StartTime: info.StartTime + 1, Sid: pid}) {
		t.Error("accepted another start time (a reused pid)")
	}
	if proc.Matches(pid, proc.Want{StartTime: info.StartTime, Sid: pid + 1}) {
		t.Error("accepted another session")
	}
	if proc.Matches(pid, proc.Want{Sid: pid}) || proc.Matches(1, want) {
		t.Error("accepted an unrecorded start time or pid 1")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if proc.Matches(pid, want) {
		t.Error("accepted a process that is gone")
	}
}

// TestReadSmallLongFile: the short-read shortcut must not cut a file
// longer than the first buffer.
func TestReadSmallLongFile(t *testing.T) {
	want := strings.Repeat("0123456789abcdef", 700) // 11200 bytes
	f := filepath.Join(t.TempDir(), "long")
	os.WriteFile(f, []byte(want), 0o644)
	got, err := fsio.ReadSnapshot(f)
	if err != nil || string(got) != want {
		t.Fatalf("read %d bytes of %d (%v)", len(got), len(want), err)
	}
}

// TestRunNameHolderKeepsIt: a service that started under a run name keeps
// it; a service added later under the same name is refused, and the
// holder still restarts.
func TestRunNameHolderKeepsIt(t *testing.T) {
	x := newTP(t, merge(project("a", "sleep", "service_run_name=same\n"), project("b", "sleep", "")))
	if err := x.p.Start(bg, "a", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(x.p.RunVar, "runnames", "same")); string(b) != "a" {
		t.Fatalf("holder record: %q", b)
	}
	os.WriteFile(filepath.Join(x.root, "services/b/config"), []byte("service_program="+testBin+"\nexport HELPER=sleep\nservice_run_name=same\n"), 0o644)
	err := x.reopen().Start(bg, "b", StartOptions{})
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(err.Error(), `"same"`) {
		t.Fatalf("newcomer under a held name: %v", err)
	}
	if err := x.reopen().Restart(bg, "a", RestartOptions{}); err != nil {
		t.Fatalf("holder restart: %v", err)
	}
	if s, _ := x.reopen().Status(bg, "b"); s.State == pkgsvc.StateRunning {
		t.Fatal("b runs under a's name")
	}
}

// TestWarningsInNameOrder: definitions resolve in parallel, but their
// warnings come out in the order the names were asked for, once each.
func TestWarningsInNameOrder(t *testing.T) {
	var maps []map[string]string
	var names []string
	for i := 0; i < 40; i++ {
		n := fmt.Sprintf("w%02d", i)
		names = append(names, n)
		maps = append(maps, project(n, "sleep", "service_typo_"+n+"=1\n"))
	}
	x := newTP(t, merge(maps...))
	p := x.reopen()
	var got []string
	p.Warn = func(s, m string) { got = append(got, s) }
	_, errs := p.ResolveAll(names)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	p.ResolveAll(names) // cached: no second round of warnings
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("warnings in order %v, want %v", got, names)
	}
}
