package main

import (
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/upgrade"
	"strings"
	"testing"
)

// TestTemplatesUnderStopRestartStatus (issue 28, §7): a template stands
// for its running instances in stop and restart (as `systemctl stop
// 'web@*'`); stop and restart with no names act on every running service
// and instance; start with no names skips a bare template with a note;
// status of a template lists its instances or says none runs (exit 3).
func TestTemplatesUnderStopRestartStatus(t *testing.T) {
	t.Parallel()
	root := playpen(t)
	if code, _, errb := sctl(t, root, "start"); code != 0 || !strings.Contains(errb, "tmpl is a template: skipped") {
		t.Fatalf("start with no names: %d %s", code, errb)
	}
	if code, _, errb := sctl(t, root, "start", "tmpl@1", "tmpl@2"); code != 0 {
		t.Fatalf("start instances: %d %s", code, errb)
	}
	p1, p2 := pidOf(t, root, "tmpl@1"), pidOf(t, root, "tmpl@2")
	if code, out, _ := sctl(t, root, "status", "tmpl"); code != 0 || strings.Count(out, "running") != 2 {
		t.Errorf("status of the template: %d\n%s", code, out)
	}
	if code, _, errb := sctl(t, root, "restart", "tmpl"); code != 0 || pidOf(t, root, "tmpl@1") == p1 || pidOf(t, root, "tmpl@2") == p2 {
		t.Errorf("restart of the template: %d %s", code, errb)
	}
	if code, _, errb := sctl(t, root, "stop", "tmpl"); code != 0 || alive(pidOf(t, root, "tmpl@1")) {
		t.Errorf("stop of the template: %d %s", code, errb)
	}
	if code, _, _ := sctl(t, root, "status", "tmpl@1"); code != 3 {
		t.Errorf("an instance after stop of its template: exit %d, want 3", code)
	}
	if code, _, errb := sctl(t, root, "stop", "tmpl"); code != 0 || !strings.Contains(errb, "no instance of it runs") {
		t.Errorf("stop of a template with none running: %d %s", code, errb)
	}
	if code, out, errb := sctl(t, root, "status", "tmpl"); code != 3 || !strings.Contains(errb, "tmpl is a template and no instance of it runs") {
		t.Errorf("status of a template with none running: %d %q %s", code, out, errb)
	}
	// stop with no names: every running service and instance.
	sctl(t, root, "start", "tmpl@3")
	p3, alpha := pidOf(t, root, "tmpl@3"), pidOf(t, root, "alpha")
	if code, _, errb := sctl(t, root, "stop"); code != 0 || alive(p3) || alive(alpha) {
		t.Errorf("stop with no names: %d %s (tmpl@3 alive %v, alpha alive %v)", code, errb, alive(p3), alive(alpha))
	}
}

// TestDowngradeHintsFollowTheCaller (issue 28): a refused downgrade names
// --allow-downgrade only where that flag exists: the upgrade commands
// and package-hook, each with its own wording.
func TestDowngradeHintsFollowTheCaller(t *testing.T) {
	root := faultPlaypen(t)
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("base 1.1.0\ntop 1.0.0\nside 1.0.0\n"), 0o644)
	code, _, errb := sctl(t, root, "upgrade", "plan", "base=1.0.0")
	if code != 1 || !strings.Contains(errb, "base 1.1.0 -> 1.0.0 is a downgrade, refused; pass --allow-downgrade") {
		t.Errorf("upgrade plan: %d %s", code, errb)
	}
	if code, _, errb := sctl(t, root, "upgrade", "plan", "--allow-downgrade", "base=1.0.0"); code != 0 {
		t.Errorf("with --allow-downgrade: %d %s", code, errb)
	}
	err := &pkgsvc.Error{Kind: pkgsvc.KindFailed, Err: &upgrade.DowngradeError{Package: "base", Old: "1.1.0", New: "1.0.0"}}
	if got := downgradeHint("servicectl package-hook", err).Error(); !strings.Contains(got, "add --allow-downgrade to the `servicectl package-hook` line") {
		t.Errorf("package-hook's hint: %s", got)
	}
	if got := downgradeHint("servicectl daemon", err).Error(); strings.Contains(got, "--allow-downgrade") {
		t.Errorf("a hint naming a flag the daemon does not have: %s", got)
	}
}

