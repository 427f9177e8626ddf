package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportSystemdVerifies (§10.2): every unit exported from the
// example playpen and from one with templates, users, dependencies,
// nice and hooks is accepted by the real systemd-analyze verify.
func TestExportSystemdVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is needed (apt-get install systemd; make test installs it)")
	}
	gen := t.TempDir()
	os.Chmod(gen, 0o755)
	writeFiles(t, gen, map[string]string{
		"etc/project-name":     "gen\n",
		"etc/project-services": "db\nweb\nworker\n",
		"services/db/config":   "service_program=sleep\nservice_flags=1000\nservice_user=daemon\nservice_group=daemon\nservice_nice=5\nservice_stop_signal=INT\nservice_stop_timeout=2.5\n",
		"services/web/config": "service_program=sleep\nservice_flags=1000\nservice_template=1\nservice_depends=db\nservice_hup=1\n" +
			"service_post_start='echo up'\nservice_pre_stop='echo going'\nservice_post_stop='echo gone'\nservice_restart_on_crash=0\n",
		"services/worker/config": "service_program=sleep\nservice_flags='100 % $HOME'\nservice_workdir=var\n",
	})
	os.MkdirAll(filepath.Join(gen, "var"), 0o755)
	for _, root := range []string{examplePlaypen(t), gen} {
		out := filepath.Join(t.TempDir(), "units")
		if code, _, stderr := sctl(t, root, "export", "systemd", "--out", out); code != 0 {
			t.Fatalf("export: %d %s", code, stderr)
		}
		units, _ := filepath.Glob(filepath.Join(out, "*.service"))
		if len(units) < 3 {
			t.Fatalf("%d units from %s", len(units), root)
		}
		cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...)
		cmd.Dir = out
		msg, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(msg))) > 0 {
			t.Errorf("systemd-analyze verify complains about %s: %v\n%s", root, err, msg)
		}
		if root == gen {
			web, _ := os.ReadFile(filepath.Join(out, "web@.service"))
			for _, want := range []string{"run web@%i", "ExecStartPost=", "hook web@%i post-start", "ExecStop=", "ExecStopPost=", "After=db.service", "Restart=no", "ExecReload="} {
				if !strings.Contains(string(web), want) {
					t.Errorf("web@.service lacks %q:\n%s", want, web)
				}
			}
			db, _ := os.ReadFile(filepath.Join(out, "db.service"))
			for _, want := range []string{"User=daemon", "Group=daemon", "Nice=5", "KillSignal=SIGINT", "TimeoutStopSec=2.5s"} {
				if !strings.Contains(string(db), want) {
					t.Errorf("db.service lacks %q:\n%s", want, db)
				}
			}
		}
	}
}
