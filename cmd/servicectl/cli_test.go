package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// playpen writes a small playpen for CLI tests: two project services on
// /bin/sleep, a template, a broken one, and a typed port.
func playpen(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	files := map[string]string{
		"etc/project-name":      "cli\n",
		"etc/project-services":  "alpha\nbeta\ntmpl\n",
		"etc/project.conf":      "PORT_PREFIX=9000\n",
		"services/alpha/config": "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\nservice_required_envars=ALPHA_PORT\nALPHA_PORT_OFFSET=1\nservice_envar_ALPHA_PORT_type=port\n",
		"services/beta/config":  "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\nservice_depends=alpha\nservice_required_envars=\"BETA_TOKEN\"\nservice_envar_BETA_TOKEN_default=s3cret\nservice_envar_BETA_TOKEN_description='API token'\nBETA_TOKEN=x\n",
		"services/tmpl/config":  "service_program=sleep\nservice_flags=60\nservice_template=1\n",
	}
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop") })
	return root
}

func sctl(t *testing.T, root string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"--root", root}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	root := playpen(t)
	cases := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"status"}, 3, ""},
		{[]string{"status", "nosuch"}, 4, "servicectl: nosuch: unknown service"},
		{[]string{"start", "bad/name"}, 2, "not valid"},
		{[]string{"start", "tmpl"}, 2, "template"},
		{[]string{"ping", "alpha"}, 3, "alpha: is stopped"},
		{[]string{"start", "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"env", "--check"}, 0, ""},
		{[]string{"start", "beta"}, 0, "alpha: started"},
		{[]string{"status"}, 0, ""}, // the template has no instances to list
		{[]string{"status", "alpha", "beta"}, 0, ""},
		{[]string{"ping", "alpha"}, 0, ""},
		{[]string{"start", "--no-deps", "tmpl@one"}, 0, ""},
		{[]string{"stop", "alpha", "beta", "tmpl@one"}, 0, ""},
		{[]string{"status", "alpha"}, 3, ""},
		{[]string{"test", "alpha"}, 0, "counted as passed"},
	}
	for _, c := range cases {
		code, _, stderr := sctl(t, root, c.args...)
		if code != c.code || !strings.Contains(stderr, c.err) {
			t.Errorf("servicectl %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, stderr, c.code, c.err)
		}
	}
	code, _, stderr := run2([]string{"status"}, t.TempDir())
	if code != 2 || !strings.Contains(stderr, "servicectl init") {
		t.Errorf("no playpen: %d %q", code, stderr)
	}
}

func run2(args []string, dir string) (int, string, string) {
	wd, _ := os.Getwd()
	os.Chdir(dir)
	defer os.Chdir(wd)
	os.Unsetenv("PLAYPEN_ROOT")
	var out, errb bytes.Buffer
	return run(args, &out, &errb), out.String(), errb.String()
}

func TestJSONOutputs(t *testing.T) {
	root := playpen(t)
	if code, _, e := sctl(t, root, "--quiet", "start", "alpha"); code != 0 {
		t.Fatal(e)
	}
	code, out, _ := sctl(t, root, "--json", "status", "alpha", "beta")
	var sts []map[string]any
	if err := json.Unmarshal([]byte(out), &sts); err != nil || code != 3 || len(sts) != 2 {
		t.Fatalf("status --json: %d %v %s", code, err, out)
	}
	for _, k := range []string{"service", "package", "version", "state", "pid", "started_at", "run_name", "restarts", "stale", "upgraded"} {
		if _, ok := sts[0][k]; !ok {
			t.Errorf("status --json lacks %q", k)
		}
	}
	if sts[0]["state"] != "running" || sts[1]["state"] != "stopped" {
		t.Errorf("states %v %v", sts[0]["state"], sts[1]["state"])
	}
	_, out, _ = sctl(t, root, "--json", "env")
	var env []struct {
		Service string
		Missing []map[string]string
		Errors  []map[string]string
	}
	if err := json.Unmarshal([]byte(out), &env); err != nil || len(env) != 3 {
		t.Fatalf("env --json: %v %s", err, out)
	}
	if !strings.Contains(out, `"missing": []`) {
		t.Errorf("empty lists must be [] not null: %s", out)
	}
	_, out, _ = sctl(t, root, "--json", "show", "alpha")
	var def map[string]any
	if err := json.Unmarshal([]byte(out), &def); err != nil || def["run_name"] != "alpha" {
		t.Fatalf("show --json: %v %s", err, out)
	}
	if !strings.Contains(out, "ALPHA_PORT=9001") {
		t.Errorf("port arithmetic missing from the environment: %s", out)
	}
}

func TestEnvScriptAndCheck(t *testing.T) {
	root := playpen(t)
	os.WriteFile(filepath.Join(root, "services/beta/config"), []byte("service_program=sleep\nservice_required_envars=\"BETA_GREETING BETA_PORT\"\nservice_envar_BETA_GREETING_default='a \"q\" $x'\nBETA_PORT=9001\n"), 0o644)
	code, out, _ := sctl(t, root, "env", "--script", "beta")
	if code != 0 || out != "BETA_GREETING=${BETA_GREETING=\"a \\\"q\\\" \\$x\"}\n" {
		t.Fatalf("--script: %d %q", code, out)
	}
	code, out, _ = sctl(t, root, "env", "--check")
	if code != 6 || !strings.Contains(out, "port clash") || !strings.Contains(out, "ALPHA_PORT") {
		t.Fatalf("--check: %d %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	root := playpen(t)
	code, out, _ := sctl(t, root, "completion", "bash")
	if code != 0 || !strings.Contains(out, "servicectl") {
		t.Fatalf("completion bash: %d", code)
	}
	_, out, _ = sctl(t, root, "__complete", "start", "al")
	if !strings.Contains(out, "alpha") || strings.Contains(out, "beta") {
		t.Fatalf("service completion: %q", out)
	}
}

func TestInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	var out, errb bytes.Buffer
	if code := run([]string{"init", dir}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "Next:") || out.Len() != 0 {
		t.Fatalf("init: %d stdout %q stderr %q; want the message on stderr only (§11)", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	dir2 := filepath.Join(t.TempDir(), "q")
	if code := run([]string{"--json", "init", dir2}, &out, &errb); code != 0 {
		t.Fatalf("init --json: %d %s", code, errb.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got["playpen"] != dir2 || got["project_name"] != "q" {
		t.Errorf("init --json printed %q (%v)", out.String(), err)
	}
	code, out2, _ := sctl(t, dir, "list", "--all")
	if code != 0 || !strings.Contains(out2, "SERVICE") {
		t.Fatalf("list in a new playpen: %d %q", code, out2)
	}
}

// TestJSONListMatchesEncoder: the parallel list printer must print what
// one json.Encoder with the same indent prints, byte for byte, including
// HTML escaping and nested values.
func TestJSONListMatchesEncoder(t *testing.T) {
	type item struct {
		Name  string            `json:"name"`
		Env   map[string]string `json:"env"`
		Argv  []string          `json:"argv"`
		Empty []int             `json:"empty"`
		N     float64           `json:"n"`
	}
	for _, n := range []int{0, 1, 63, 64, 65, 300} {
		items := make([]item, n)
		for i := range items {
			items[i] = item{Name: strings.Repeat("x<&>", i%3), Env: map[string]string{"B": "2", "A": "\"q\"\n"}, Argv: []string{"a", "b c"}, Empty: []int{}, N: float64(i) / 3}
		}
		var want, got bytes.Buffer
		if err := (&globals{stdout: &want}).printJSON(items); err != nil {
			t.Fatal(err)
		}
		if err := printJSONList(&globals{stdout: &got}, items); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Fatalf("n=%d: list printer differs:\n%s\nwant:\n%s", n, got.String(), want.String())
		}
	}
}

// TestConfigEvaluatedOncePerCommand: a config runs once per command,
// whether it succeeds or fails (issue 10), so a slow or side-effecting
// one does not multiply.
func TestConfigEvaluatedOncePerCommand(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	log := filepath.Join(root, "evaluations")
	count := "echo \"$SERVICE_NAME\" >> '" + log + "'\n"
	files := map[string]string{
		"etc/project-name":                      "once\n",
		"etc/project-services":                  "proj\nbroken\n",
		"services/proj/config":                  count + "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\n",
		"services/broken/config":                count + "service_program=sleep\nexit 3\n",
		"ext/etc/installed-packages":            "lib 1.0\napp 1.0\n",
		"ext/packages/lib-1.0/lib-1.0.services": "",
		"ext/packages/app-1.0/app-1.0.services": "app\n",
		"ext/packages/app-1.0/app-1.0.deps":     "lib\n",
		"ext/packages/app-1.0/app-1.0.config":   count + "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\n",
	}
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := sctl(t, root, "new-service", "app"); code != 0 {
		t.Fatalf("new-service: %d %s", code, stderr)
	}
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop", "app", "proj") })
	for _, args := range [][]string{
		{"list"}, {"list", "--all"}, {"show"}, {"env"}, {"env", "--check"}, {"env", "--verbose"},
		{"status"}, {"why", "lib"}, {"upgrade", "plan", "lib=1.1"}, {"start", "app", "proj"},
		{"status"}, {"restart", "app"}, {"stop", "app", "proj"},
	} {
		os.Remove(log)
		sctl(t, root, args...)
		data, _ := os.ReadFile(log)
		seen := map[string]int{}
		for _, name := range strings.Fields(string(data)) {
			seen[name]++
			if seen[name] == 2 {
				t.Errorf("servicectl %s: the config of %s ran more than once: %q", strings.Join(args, " "), name, data)
			}
		}
	}
}

// TestTestExitsWithTheTestsStatus (§4.9): `test` exits with the status of
// the first failed test, and says so once.
func TestTestExitsWithTheTestsStatus(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":      "t\n",
		"etc/project-services":  "five\nok\nthree\n",
		"services/five/config":  "service_program=sleep\nservice_test='exit 5'\n",
		"services/ok/config":    "service_program=sleep\nservice_test=true\n",
		"services/three/config": "service_program=sleep\n",
		"services/three/test":   "exit 3\n",
	})
	code, _, stderr := sctl(t, root, "test", "five")
	if code != 5 || strings.Count(stderr, "service_test") != 1 {
		t.Errorf("test five: exit %d, stderr %q; want 5 and the hook named once", code, stderr)
	}
	if code, _, _ := sctl(t, root, "test", "ok", "three", "five"); code != 3 {
		t.Errorf("test ok three five: exit %d, want 3 (the first failure)", code)
	}
	if code, _, _ := sctl(t, root, "test", "ok"); code != 0 {
		t.Errorf("test ok: exit %d", code)
	}
}

// TestMessagesSayWhatHappened: of 20 concurrent starts of one service,
// one says "started" and the others "already running"; a second stop says
// "not running"; a restart of a stopped service says it started it.
func TestMessagesSayWhatHappened(t *testing.T) {
	root := playpen(t)
	type res struct {
		code int
		out  string
	}
	ch := make(chan res, 20)
	for i := 0; i < 20; i++ {
		go func() {
			code, out := sctlProc(t, root, "start", "alpha")
			ch <- res{code, out}
		}()
	}
	started, already := 0, 0
	for i := 0; i < 20; i++ {
		r := <-ch
		if r.code != 0 {
			t.Errorf("start: exit %d: %s", r.code, r.out)
		}
		started += strings.Count(r.out, "alpha: started")
		already += strings.Count(r.out, "alpha: already running")
	}
	if started != 1 || already != 19 {
		t.Errorf("%d said started and %d already running; want 1 and 19", started, already)
	}
	if _, _, stderr := sctl(t, root, "stop", "alpha"); !strings.Contains(stderr, "alpha: stopped") {
		t.Errorf("first stop: %q", stderr)
	}
	if _, _, stderr := sctl(t, root, "stop", "alpha"); !strings.Contains(stderr, "alpha: not running") {
		t.Errorf("second stop: %q", stderr)
	}
	if _, _, stderr := sctl(t, root, "restart", "alpha"); !strings.Contains(stderr, "alpha: started (it was not running)") {
		t.Errorf("restart of a stopped service: %q", stderr)
	}
}
