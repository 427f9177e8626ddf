package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// webHelper is the web service of the rolling-upgrade tests: it answers
// on 127.0.0.1:$WEB_PORT with its version and pid, and on SIGTERM stops
// accepting, finishes what it serves and exits. WEB_BROKEN=crash exits at
// once; WEB_BROKEN=mute runs but never listens (its ping never passes).
func webHelper() {
	switch os.Getenv("WEB_BROKEN") {
	case "crash":
		fmt.Fprintln(os.Stderr, "web: crashing on purpose")
		os.Exit(1)
	case "mute":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		os.Exit(0)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("WEB_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d\n", os.Getenv("SERVICE_VERSION"), os.Getpid())
	})}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		srv.Shutdown(context.Background())
	}()
	srv.Serve(l)
	os.Exit(0)
}

// probeHelper is the web service's service_ping: can $WEB_PORT be reached.
func probeHelper() {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+os.Getenv("WEB_PORT"), time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	c.Close()
	os.Exit(0)
}

// webPlaypen: a template `web` of package web, instances 1..n on
// PORT_PREFIX + instance, gated on a port probe, restarted (not stopped)
// on upgrade so that they can roll; version 1.0 installed and running.
// more adds config lines to version 1.1 (unpacked beside 1.0).
func webPlaypen(t *testing.T, n int, more string) (root string, base int) {
	t.Helper()
	root = t.TempDir()
	os.Chmod(root, 0o755)
	bin, _ := filepath.Abs(os.Args[0])
	// n+1 consecutive free ports (instance i listens on base+i).
	base = freePorts(t, n+1)
	cfg := `service_template=1
service_program=` + bin + `
service_start_secs=0.05
service_stop_on_upgrade=0
service_health_timeout=2
export SERVICECTL_TEST_WEB=1 GORACE=atexit_sleep_ms=0
export WEB_PORT=$((PORT_PREFIX + SERVICE_INSTANCE))
service_ping="SERVICECTL_TEST_PROBE=1 ` + bin + `"
`
	files := map[string]string{
		"etc/project-name":                      "roll\n",
		"etc/project.conf":                      fmt.Sprintf("PORT_PREFIX=%d\n", base),
		"ext/etc/installed-packages":            "web 1.0\n",
		"ext/packages/web-1.0/web-1.0.services": "web\n",
		"ext/packages/web-1.0/web-1.0.config":   cfg,
		"ext/packages/web-1.1/web-1.1.services": "web\n",
		"ext/packages/web-1.1/web-1.1.config":   cfg + more,
		// The package manager: switch to a version, and back.
		"pm": "#!/bin/sh\n" + `if [ "$(cat "$1/kill-at" 2>/dev/null)" = "$2" ]; then rm -f "$1/kill-at"; kill -9 $PPID; fi` + "\nprintf 'web %s\\n' \"$2\" > \"$1/ext/etc/installed-packages\"\n",
	}
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := sctlProc(t, root, "new-service", "web"); code != 0 {
		t.Fatal(out)
	}
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("web@%d", i))
	}
	t.Cleanup(func() { sctlProc(t, root, append([]string{"--quiet", "stop"}, names...)...) })
	if code, out := sctlProc(t, root, append([]string{"start"}, names...)...); code != 0 {
		t.Fatalf("start: %s", out)
	}
	return root, base
}

type instStatus struct {
	Service, State, Version string
	Pid                     int
	Stale                   bool
	StartedAt               time.Time `json:"started_at"`
}

func instances(t *testing.T, root string, n int) []instStatus {
	t.Helper()
	args := []string{"--json", "status"}
	for i := 1; i <= n; i++ {
		args = append(args, fmt.Sprintf("web@%d", i))
	}
	_, out := sctlProc(t, root, args...)
	var sts []instStatus
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &sts); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	return sts
}

