package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The hostile neighbour's cases of issue 23 (docs/SECURITY.md).

// TestConfigMayNotSignal (§3.2): `kill` with a real signal in a config
// is exit 6 naming file and line for every command that reads it, status
// and list included, and nothing is sent; kill -0 is allowed; show
// --commands lists it with the other effects outside the interpreter.
func TestConfigMayNotSignal(t *testing.T) {
	victim := exec.Command("sleep", "60")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	pid := strconv.Itoa(victim.Process.Pid)
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":      "sig\n",
		"etc/project-services":  "bad\nprobe\nfx\n",
		"services/bad/config":   "service_program=sleep\nservice_flags=60\n# a neighbour's process\nkill -TERM " + pid + "\n",
		"services/probe/config": "service_program=sleep\nservice_flags=60\nif kill -0 " + pid + " 2>/dev/null; then X=alive; fi\n",
		"etc/app.conf":          "x\n",
		"services/fx/config":    "service_program=sleep\numask 077\nulimit -n 512\ncd /tmp\necho hi > \"$PLAYPEN_ROOT/note\"\necho quiet >/dev/null\nsub-conf app.conf\n",
	})
	for _, args := range [][]string{{"status", "bad"}, {"list"}, {"show", "bad"}, {"env", "bad"}, {"start", "bad"}} {
		code, out, errb := sctl(t, root, args...)
		if args[0] == "list" {
			// list shows each config's error in its row and exits 0, as
			// for any config error (README "Choices").
			code, errb = 6, out
		}
		if code != 6 || !strings.Contains(errb, "services/bad/config:4") || !strings.Contains(errb, "may not send a signal") {
			t.Errorf("%v: exit %d, want 6 naming services/bad/config:4\n%s%s", args, code, out, errb)
		}
	}
	if err := syscall.Kill(victim.Process.Pid, 0); err != nil || victim.ProcessState != nil {
		t.Fatal("a config's kill reached the process")
	}
	if code, _, errb := sctl(t, root, "show", "probe"); code != 0 {
		t.Errorf("kill -0 in a config: %d %s", code, errb)
	}
	code, out, _ := sctl(t, root, "show", "--commands", "bad", "fx")
	for _, want := range []string{
		"services/bad/config:4: kill -TERM " + pid, "services/fx/config:2: umask 077", "services/fx/config:3: ulimit -n 512",
		"services/fx/config:4: cd /tmp", `services/fx/config:5: > "$PLAYPEN_ROOT/note"   (writes a file)`, "services/fx/config:7: sub-conf app.conf",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show --commands lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	if strings.Contains(out, "/dev/null") {
		t.Errorf("show --commands lists a redirection to /dev/null:\n%s", out)
	}
}

// TestHookKillRefusalNamesTheLine: kill 0 and kill -- -1 in a hook are
// refused with the hook's file and line.
func TestHookKillRefusalNamesTheLine(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "sig\n",
		"etc/project-services": "h\n",
		"services/h/config":    "service_program=sleep\nservice_flags=60\n",
		"services/h/pre-start": "echo before\nkill 0\nkill -- -1\n",
	})
	sctl(t, root, "hook", "h", "pre-start")
	data, _ := os.ReadFile(filepath.Join(root, "var/run/h.output"))
	for _, want := range []string{"services/h/pre-start:2: kill: 0: refused", "services/h/pre-start:3: kill: -1: refused"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the hook's output lacks %q:\n%s", want, data)
		}
	}
}

// TestSecretsMasked (§6.1): secret values are ******** in env
// --verbose, env --json, show and show --json; env --script never prints
// a secret's default; service_envar_V_secret=0 shows a _KEY name.
func TestSecretsMasked(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "sec\n",
		"etc/project-services": "db\n",
		"etc/project.conf":     "DB_PASSWORD=hunter2-pw\nCUSTOM=opaque-custom\nSORT_KEY=visible-key\nBAD_SECRET=short\n",
		"services/db/config": "service_program=sleep\nservice_flags=60\n" +
			"service_required_envars='DB_PASSWORD CUSTOM SORT_KEY API_TOKEN'\nservice_optional_envars=BAD_SECRET\n" +
			"service_envar_CUSTOM_secret=1\nservice_envar_SORT_KEY_secret=0\nservice_envar_API_TOKEN_default=default-tok\n" +
			"service_envar_BAD_SECRET_type=int\n",
	})
	secrets := []string{"hunter2-pw", "opaque-custom", "default-tok", "short"}
	for _, args := range [][]string{{"--verbose", "env", "db"}, {"--json", "env", "db"}, {"show", "db"}, {"--json", "show", "db"}, {"env", "--script", "db"}, {"env", "--check", "db"}} {
		_, out, errb := sctl(t, root, args...)
		for _, sec := range secrets {
			if strings.Contains(out+errb, sec) {
				t.Errorf("%v prints the secret %q:\n%s%s", args, sec, out, errb)
			}
		}
		if args[0] != "env" || args[1] != "--script" {
			if !strings.Contains(out+errb, "********") {
				t.Errorf("%v shows no masked value:\n%s%s", args, out, errb)
			}
		}
	}
	if _, out, _ := sctl(t, root, "show", "db"); !strings.Contains(out, "SORT_KEY=visible-key") {
		t.Errorf("service_envar_SORT_KEY_secret=0 is masked:\n%s", out)
	}
	if _, out, _ := sctl(t, root, "env", "--script", "db"); !strings.Contains(out, "# API_TOKEN is secret") {
		t.Errorf("env --script says nothing of the secret it skips:\n%s", out)
	}
}