// TestSilentStatesSpeak (issue 28): a package whose directory is gone is
// warned about by list and status and its services refuse to start (6);
// two services whose ports clash are not started (6); list exits 6 over
// an installed-packages that does not parse.
func TestSilentStatesSpeak(t *testing.T) {
	root := faultPlaypen(t)
	os.RemoveAll(filepath.Join(root, "ext/packages/side-1.0.0"))
	_, _, errb := sctl(t, root, "list", "--all")
	if !strings.Contains(errb, "package side 1.0.0 is installed") {
		t.Errorf("list says nothing of the missing package: %s", errb)
	}
	if _, _, errb := sctl(t, root, "status"); !strings.Contains(errb, "ext/packages/side-1.0.0 is missing") {
		t.Errorf("status says nothing of the missing package: %s", errb)
	}
	if code, _, errb := sctl(t, root, "start", "side"); code != 6 || !strings.Contains(errb, "side-1.0.0 is missing") {
		t.Errorf("start of its service: %d %s", code, errb)
	}
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("base 1.0.0\ngarbage line here x\n"), 0o644)
	if code, _, errb := sctl(t, root, "list", "--all"); code != 6 {
		t.Errorf("list over a malformed installed-packages: exit %d %s", code, errb)
	}

	clash := t.TempDir()
	os.Chmod(clash, 0o755)
	writeFiles(t, clash, map[string]string{
		"etc/project-name":     "clash\n",
		"etc/project-services": "a\nb\nc\n",
		"services/a/config":    "service_program=sleep\nservice_flags=60\nservice_required_envars=A_PORT\nA_PORT=9100\n",
		"services/b/config":    "service_program=sleep\nservice_flags=60\nservice_required_envars=B_PORT\nB_PORT=9100\n",
		"services/c/config":    "service_program=sleep\nservice_flags=60\nservice_required_envars=C_PORT\nC_PORT=9100\n",
	})
	t.Cleanup(func() { sctl(t, clash, "stop") })
	if code, _, errb := sctl(t, clash, "start", "a", "b"); code != 6 || !strings.Contains(errb, "port clash") || alive(pidOf(t, clash, "a")) {
		t.Errorf("start of two clashing services: %d %s", code, errb)
	}
	if code, _, errb := sctl(t, clash, "start", "a"); code != 0 {
		t.Fatalf("start a alone: %d %s", code, errb)
	}
	if code, _, errb := sctl(t, clash, "start", "c"); code != 6 || !strings.Contains(errb, "port clash") {
		t.Errorf("start of a service clashing with a running one: %d %s", code, errb)
	}
}

// TestCompletionOfVersionsAndNewServices (issue 28): `upgrade plan|pre|run`
// complete PKG=VERSION from installed packages and unpacked versions;
// new-service completes the services not registered yet.
func TestCompletionOfVersionsAndNewServices(t *testing.T) {
	root := faultPlaypen(t)
	_, out, _ := sctl(t, root, "__complete", "upgrade", "plan", "")
	if !strings.Contains(out, "base=1.1.0\n") || strings.Contains(out, "base=1.0.0\n") {
		t.Errorf("upgrade plan completes:\n%s", out)
	}
	if _, out, _ := sctl(t, root, "__complete", "upgrade", "run", ""); !strings.Contains(out, "base=1.1.0\n") {
		t.Errorf("upgrade run completes:\n%s", out)
	}
	os.WriteFile(filepath.Join(root, "ext/packages/side-1.0.0/side-1.0.0.services"), []byte("side\nextra\n"), 0o644)
	if _, out, _ := sctl(t, root, "__complete", "new-service", ""); !strings.Contains(out, "extra\n") || strings.Contains(out, "base\n") {
		t.Errorf("new-service completes:\n%s", out)
	}
}

// TestExportOutIsADirectory (issue 28): --out means one thing for every
// export: a directory, made when missing, the files keeping their names;
// a file given as --out is a usage error.
func TestExportOutIsADirectory(t *testing.T) {
	root := playpen(t)
	for _, kind := range []string{"systemd", "supervisord", "nomad"} {
		dir := filepath.Join(t.TempDir(), "new", kind)
		if code, _, errb := sctl(t, root, "export", kind, "--out", dir, "alpha"); code != 0 {
			t.Errorf("export %s --out a new directory: %d %s", kind, code, errb)
		}
		if ents, _ := os.ReadDir(dir); len(ents) == 0 {
			t.Errorf("export %s wrote nothing into %s", kind, dir)
		}
		file := filepath.Join(t.TempDir(), "afile")
		os.WriteFile(file, nil, 0o644)
		if code, _, errb := sctl(t, root, "export", kind, "--out", file, "alpha"); code != 2 || !strings.Contains(errb, "takes a directory") {
			t.Errorf("export %s --out a file: %d %s", kind, code, errb)
		}
	}
}

// TestLoopingConfigDelaysOnlyItself (issue 28): a config that loops
// until its 5 s bound does not slow a command about another service:
// status, env and start of web evaluate web's config alone.
func TestLoopingConfigDelaysOnlyItself(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "loop\n",
		"etc/project-services": "web\nloop\n",
		"services/web/config":  "service_program=sleep\nservice_flags=60\nservice_start_secs=0\n",
		"services/loop/config": "echo x >>\"$PLAYPEN_ROOT/loop-evaluated\"\nwhile :; do :; done\n",
	})
	t.Cleanup(func() { sctl(t, root, "stop", "web") })
	for _, args := range [][]string{{"status", "web"}, {"env", "--check", "web"}, {"start", "web"}, {"show", "web"}, {"status", "web"}} {
		sctl(t, root, args...)
		if _, err := os.Stat(filepath.Join(root, "loop-evaluated")); err == nil {
			t.Fatalf("%v evaluated the looping config of another service", args)
		}
	}
}
