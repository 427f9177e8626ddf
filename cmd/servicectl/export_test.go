package main

import (
	"servicectl/pkgsvc/export"

	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		"services/db/config":   "service_program=sleep\nservice_flags=1000\nservice_user=daemon\nservice_group=daemon\nservice_nice=5\nservice_stop_signal=INT\nservice_stop_timeout=2.5\nservice_sockets='tcp:127.0.0.1:5432 unix:db.sock udp:5353'\n",
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
		sockets, _ := filepath.Glob(filepath.Join(out, "*.socket"))
		units = append(units, sockets...)
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
			for _, want := range []string{"User=daemon", "Group=daemon", "Nice=5", "KillSignal=SIGINT", "TimeoutStopSec=2.5s", "Requires=db.socket"} {
				if !strings.Contains(string(db), want) {
					t.Errorf("db.service lacks %q:\n%s", want, db)
				}
			}
			sock, _ := os.ReadFile(filepath.Join(out, "db.socket"))
			for _, want := range []string{"ListenStream=127.0.0.1:5432", "ListenStream=" + filepath.Join(gen, "var/run/db.sock"), "ListenDatagram=5353", "SocketUser=daemon", "Service=db.service"} {
				if !strings.Contains(string(sock), want) {
					t.Errorf("db.socket lacks %q:\n%s", want, sock)
				}
			}
		}
	}
}

// TestExportSupervisordRuns (§10.2): a real supervisord runs every
// exported service under its linkfarm name, `servicectl status` agrees,
// and `supervisorctl stop all` stops them.
func TestExportSupervisordRuns(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"supervisord", "supervisorctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install supervisor; make test installs it)", tool)
		}
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":      "sup\n",
		"etc/project-services":  "db\nweb\nwr\nbad\n",
		"services/bad/config":   "service_program=sleep\nservice_flags=1000\nservice_required_envars=BAD_NEEDED\n",
		"bin/wrap":              "#!/bin/sh\n/bin/sleep 0.3\nexec /bin/sleep 1000\n",
		"services/wr/config":    "service_program=" + filepath.Join(root, "bin/wrap") + "\n",
		"etc/role":              "main\n",
		"etc/roles/main/config": "playpen_services='db web@a web@b wr bad'\n",
		"services/db/config":    "service_program=sleep\nservice_flags=1000\nservice_start_secs=0.2\n",
		"services/web/config":   "service_program=sleep\nservice_flags=1000\nservice_template=1\nservice_depends=db\nservice_stop_signal=INT\n",
	})
	os.Chmod(filepath.Join(root, "bin/wrap"), 0o755)
	dir := t.TempDir()
	conf := filepath.Join(dir, "servicectl.conf") // --out is a directory; the file keeps its name
	if code, _, stderr := sctl(t, root, "export", "supervisord", "--out", dir); code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	data, _ := os.ReadFile(conf)
	for _, want := range []string{"[program:db]", "[program:web@a]", "[program:web@b]", "stopsignal=INT", "priority=110"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("export lacks %q:\n%s", want, data)
		}
	}
	// The export runs this test binary (os.Executable), which is
	// servicectl when SERVICECTL_TEST_MAIN=1: supervisord passes it on.
	sock := filepath.Join(dir, "s.sock")
	main := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(main, []byte(`[unix_http_server]
file=`+sock+`
[supervisord]
logfile=`+filepath.Join(dir, "supervisord.log")+`
pidfile=`+filepath.Join(dir, "supervisord.pid")+`
nodaemon=true
environment=SERVICECTL_TEST_MAIN="1",GORACE="atexit_sleep_ms=0"
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://`+sock+`
[include]
files = `+conf+`
`), 0o644)
	sd := exec.Command("supervisord", "-c", main)
	if err := sd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { sd.Wait(); close(exited) }()
	t.Cleanup(func() {
		exec.Command("supervisorctl", "-c", main, "shutdown").Run()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			sd.Process.Kill()
		}
	})
	ctl := func(args ...string) string {
		out, _ := exec.Command("supervisorctl", append([]string{"-c", main}, args...)...).CombinedOutput()
		return string(out)
	}
	waitFor(t, "every program RUNNING", func() bool {
		return strings.Count(ctl("status"), "RUNNING") == 4
	})
	// The wrapper's exec'd program is the service (issue 22).
	waitFor(t, "wr's wrapper to exec its program", func() bool {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pidOf(t, root, "wr")), "cmdline"))
		return string(cmdline) == "/bin/sleep\x001000\x00"
	})
	code, out, _ := sctl(t, root, "status", "db", "web@a", "web@b", "wr")
	if code != 0 || strings.Count(out, "running") != 4 {
		t.Errorf("servicectl status disagrees with supervisord: %d\n%s\n%s", code, out, ctl("status"))
	}
	for _, n := range []string{"db", "web@a"} {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pidOf(t, root, n)), "comm"))
		if strings.TrimSpace(string(comm)) != n {
			t.Errorf("%s runs as %q, not under its linkfarm name", n, comm)
		}
	}
	// run's own refusal (a required variable unset) is kept by supervisord.
	waitFor(t, "bad's refusal in supervisord's stderr log", func() bool {
		return strings.Contains(ctl("tail", "bad", "stderr"), "BAD_NEEDED")
	})
	ctl("stop", "all")
	waitFor(t, "every service stopped", func() bool {
		_, out, _ := sctl(t, root, "status", "db", "web@a", "web@b", "wr")
		return strings.Count(out, "running") == 0
	})
	// Stopped by the engine that owns them: stopped (3), not dead.
	if code, out, _ := sctl(t, root, "status", "db", "web@a", "web@b", "wr"); code != 3 || strings.Contains(out, "dead") {
		t.Errorf("status after supervisorctl stop all: exit %d\n%s", code, out)
	}
}

// TestExportNomadRoundTrips: the job is Nomad's own JSON (it reads back
// through github.com/hashicorp/nomad/api unchanged) with a group per
// service; a service_start service is refused with a clear error.
func TestExportNomadRoundTrips(t *testing.T) {
	root := examplePlaypen(t)
	code, out, stderr := sctl(t, root, "export", "nomad")
	if code != 0 {
		t.Fatalf("export nomad: %d %s", code, stderr)
	}
	if err := export.RoundTrips(out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Name": "hello"`, `"Name": "echo@blue"`, `"Driver": "raw_exec"`, `"KillSignal": "SIGTERM"`, `"run",`} {
		if !strings.Contains(out, want) {
			t.Errorf("the job lacks %s", want)
		}
	}
	bad := t.TempDir()
	os.Chmod(bad, 0o755)
	writeFiles(t, bad, map[string]string{
		"etc/project-name":       "bad\n",
		"etc/project-services":   "custom\n",
		"services/custom/config": "service_start='true'\nservice_no_pidfile=1\nservice_ping=true\nservice_stop=true\n",
	})
	for _, f := range []string{"nomad", "supervisord"} {
		if code, _, stderr := sctl(t, bad, "export", f); code == 0 || !strings.Contains(stderr, "cannot run under") {
			t.Errorf("export %s of a service_start service: %d %s", f, code, stderr)
		}
	}
}