// TestReliabilityDaemonToken (§9.4): the daemon prints the URL with the
// token once, on its stdout; its stderr, every route's answer and the
// event list never hold it; reads need it too; daemon.sock answers
// without it and is 0600.
func TestReliabilityDaemonToken(t *testing.T) {
	began := time.Now()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "tok\n",
		"etc/project-services": "web\n",
		"services/web/config":  "service_program=sleep\nservice_flags=60\nservice_start_secs=0\n",
	})
	cmd := exec.Command(os.Args[0], "--root", root, "daemon", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); sctl(t, root, "stop") })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL on stdout: %v\n%s", err, stderr.String())
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "dashboard: ")
	base, tok, ok2 := strings.Cut(url, "/?token=")
	if !ok || !ok2 || len(tok) < 32 {
		t.Fatalf("stdout line %q", line)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "var/run/daemon.token")); strings.TrimSpace(string(data)) != tok {
		t.Errorf("daemon.token does not hold the printed token")
	}
	get := func(method, path string, auth bool) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	routes := [][2]string{{"GET", "/"}, {"GET", "/api/services"}, {"GET", "/api/services/web"}, {"POST", "/api/services/web/start"},
		{"GET", "/api/services/web/logs"}, {"GET", "/api/env"}, {"GET", "/api/upgrade/plan"}, {"GET", "/api/events"}}
	for _, r := range routes {
		if code, body := get(r[0], r[1], false); code != 401 || strings.Contains(body, tok) {
			t.Errorf("%s %s without the token: %d", r[0], r[1], code)
		}
	}
	for _, r := range routes {
		if code, body := get(r[0], r[1], true); code >= 400 || strings.Contains(body, tok) {
			t.Errorf("%s %s with the token: %d, leaks it: %v", r[0], r[1], code, strings.Contains(body, tok))
		}
	}
	n, bad := trials(300, 3000), tokenSoak(t, base, tok, routes, trials(300, 3000))
	if code, _ := get("GET", "/metrics", false); code != 200 {
		t.Errorf("/metrics without the token: %d", code)
	}
	sock := filepath.Join(root, "var/run/daemon.sock")
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("daemon.sock: %v %v", fi, err)
	}
	c := sockClient(root)
	resp, err := c.Get("http://servicectl/api/services")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sts []map[string]any
	if err := json.Unmarshal(out, &sts); resp.StatusCode != 200 || err != nil || len(sts) != 1 {
		t.Errorf("over daemon.sock without a token: %d %v %s", resp.StatusCode, err, out)
	}
	if strings.Contains(stderr.String(), tok) {
		t.Errorf("the daemon's stderr holds the token:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "msg=dashboard") {
		t.Errorf("the daemon's log does not say where the dashboard is:\n%s", stderr.String())
	}
	_, events := get("GET", "/api/events", true)
	if strings.Contains(events+stderr.String(), tok) {
		bad++
	}
	report(t, "hostile neighbour: API requests without the token, with a wrong one, cross-site changes; accepted, or the token in an answer, event or log line", n, bad, time.Since(began))
}

// tokenSoak sends n requests without the token, with a wrong one (same
// length), with a cookie one character short, and changes marked
// cross-site with the right token; it counts those accepted or answering
// with the token.
func tokenSoak(t *testing.T, base, tok string, routes [][2]string, n int) int {
	bad := 0
	wrong := strings.Repeat("0", len(tok))
	for i := 0; i < n; i++ {
		r := routes[i%len(routes)]
		req, _ := http.NewRequest(r[0], base+r[1], nil)
		want := 401
		switch i % 4 {
		case 1:
			req.Header.Set("Authorization", "Bearer "+wrong)
		case 2:
			req.Header.Set("Cookie", "servicectl_token="+tok[:len(tok)-1])
		case 3:
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			want = 403
			if r[0] == "GET" {
				continue // a cross-site read is the browser's to refuse
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || strings.Contains(string(body), tok) {
			bad++
			t.Errorf("request %d (%s %s, case %d): %d, want %d", i, r[0], r[1], i%4, resp.StatusCode, want)
		}
	}
	return bad
}
