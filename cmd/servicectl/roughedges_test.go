package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pkgPlaypen: package app 1.0 (service app) depending on lib, a project
// service proj outside the role, typed variables, and app 1.1 unpacked.
func pkgPlaypen(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":                      "edges\n",
		"etc/project-services":                  "proj\n",
		"etc/role":                              "web\n",
		"etc/roles/web/config":                  "playpen_services=app\n",
		"etc/project.conf":                      "PORT_PREFIX=9100\nAPP_PORT_OFFSET=1\n",
		"services/proj/config":                  "service_program=sleep\nservice_flags=60\nservice_start_secs=0.1\n",
		"ext/etc/installed-packages":            "lib 1.0\napp 1.0\nextra 1.0\n",
		"ext/packages/lib-1.0/lib-1.0.services": "",
		"ext/packages/lib-1.0/lib-1.0.files":    "etc/lib.conf\n",
		"ext/packages/app-1.0/app-1.0.services": "app\n",
		"ext/packages/app-1.0/app-1.0.deps":     "lib\n",
		"ext/packages/app-1.0/app-1.0.config": "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\n" +
			"service_required_envars='APP_PORT APP_TOKEN'\nservice_envar_APP_PORT_type=port\nservice_envar_APP_TOKEN_default=abc\n",
		"ext/packages/app-1.1/app-1.1.services":     "app\n",
		"ext/packages/app-1.1/app-1.1.config":       "service_program=packages/app-1.1/bin/app\nservice_start_secs=0.1\n\nservice_stop_timeout=ten\n",
		"ext/packages/extra-1.0/extra-1.0.services": "extra\n",
		"ext/packages/extra-1.0/extra-1.0.config":   "service_program=/bin/sleep\n",
	})
	if code, _, stderr := sctl(t, root, "new-service", "app"); code != 0 {
		t.Fatal(stderr)
	}
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop", "app", "proj") })
	return root
}