// TestRollingUpgradeServesThroughout: 4 instances behind a client loop
// that, like a load balancer, sends each request to the next instance and
// on a refused connection tries the others. With service_rolling_batch=1
// no request fails while the instances are replaced one by one, and each
// instance goes down only once the one before it passes its check.
func TestRollingUpgradeServesThroughout(t *testing.T) {
	const n = 4
	root, base := webPlaypen(t, n, "")
	before := instances(t, root, n)
	var sent, failed atomic.Int64
	var mu sync.Mutex
	versions := map[string]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1)
			ok := false
			for k := 0; k < n && !ok; k++ {
				resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", base+1+(i+k)%n))
				if err != nil {
					continue // refused: the balancer tries the next instance
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode == 200
				mu.Lock()
				versions[strings.Fields(string(body) + " ?")[0]]++
				mu.Unlock()
			}
			if !ok {
				failed.Add(1)
			}
		}
	}()
	began := time.Now()
	code, out := sctlProc(t, root, "upgrade", "run", "web=1.1", "--", filepath.Join(root, "pm"), root, "1.1")
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("upgrade run: %d\n%s", code, out)
	}
	after := instances(t, root, n)
	for i, s := range after {
		if s.State != "running" || s.Version != "1.1" || s.Stale || s.Pid == before[i].Pid {
			t.Errorf("%s after the roll: %+v", s.Service, s)
		}
		if i > 0 && !s.StartedAt.After(after[i-1].StartedAt) {
			t.Errorf("%s started before %s: not one at a time", s.Service, after[i-1].Service)
		}
	}
	t.Logf("%d requests during the upgrade, %d failed, by version %v", sent.Load(), failed.Load(), versions)
	t.Logf("RELIABILITY|rolling upgrade of 4 instances (service_rolling_batch=1) behind a client that fails over: requests sent, failed|%d|%d|%.1f", sent.Load(), failed.Load(), time.Since(began).Seconds())
	if failed.Load() != 0 || sent.Load() < 10 || versions["1.1"] == 0 {
		t.Fatalf("%d of %d requests failed while the instances rolled (versions seen %v)\n%s", failed.Load(), sent.Load(), versions, out)
	}
}

// TestHealthGateRollsBack: a new version that crashes at once, and one
// that runs but never answers its ping, are rolled back with the package
// manager's command; the roll stops at the first instance, so the others
// never went down, and everything ends on the old version.
func TestHealthGateRollsBack(t *testing.T) {
	began, failures := time.Now(), 0
	defer func() {
		t.Logf("RELIABILITY|health gate: a new version that crashes at once / never answers its ping, rolled back; not every instance on the old version after|2|%d|%.1f", failures, time.Since(began).Seconds())
	}()
	for _, broken := range []string{"crash", "mute"} {
		t.Run(broken, func(t *testing.T) {
			const n = 3
			root, _ := webPlaypen(t, n, "export WEB_BROKEN="+broken+"\nservice_health_timeout=0.5\n")
			before := instances(t, root, n)
			pm := filepath.Join(root, "pm")
			code, out := sctlProc(t, root, "upgrade", "run", "web=1.1", "--rollback", pm+" '"+root+"' 1.0", "--", pm, root, "1.1")
			if code != 1 || !strings.Contains(out, "rolled back") || !strings.Contains(out, "web@1") {
				t.Fatalf("upgrade run of a broken version: exit %d\n%s", code, out)
			}
			list, _ := os.ReadFile(filepath.Join(root, "ext/etc/installed-packages"))
			if string(list) != "web 1.0\n" {
				t.Errorf("installed-packages after the rollback: %q", list)
			}
			for i, s := range instances(t, root, n) {
				if s.State != "running" || s.Version != "1.0" || s.Stale {
					t.Errorf("%s after the rollback: %+v", s.Service, s)
				}
				if i > 0 && s.Pid != before[i].Pid {
					t.Errorf("%s was restarted although the roll stopped before it", s.Service)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); !os.IsNotExist(err) {
				t.Errorf("journal left after the rollback")
			}
			if t.Failed() {
				failures++
			}
		})
	}
}

// TestHealthGateWithoutRollback: the gate fails, nothing rolls back: exit
// 1 naming the instance, the rest of the roll keeps the old code (stale),
// the journal stays for `upgrade post` once fixed.
func TestHealthGateWithoutRollback(t *testing.T) {
	const n = 3
	root, _ := webPlaypen(t, n, "export WEB_BROKEN=mute\nservice_health_timeout=0.3\n")
	before := instances(t, root, n)
	pm := filepath.Join(root, "pm")
	code, out := sctlProc(t, root, "upgrade", "run", "web=1.1", "--", pm, root, "1.1")
	if code != 1 || !strings.Contains(out, "web@1") || !strings.Contains(out, "health") || !strings.Contains(out, "service_ping") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	sts := instances(t, root, n)
	for i := 1; i < n; i++ {
		if sts[i].Pid != before[i].Pid || !sts[i].Stale {
			t.Errorf("%s: want the old process, shown stale: %+v", sts[i].Service, sts[i])
		}
	}
	if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); err != nil {
		t.Errorf("the journal must stay for a later post: %v", err)
	}
	// Fixed (the package manager installs a good 1.1): post finishes.
	cfg, _ := os.ReadFile(filepath.Join(root, "ext/packages/web-1.0/web-1.0.config"))
	os.WriteFile(filepath.Join(root, "ext/packages/web-1.1/web-1.1.config"), cfg, 0o644)
	if code, out := sctlProc(t, root, "upgrade", "post"); code != 0 {
		t.Fatalf("post after the fix: %d\n%s", code, out)
	}
	for _, s := range instances(t, root, n) {
		if s.State != "running" || s.Version != "1.1" || s.Stale {
			t.Errorf("%s: %+v", s.Service, s)
		}
	}
}

