package main

import (
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"servicectl/pkgsvc/proc"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalRecorder is a service made of the test binary: it appends the
// name of each signal it gets to file, ignores TERM and exits on INT, so
// a test can tell which signal stopped it.
func signalRecorder(file string) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	os.WriteFile(file+".ready", []byte("1"), 0o644)
	for sig := range ch {
		f, _ := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		name := "TERM"
		if sig == syscall.SIGINT {
			name = "INT"
		}
		f.WriteString(name + "\n")
		f.Close()
		if sig == syscall.SIGINT {
			os.Exit(0)
		}
	}
}

func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pidOf(t *testing.T, root, name string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "var/run", name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// alive says pid runs: a zombie (a child of this test process that the
// reaper goroutine has not waited for yet) is not alive.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	info, err := proc.ReadStat(pid)
	return err == nil && !info.Zombie
}

// TestBrokenConfigDoesNotHideRunningService (issue 18): configs broken
// after their services started, in every way the issue names.
func TestBrokenConfigDoesNotHideRunningService(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	signals := filepath.Join(root, "signals")
	exe, _ := filepath.Abs(os.Args[0])
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "broken\n",
		"etc/project-services": "web\nidle\ninc\nok\n",
		// web ignores TERM: only the recorded INT stops it in time.
		"services/web/config": "service_program=" + exe + "\nservice_start_secs=0.1\nservice_stop_signal=INT\nservice_stop_timeout=30\n" +
			"SERVICECTL_TEST_SIGNALS=" + signals + "\nexport SERVICECTL_TEST_SIGNALS\n",
		"services/idle/config": "service_program=sleep\nservice_flags=60\n",
		"services/inc/config":  "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\n. ./inc.sh\n",
		"inc.sh":               "INC=1\n",
		"services/ok/config":   "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\n",
	})
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop") })
	if code, _, stderr := sctl(t, root, "start", "web", "inc", "ok"); code != 0 {
		t.Fatalf("start: %d %s", code, stderr)
	}
	waitFor(t, "web ready", func() bool { _, err := os.Stat(signals + ".ready"); return err == nil })
	webPid, incPid := pidOf(t, root, "web"), pidOf(t, root, "inc")
	appendFile(t, filepath.Join(root, "services/web/config"), "if then\n")
	appendFile(t, filepath.Join(root, "services/idle/config"), "if then\n")
	appendFile(t, filepath.Join(root, "inc.sh"), "case\n") // the included file breaks

	// status lists every service, marks the broken ones, exits 6 after.
	code, out, stderr := sctl(t, root, "status")
	if code != 6 {
		t.Errorf("status: exit %d, want 6\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"web ", "idle ", "inc ", "ok ", "idle     -        -        stopped (config error)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "services/idle/config:3") {
		t.Errorf("status stderr does not name the broken file and line:\n%s", stderr)
	}
	code, out, _ = sctl(t, root, "--json", "status", "web", "idle", "inc")
	var sts []map[string]any
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 3 || code != 6 {
		t.Fatalf("status --json: %d %v %s", code, err, out)
	}
	byName := map[string]map[string]any{}
	for _, st := range sts {
		byName[st["service"].(string)] = st
	}
	if byName["idle"]["state"] != "stopped" || !strings.Contains(byName["idle"]["config_error"].(string), "idle/config:3") {
		t.Errorf("idle: %v", byName["idle"])
	}
	if byName["web"]["state"] != "running" || byName["inc"]["state"] != "running" {
		t.Errorf("running services not shown running: %v", sts)
	}
	if e, _ := byName["inc"]["config_error"].(string); e != "" && !strings.Contains(e, "inc.sh:2") {
		t.Errorf("inc's error does not name the included file: %q", e)
	}

	// ping and logs work from the recorded state.
	if code, _, stderr := sctl(t, root, "ping", "web"); code != 0 {
		t.Errorf("ping web: %d %s", code, stderr)
	}
	if code, _, stderr := sctl(t, root, "logs", "inc"); code != 0 {
		t.Errorf("logs inc: %d %s", code, stderr)
	}
	// start and restart refuse with the config error and leave it alone.
	for _, verb := range []string{"start", "restart"} {
		code, _, stderr := sctl(t, root, verb, "web")
		if code != 6 || !strings.Contains(stderr, "web/config:7") {
			t.Errorf("%s web: %d %s", verb, code, stderr)
		}
		if pidOf(t, root, "web") != webPid || !alive(webPid) {
			t.Errorf("%s web touched the running process", verb)
		}
	}
	code, _, stderr = sctl(t, root, "start", "inc")
	if code != 6 || !strings.Contains(stderr, "inc.sh:2") || !strings.Contains(stderr, "included by") {
		t.Errorf("start inc: %d %s, want exit 6 naming inc.sh:2 and the including config", code, stderr)
	}
	// stop works, with the signal recorded at start, without hooks.
	code, _, stderr = sctl(t, root, "stop", "web", "inc")
	if code != 0 || !strings.Contains(stderr, "does not evaluate") {
		t.Errorf("stop: %d %s", code, stderr)
	}
	if alive(webPid) || alive(incPid) {
		t.Error("stop left a process running")
	}
	if data, _ := os.ReadFile(signals); string(data) != "INT\n" {
		t.Errorf("web got %q, want the recorded INT only", data)
	}
	code, out, _ = sctl(t, root, "status", "web", "inc", "ok")
	if code != 6 || !strings.Contains(out, "stopped (config error)") {
		t.Errorf("status after stop: %d\n%s", code, out)
	}
}