func TestRoughEdges(t *testing.T) {
	root := pkgPlaypen(t)

	// list --all names what is installed but not registered, and how.
	_, _, stderr := sctl(t, root, "list", "--all")
	if !strings.Contains(stderr, "extra: provided by installed package extra 1.0 but not registered") || !strings.Contains(stderr, "servicectl new-service extra") {
		t.Errorf("list --all: %q", stderr)
	}
	// env --verbose: each variable once, and where its value was set.
	_, out, _ := sctl(t, root, "--verbose", "env", "app")
	if strings.Count(out, "APP_TOKEN") != 1 || !strings.Contains(out, "APP_TOKEN = MISSING") {
		t.Errorf("env --verbose lists APP_TOKEN %d times:\n%s", strings.Count(out, "APP_TOKEN"), out)
	}
	if !strings.Contains(out, "PORT_PREFIX (etc/project.conf:1) + APP_PORT_OFFSET (etc/project.conf:2)") {
		t.Errorf("env --verbose does not say where APP_PORT came from:\n%s", out)
	}
	os.WriteFile(filepath.Join(root, "etc/project.conf.local"), []byte("APP_TOKEN=t\n"), 0o644)

	// status --all shows services outside the role.
	if _, out, _ := sctl(t, root, "status"); strings.Contains(out, "proj") {
		t.Errorf("status (role web) shows proj:\n%s", out)
	}
	if _, out, _ := sctl(t, root, "status", "--all"); !strings.Contains(out, "proj") {
		t.Errorf("status --all lacks proj:\n%s", out)
	}
	// An unknown role warns instead of silently meaning everything.
	t.Setenv("PLAYPEN_ROLE", "wbe")
	if _, _, stderr := sctl(t, root, "list"); !strings.Contains(stderr, "role wbe: warning: no etc/roles/wbe/") {
		t.Errorf("unknown role: %q", stderr)
	}
	os.Unsetenv("PLAYPEN_ROLE")

	// PLAYPEN_TAG: the caller's wins over load-config's (§4.2).
	os.WriteFile(filepath.Join(root, "etc/project.conf.local"), []byte("APP_TOKEN=t\nPLAYPEN_TAG=conf\n"), 0o644)
	runName := func() string {
		_, out, _ := sctl(t, root, "--json", "show", "app")
		var s struct {
			RunName string `json:"run_name"`
		}
		json.Unmarshal([]byte(out), &s)
		return s.RunName
	}
	if got := runName(); got != "app.conf" {
		t.Errorf("run name with PLAYPEN_TAG from load-config: %q", got)
	}
	t.Setenv("PLAYPEN_TAG", "caller")
	if got := runName(); got != "app.caller" {
		t.Errorf("run name with PLAYPEN_TAG from the caller: %q", got)
	}
	os.Unsetenv("PLAYPEN_TAG")
	os.WriteFile(filepath.Join(root, "etc/project.conf.local"), []byte("APP_TOKEN=t\n"), 0o644)

	if code, _, stderr := sctl(t, root, "start", "app"); code != 0 {
		t.Fatal(stderr)
	}
	pid := pidOf(t, root, "app")

	// Upgrades refuse before they stop anything.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"upgrade", "plan", "app=1.1", "app=1.2"}, 2, "app is given twice"},
		{[]string{"upgrade", "run", "app=1.1", "--", "no-such-command-xyz"}, 2, "no-such-command-xyz"},
		{[]string{"upgrade", "pre", "app=1.1"}, 6, filepath.Join(root, "ext/packages/app-1.1/app-1.1.config") + ":4"},
	} {
		code, _, stderr := sctl(t, root, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Contains(stderr, ".validate-") {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
		if pidOf(t, root, "app") != pid || !alive(pid) {
			t.Fatalf("%v stopped app", c.args)
		}
	}
	// The new program must exist.
	os.WriteFile(filepath.Join(root, "ext/packages/app-1.1/app-1.1.config"), []byte("service_program=packages/app-1.1/bin/app\nservice_start_secs=0.1\n"), 0o644)
	code, _, stderr := sctl(t, root, "upgrade", "pre", "app=1.1")
	if code != 6 || !strings.Contains(stderr, "app-1.1/bin/app does not exist") || pidOf(t, root, "app") != pid {
		t.Errorf("pre with a missing program: %d %q", code, stderr)
	}
	// post warns when the installed version is not the one pre planned.
	os.WriteFile(filepath.Join(root, "ext/packages/app-1.1/app-1.1.config"), []byte("service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\n"), 0o644)
	if code, _, stderr := sctl(t, root, "upgrade", "pre", "app=1.1"); code != 0 {
		t.Fatalf("pre: %s", stderr)
	}
	_, _, stderr = sctl(t, root, "upgrade", "post")
	if !strings.Contains(stderr, "app: warning: the upgrade expected version 1.1, but 1.0 is installed") {
		t.Errorf("post after a skipped package manager: %q", stderr)
	}

	// An unreadable installed-packages is reported, not guessed from.
	writeFiles(t, root, map[string]string{"ext/etc/installed-packages": "lib 1.0\napp 1.0\nextra 1.0\napp 1.0\n"})
	code, out, stderr = sctl(t, root, "status", "app")
	if code != 6 || !strings.Contains(stderr, "installed-packages:4") || strings.Contains(out, "stale") {
		t.Errorf("status with a duplicate line: %d\n%s%s", code, out, stderr)
	}
	writeFiles(t, root, map[string]string{"ext/etc/installed-packages": "lib 1.0\napp 1.0\nextra 1.0\n"})

	// Completion offers instances and why's packages and files.
	_, out, _ = sctl(t, root, "__complete", "why", "")
	for _, want := range []string{"app", "lib", "etc/lib.conf"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("why completion lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusRefusesSymlinkedVar: start and stop refuse a var/ that is a
// symlink (§1.2); status must not follow it either.
func TestStatusRefusesSymlinkedVar(t *testing.T) {
	root := playpen(t)
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(root, "var"))
	for _, args := range [][]string{{"status"}, {"ping", "alpha"}, {"start", "alpha"}} {
		code, _, stderr := sctl(t, root, args...)
		if code != 1 || !strings.Contains(stderr, "is a symlink") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
}

func TestCompletionOffersInstances(t *testing.T) {
	root := playpen(t)
	if code, _, stderr := sctl(t, root, "start", "tmpl@one"); code != 0 {
		t.Fatal(stderr)
	}
	_, out, _ := sctl(t, root, "__complete", "stop", "tmpl@")
	if !strings.Contains(out, "tmpl@one\n") {
		t.Errorf("instance completion: %q", out)
	}
}