// TestRollingUpgradeSurvivesKill9: servicectl killed in the middle of a
// rolling restart, and in the middle of a rollback; `upgrade post`
// converges, and an instance the killed run already replaced is not
// replaced again.
func TestRollingUpgradeSurvivesKill9(t *testing.T) {
	defer reportPass(t, "kill -9 of servicectl mid-roll and mid-rollback, then `upgrade post`: not converged", 2)()
	t.Run("roll", func(t *testing.T) {
		const n = 4
		kill := `if [ "$SERVICE_INSTANCE" = 3 ]; then service_pre_start='` + strings.ReplaceAll(killHook("roll"), "'", `'\''`) + `'; fi` + "\n"
		root, _ := webPlaypen(t, n, kill)
		before := instances(t, root, n)
		os.WriteFile(filepath.Join(root, "kill-at"), []byte("roll\n"), 0o644)
		pm := filepath.Join(root, "pm")
		if code, out := sctlProc(t, root, "upgrade", "run", "web=1.1", "--", pm, root, "1.1"); code != -1 {
			t.Fatalf("not killed: %d\n%s", code, out)
		}
		mid := instances(t, root, n)
		if mid[0].Stale || mid[1].Stale || !mid[3].Stale || mid[3].Pid != before[3].Pid {
			t.Fatalf("killed at web@3: web@1 and web@2 should be new, web@4 old: %+v", mid)
		}
		if code, out := sctlProc(t, root, "upgrade", "post"); code != 0 {
			t.Fatalf("post: %d\n%s", code, out)
		}
		for i, s := range instances(t, root, n) {
			if s.State != "running" || s.Version != "1.1" || s.Stale {
				t.Errorf("%s: %+v", s.Service, s)
			}
			if i < 2 && s.Pid != mid[i].Pid {
				t.Errorf("%s was replaced again", s.Service)
			}
		}
	})
	t.Run("rollback", func(t *testing.T) {
		const n = 2
		root, _ := webPlaypen(t, n, "export WEB_BROKEN=crash\n")
		os.WriteFile(filepath.Join(root, "kill-at"), []byte("1.0\n"), 0o644)
		pm := filepath.Join(root, "pm")
		if code, out := sctlProc(t, root, "upgrade", "run", "web=1.1", "--rollback", pm+" "+root+" 1.0", "--", pm, root, "1.1"); code != -1 {
			t.Fatalf("not killed in the rollback: %d\n%s", code, out)
		}
		j, _ := os.ReadFile(filepath.Join(root, "var/upgrade.journal"))
		if !strings.Contains(string(j), `"rolling_back": true`) {
			t.Fatalf("the journal does not say a rollback is under way:\n%s", j)
		}
		code, out := sctlProc(t, root, "upgrade", "post")
		if code != 1 || !strings.Contains(out, "rolled back") {
			t.Fatalf("post finishing the rollback: %d\n%s", code, out)
		}
		for _, s := range instances(t, root, n) {
			if s.State != "running" || s.Version != "1.0" || s.Stale {
				t.Errorf("%s: %+v", s.Service, s)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); !os.IsNotExist(err) {
			t.Errorf("journal left")
		}
	})
}

// TestPlanHooksVerdicts: `upgrade plan --hooks` exits 1 only for a hook
// that fails even with every command succeeding; a health check that
// fails before anything started (it looks for what the new version will
// make) is reported, not held against the upgrade.
func TestPlanHooksVerdicts(t *testing.T) {
	for _, c := range []struct {
		name, more, says string
		code             int
	}{
		{"gate fails before start", "service_ping='test -e \"$LOCAL_VAR/ready-$SERVICE_VERSION\"'\n", "fails as things are now", 0},
		{"pre-start fails", "service_pre_start='exit 3'\n", "FAILS", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			os.Chmod(root, 0o755)
			cfg := "service_program=sleep\nservice_flags=600\nservice_start_secs=0\nservice_stop_on_upgrade=0\n"
			for rel, body := range map[string]string{
				"etc/project-name":                      "hooks\n",
				"ext/etc/installed-packages":            "app 1.0\n",
				"ext/packages/app-1.0/app-1.0.services": "app\n",
				"ext/packages/app-1.0/app-1.0.config":   cfg,
				"ext/packages/app-1.1/app-1.1.services": "app\n",
				"ext/packages/app-1.1/app-1.1.config":   cfg + c.more,
			} {
				os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
				os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644)
			}
			if code, _, errs := sctl(t, root, "new-service", "app"); code != 0 {
				t.Fatal(errs)
			}
			if code, _, errs := sctl(t, root, "start", "app"); code != 0 {
				t.Fatal(errs)
			}
			t.Cleanup(func() { sctl(t, root, "--quiet", "stop", "app") })
			code, out, errs := sctl(t, root, "upgrade", "plan", "--hooks", "app=1.1")
			if code != c.code || !strings.Contains(out, c.says) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, c.code, c.says, out, errs)
			}
		})
	}
}