// TestBrokenConfigInUpgradePlan: plan and why name a service whose config
// fails; they refuse only when the change would touch it while it runs.
func TestBrokenConfigInUpgradePlan(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":                          "plan\n",
		"etc/project-services":                      "proj\n",
		"services/proj/config":                      "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\nservice_filedeps=etc/x.conf\n",
		"ext/etc/installed-packages":                "lib 1.0\napp 1.0\nother 1.0\n",
		"ext/packages/lib-1.0/lib-1.0.services":     "",
		"ext/packages/app-1.0/app-1.0.services":     "app\n",
		"ext/packages/app-1.0/app-1.0.deps":         "lib\n",
		"ext/packages/app-1.0/app-1.0.config":       "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\n",
		"ext/packages/other-1.0/other-1.0.services": "other\n",
		"ext/packages/other-1.0/other-1.0.config":   "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\n",
	})
	for _, s := range []string{"app", "other"} {
		if code, _, stderr := sctl(t, root, "new-service", s); code != 0 {
			t.Fatal(stderr)
		}
	}
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop") })
	if code, _, stderr := sctl(t, root, "start", "app", "proj", "other"); code != 0 {
		t.Fatal(stderr)
	}
	appendFile(t, filepath.Join(root, "ext/services/app-1.0/config"), "if then\n")
	appendFile(t, filepath.Join(root, "services/proj/config"), "if then\n")

	// lib reaches the running app, whose policies are in the broken config.
	for _, args := range [][]string{{"upgrade", "plan", "lib=1.1"}, {"why", "lib"}} {
		code, _, stderr := sctl(t, root, args...)
		if code != 6 || !strings.Contains(stderr, "app:") || !strings.Contains(stderr, "fix the config first") {
			t.Errorf("%v: exit %d, stderr %s", args, code, stderr)
		}
	}
	// other does not reach app: the plan goes on; with a changed file, it
	// says it cannot tell about proj's filedeps.
	code, out, stderr := sctl(t, root, "--json", "upgrade", "plan", "--files", "etc/x.conf", "other=1.1")
	if code != 0 {
		t.Fatalf("plan other: %d %s", code, stderr)
	}
	var plan struct {
		Actions  []map[string]any `json:"actions"`
		Warnings []string         `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) == 0 || plan.Actions[0]["service"] != "other" {
		t.Errorf("actions: %v", plan.Actions)
	}
	if len(plan.Warnings) != 2 || !strings.Contains(strings.Join(plan.Warnings, "\n"), "proj (running)") || !strings.Contains(stderr, "service_filedeps") {
		t.Errorf("warnings: %v; stderr %s", plan.Warnings, stderr)
	}
	// Stopped, app is not touched by an upgrade: a warning, not a refusal.
	if code, _, stderr := sctl(t, root, "stop", "app"); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr = sctl(t, root, "upgrade", "plan", "lib=1.1")
	if code != 0 || !strings.Contains(stderr, "app: its config does not evaluate") {
		t.Errorf("plan with app stopped: %d %s", code, stderr)
	}
}
