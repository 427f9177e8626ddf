package main

import (
	"servicectl/pkgsvc"

	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary be servicectl itself, so tests can start
// it as a separate process and kill it with SIGKILL.
func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	if os.Getenv("SERVICECTL_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if f := os.Getenv("SERVICECTL_TEST_SIGNALS"); f != "" {
		signalRecorder(f)
	}
	if f := os.Getenv("SERVICECTL_TEST_RECORDER"); f != "" {
		recorder(f)
	}
	// The probe runs in the web service's environment: it goes first.
	if os.Getenv("SERVICECTL_TEST_PROBE") == "1" {
		probeHelper()
	}
	if os.Getenv("SERVICECTL_TEST_WEB") == "1" {
		webHelper()
	}
	// testscript runs the test binary as the `servicectl` of its scripts.
	testscript.Main(m, map[string]func(){
		"servicectl": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func sctlProc(t *testing.T, root string, args ...string) (int, string) {
	t.Helper()
	return sctlProcEnv(t, root, nil, args...)
}

// sctlProcEnv is sctlProc with variables added to the command's own
// environment (never the test process's: tests run in parallel).
func sctlProcEnv(t *testing.T, root string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--root", root}, args...)...)
	cmd.Env = append(append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0"), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// killHook fires once when $PLAYPEN_ROOT/kill-at names point: it kills the
// servicectl that runs the hook (the parent of the sh it spawns).
func killHook(point string) string {
	return `if [ "$(cat "$PLAYPEN_ROOT/kill-at" 2>/dev/null)" = ` + point + ` ]; then rm -f "$PLAYPEN_ROOT/kill-at"; sh -c 'kill -9 $PPID'; fi` + "\n"
}

func faultPlaypen(t *testing.T) string { return faultPlaypenOf(t, false) }

// faultPlaypenOf is faultPlaypen whose services are, with wrapper set, a
// `#!/bin/sh` wrapper that execs its program 0.1 s after its launch
// (issue 22): a kill can land before, during or after the exec.
func faultPlaypenOf(t *testing.T, wrapper bool) string {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	cfg := "service_program=sleep\nservice_flags=300\nservice_start_secs=0.05\n"
	if wrapper {
		os.WriteFile(filepath.Join(root, "wrap"), []byte("#!/bin/sh\n/bin/sleep 0.1\nexec /bin/sleep 300\n"), 0o755)
		cfg = "service_program=" + filepath.Join(root, "wrap") + "\nservice_start_secs=0.05\n"
	}
	files := map[string]string{
		"etc/project-name":           "fault\n",
		"ext/etc/installed-packages": "base 1.0.0\ntop 1.0.0\nside 1.0.0\n",
		"services/top/pre-stop":      killHook("after-journal"),
		"services/base/pre-stop":     killHook("after-some-stops"),
		"services/base/pre-start":    killHook("post"),
		"switch":                     "#!/bin/sh\nprintf 'base 1.1.0\\ntop 1.0.0\\nside 1.0.0\\n' > \"$1/ext/etc/installed-packages\"\n" + `if [ "$(cat "$1/kill-at" 2>/dev/null)" = command ]; then rm -f "$1/kill-at"; kill -9 $PPID; fi` + "\n",
	}
	for _, pv := range []struct{ name, ver, deps, extra string }{
		{"base", "1.0.0", "", ""}, {"base", "1.1.0", "", ""},
		{"top", "1.0.0", "base >= 1\n", "service_depends=base\n"},
		{"side", "1.0.0", "base >= 1\n", "service_stop_on_dep_upgrade=0\n"},
	} {
		nv := pv.name + "-" + pv.ver
		files["ext/packages/"+nv+"/"+nv+".services"] = pv.name + "\n"
		files["ext/packages/"+nv+"/"+nv+".config"] = cfg + pv.extra
		if pv.deps != "" {
			files["ext/packages/"+nv+"/"+nv+".deps"] = pv.deps
		}
	}
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"base", "top", "side"} {
		if code, out := sctlProc(t, root, "new-service", s); code != 0 {
			t.Fatal(out)
		}
	}
	t.Cleanup(func() { sctlProc(t, root, "--quiet", "stop") })
	return root
}

// TestUpgradeSurvivesKill9 kills servicectl at each point of `upgrade run`
// and checks that `upgrade post` always ends with every service that ran
// before running on the new version (SPEC §8.3).
func TestUpgradeSurvivesKill9(t *testing.T) {
	t.Parallel()
	for _, point := range []string{"after-journal", "after-some-stops", "command", "post"} {
		t.Run(point, func(t *testing.T) {
			root := faultPlaypen(t)
			if code, out := sctlProc(t, root, "start"); code != 0 {
				t.Fatal(out)
			}
			os.WriteFile(filepath.Join(root, "kill-at"), []byte(point+"\n"), 0o644)
			code, out := sctlProc(t, root, "upgrade", "run", "base=1.1.0", "--", filepath.Join(root, "switch"), root)
			if code != -1 {
				t.Fatalf("servicectl was not killed at %s: exit %d\n%s", point, code, out)
			}
			if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); err != nil {
				t.Fatalf("no journal after a kill at %s", point)
			}
			if code, out := sctlProc(t, root, "upgrade", "pre", "base=1.1.0"); code != 1 || !strings.Contains(out, "pending") {
				t.Fatalf("second pre while pending: %d %s", code, out)
			}
			if code, out := sctlProc(t, root, "status"); !strings.Contains(out, "upgrade is pending") {
				t.Fatalf("status does not warn: %d %s", code, out)
			}
			// The package manager finishes its own part, then post.
			os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("base 1.1.0\ntop 1.0.0\nside 1.0.0\n"), 0o644)
			if code, out := sctlProc(t, root, "upgrade", "post"); code != 0 {
				t.Fatalf("post: %d %s", code, out)
			}
			code, out = sctlProc(t, root, "--json", "status", "base", "top", "side")
			var sts []struct {
				Service, State, Version string
				Stale                   bool
			}
			if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &sts); err != nil || code != 0 {
				t.Fatalf("status: %d %v %s", code, err, out)
			}
			for _, s := range sts {
				if s.State != "running" || s.Stale || s.Service == "base" && s.Version != "1.1.0" {
					t.Errorf("after kill at %s and post: %+v", point, s)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); !os.IsNotExist(err) {
				t.Error("journal left after post")
			}
		})
	}
}
