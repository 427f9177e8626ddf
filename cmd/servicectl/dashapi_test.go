package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sockClient talks to the daemon's API on daemon.sock (no token there).
func sockClient(root string) *http.Client {
	sock := filepath.Join(root, "var/run/daemon.sock")
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func apiDo(t *testing.T, c *http.Client, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://daemon.sock"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemonStatusFields (SPEC §9.4): the daemon's status objects carry
// last_exit, health, cpu_percent and rss_bytes; a revival the daemon made
// that exits at once is its child, so its exit code is known (and the
// daemon survives a revival gone before it could be claimed); /metrics
// has the usage gauges; the event list can be filtered by kind.
func TestDaemonStatusFields(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":      "api\n",
		"etc/project-services":  "up\nquits\n",
		"services/up/config":    "service_program=sleep\nservice_flags=600\nservice_start_secs=0\n",
		"services/quits/config": "service_program=sh\nservice_flags=(-c 'sleep 0.1; exit 1')\nservice_start_secs=0\n",
	})
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop", "up", "quits") })
	startDaemonProc(t, root)
	sctl(t, root, "--quiet", "start", "up")
	sctl(t, root, "--quiet", "start", "quits")
	c := sockClient(root)
	type st struct {
		Service  string
		State    string
		LastExit *struct {
			Code   *int
			Signal string
			Why    string
		} `json:"last_exit"`
		Health *struct {
			OK     bool
			Detail string
		}
		CPU *float64 `json:"cpu_percent"`
		RSS *int64   `json:"rss_bytes"`
	}
	get := func() map[string]st {
		_, body := apiDo(t, c, "GET", "/api/services", "")
		var list []st
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("/api/services: %v\n%s", err, body)
		}
		m := map[string]st{}
		for _, s := range list {
			m[s.Service] = s
		}
		return m
	}
	waitFor(t, "quits to be failed, its last exit code known", func() bool {
		q := get()["quits"]
		return q.State == "failed" && q.LastExit != nil && q.LastExit.Code != nil && *q.LastExit.Code == 1
	})
	waitFor(t, "up's CPU percentage (two samples)", func() bool { return get()["up"].CPU != nil })
	up := get()["up"]
	if up.RSS == nil || *up.RSS <= 0 || up.Health == nil || !up.Health.OK {
		t.Errorf("up: %+v", up)
	}
	_, metrics := apiDo(t, c, "GET", "/metrics", "")
	for _, want := range []string{`servicectl_rss_bytes{service="up"}`, `servicectl_cpu_percent{service="up"}`, "servicectl_daemon_rss_bytes ", "servicectl_daemon_cpu_seconds_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, crashes := apiDo(t, c, "GET", "/api/events?kind=crash&service=quits", "")
	_, failed := apiDo(t, c, "GET", "/api/events?kind=failed", "")
	if !strings.Contains(crashes, "died without a stop") || strings.Contains(crashes, `"service":"up"`) || !strings.Contains(failed, "crashed too often") {
		t.Errorf("events by kind:\n%s\n%s", crashes, failed)
	}
}

// TestSetEnvFromTheAPI (SPEC §9.4 POST /api/env): a wrong value is 422
// naming the rule and writes nothing; a right one lands in
// etc/project.conf.local (an earlier assignment replaced), `env --check`
// then passes, dash reads back exactly the value sent (quotes, $(…),
// backquotes: data, never code), a secret is in no answer, and the
// action is an event saying who asked.
func TestSetEnvFromTheAPI(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	port := freePort(t)
	writeFiles(t, root, map[string]string{
		"etc/project-name":       "env\n",
		"etc/project-services":   "b\n",
		"etc/project.conf.local": "# kept\nB_PORT=1\n",
		"services/b/config":      "service_program=sleep\nservice_flags=600\nservice_required_envars='B_PORT B_API_KEY'\nservice_envar_B_PORT_type=port\nservice_envar_B_PORT_constraints=1024-65535\n",
	})
	startDaemonProc(t, root)
	c := sockClient(root)
	local := filepath.Join(root, "etc/project.conf.local")
	before, _ := os.ReadFile(local)
	for _, bad := range []string{`{"name":"B_PORT","value":"80"}`, `{"name":"B_PORT","value":"http"}`, `{"name":"NOPE","value":"1"}`, `not json`} {
		code, body := apiDo(t, c, "POST", "/api/env", bad)
		if code != 422 && code != 400 || body == "" {
			t.Errorf("POST %s: %d %q", bad, code, body)
		}
	}
	if now, _ := os.ReadFile(local); !bytes.Equal(now, before) {
		t.Errorf("a refused value was written:\n%s", now)
	}
	secret := `it's $(touch ` + root + `/pwned) ` + "`id`" + ` "q" \ end`
	for _, req := range []map[string]string{{"name": "B_PORT", "value": itoa(port)}, {"name": "B_API_KEY", "value": secret}} {
		body, _ := json.Marshal(req)
		code, ans := apiDo(t, c, "POST", "/api/env", string(body))
		if code != 200 || strings.Contains(ans, "pwned") {
			t.Fatalf("POST %s: %d %s", body, code, ans)
		}
	}
	if code, _, stderr := sctl(t, root, "env", "--check"); code != 0 {
		t.Errorf("env --check after setting both: %d %s", code, stderr)
	}
	out, err := exec.Command("dash", "-c", `. "$1"; printf '%s|%s' "$B_PORT" "$B_API_KEY"`, "sh", local).Output()
	if err != nil || string(out) != itoa(port)+"|"+secret {
		t.Errorf("dash reads back %q (%v), want %q", out, err, itoa(port)+"|"+secret)
	}
	if _, err := os.Stat(filepath.Join(root, "pwned")); err == nil {
		t.Errorf("the value ran as code")
	}
	text, _ := os.ReadFile(local)
	if !strings.HasPrefix(string(text), "# kept\n") || strings.Count(string(text), "B_PORT=") != 1 {
		t.Errorf("etc/project.conf.local:\n%s", text)
	}
	_, envJSON := apiDo(t, c, "GET", "/api/env", "")
	_, events := apiDo(t, c, "GET", "/api/events?kind=api", "")
	if strings.Contains(envJSON+events, "pwned") || !strings.Contains(events, "set B_API_KEY") || !strings.Contains(events, `"by":"daemon.sock"`) {
		t.Errorf("secret shown or action not logged:\n%s\n%s", envJSON, events)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
