package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/dashboard"
)

// statusZoo is a playpen whose services are in every state status
// knows: running, stopped, dead, failed (once the daemon has seen
// crashy crash), stale, a config that no longer evaluates (running:
// status does not evaluate it; stopped: a config error), and a template
// with a running instance. The caller starts the daemon.
func statusZoo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":                      "zoo\n",
		"etc/project-services":                  "up\ndown\ndead\ncrashy\nbroken\nbrokendown\ntmpl\n",
		"services/up/config":                    "service_program=sleep\nservice_flags=60\nservice_start_secs=0\n",
		"services/down/config":                  "service_program=sleep\nservice_flags=60\n",
		"services/dead/config":                  "service_program=sleep\nservice_flags=60\nservice_start_secs=0\nservice_restart_on_crash=0\n",
		"services/crashy/config":                "service_program=sleep\nservice_flags=0.5\nservice_start_secs=0\n",
		"services/broken/config":                "service_program=sleep\nservice_flags=60\nservice_start_secs=0\n",
		"services/brokendown/config":            "service_program=sleep\nservice_stop_timeout=ten\n",
		"services/tmpl/config":                  "service_program=sleep\nservice_flags=60\nservice_start_secs=0\nservice_template=1\n",
		"ext/etc/installed-packages":            "lib 1.0\napp 1.0\n",
		"ext/packages/lib-1.0/lib-1.0.services": "",
		"ext/packages/lib-1.1/lib-1.1.services": "",
		"ext/packages/app-1.0/app-1.0.services": "app\n",
		"ext/packages/app-1.0/app-1.0.deps":     "lib\n",
		"ext/packages/app-1.0/app-1.0.config":   "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0\n",
	})
	for _, args := range [][]string{{"new-service", "app"}, {"--quiet", "start", "up", "dead", "broken", "tmpl@a", "app"}} {
		if code, _, stderr := sctl(t, root, args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	t.Cleanup(func() { sctl(t, root, "--quiet", "stop", "--all") })
	// dead: its process killed (ours: the pid its state file names).
	st, err := os.ReadFile(filepath.Join(root, "var/run/dead.state"))
	var rec struct{ Pid int }
	if err != nil || json.Unmarshal(st, &rec) != nil || rec.Pid <= 0 {
		t.Fatalf("dead.state: %v %s", err, st)
	}
	syscall.Kill(rec.Pid, syscall.SIGKILL)
	waitFor(t, "dead's process to go", func() bool { return syscall.Kill(rec.Pid, 0) != nil })
	// stale: lib upgraded under the running app; broken: its config
	// no longer evaluates.
	writeFiles(t, root, map[string]string{
		"ext/etc/installed-packages": "lib 1.1\napp 1.0\n",
		"services/broken/config":     "service_program=sleep\nservice_stop_timeout=ten\n",
	})
	return root
}

// startDaemonProc runs `servicectl daemon` as a process of this test and
// waits until daemon.sock answers.
func startDaemonProc(t *testing.T, root string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--root", root, "daemon", "--http", "")
	cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	log := &syncBuf{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	})
	pp := openPlaypen(t, root)
	waitFor(t, "daemon.sock to answer", func() bool {
		_, _, ok, _ := dashboard.AskStatus(pp, []string{"up"})
		return ok
	})
	return cmd
}

func openPlaypen(t *testing.T, root string) *pkgsvc.Playpen {
	t.Helper()
	pp, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: root, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	return pp
}

var uptimeCol = regexp.MustCompile(`\s+(\d+[smhd][0-9ms]*|-)\s*$`)

// TestStatusThroughTheDaemon (SPEC §9.5): with a daemon on daemon.sock,
// status (table and --json, every selection, exit codes and warnings)
// is what the command prints on its own, and it did come from the
// daemon.
func TestStatusThroughTheDaemon(t *testing.T) {
	root := statusZoo(t)
	startDaemonProc(t, root)
	if code, _, stderr := sctl(t, root, "start", "crashy"); code != 0 { // dies at once, again and again
		out, _ := os.ReadFile(filepath.Join(root, "var/run/crashy.output"))
		t.Logf("start crashy: %d %s\n%s", code, stderr, out)
	}
	waitFor(t, "crashy to be marked failed by the daemon", func() bool {
		_, out, _ := sctl(t, root, "status", "--json", "crashy")
		return strings.Contains(out, `"state": "failed"`)
	})
	pp := openPlaypen(t, root)
	names, _ := pp.AllServices()
	sts, errs, ok, why := dashboard.AskStatus(pp, names)
	if !ok {
		t.Fatalf("the daemon did not answer: %v", why)
	}
	states := map[string]string{}
	for _, st := range sts {
		states[st.Service] = st.State
		if st.Stale {
			states[st.Service] += " stale"
		}
		if st.ConfigError != "" {
			states[st.Service] += " config-error"
		}
	}
	want := map[string]string{"up": "running", "down": "stopped", "dead": "dead", "crashy": "failed",
		"broken": "running", "brokendown": "stopped config-error", "tmpl@a": "running", "app": "running stale"}
	for n, w := range want {
		if states[n] != w {
			t.Errorf("%s through the daemon: %q, want %q (all: %v)", n, states[n], w, states)
		}
	}
	if len(errs) == 0 {
		t.Errorf("no config errors came through the daemon")
	}
	for _, args := range [][]string{
		{"status"}, {"status", "--json"}, {"status", "--all", "--json"}, {"status", "--all"},
		{"status", "up", "dead", "tmpl", "--json"}, {"status", "nosuch", "up", "--json"},
		{"status", "brokendown", "broken"}, {"status", "tmpl@b"}, {"--verbose", "status", "--all"},
	} {
		code, out, stderr := sctl(t, root, args...)
		t.Setenv("SERVICECTL_DAEMON", "off")
		lcode, lout, lstderr := sctl(t, root, args...)
		os.Unsetenv("SERVICECTL_DAEMON")
		if strings.Contains(stderr, "did not answer") {
			t.Errorf("%v: the daemon did not answer: %s", args, stderr)
		}
		if code != lcode || stderr != lstderr || trimUptime(out) != trimUptime(lout) {
			t.Errorf("%v: through the daemon exit %d\n%s%s\non its own exit %d\n%s%s", args, code, out, stderr, lcode, lout, lstderr)
		}
	}
}

func trimUptime(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		b.WriteString(uptimeCol.ReplaceAllString(l, "") + "\n")
	}
	return b.String()
}

// TestStatusWithoutAnAnsweringDaemon: a daemon.sock that accepts and
// never answers, answers late, answers garbage or belongs to another
// user leaves status to work alone, with the same answer.
func TestStatusWithoutAnAnsweringDaemon(t *testing.T) {
	root := playpen(t)
	if code, _, stderr := sctl(t, root, "--quiet", "start", "alpha"); code != 0 {
		t.Fatal(stderr)
	}
	t.Setenv("SERVICECTL_DAEMON", "off")
	lcode, lout, _ := sctl(t, root, "status", "--json")
	os.Unsetenv("SERVICECTL_DAEMON")
	sock := filepath.Join(root, "var/run/daemon.sock")
	answers := map[string]string{
		"silent":  "",
		"garbage": "HTTP/1.1 200 OK\r\nContent-Type: text/x-servicectl-status; v=1\r\n\r\nS\t\"alpha\"\tnonsense\n",
		"json":    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[]",
		"other":   "HTTP/1.1 200 OK\r\nContent-Type: text/x-servicectl-status; v=1\r\n\r\nS\t\"zzz\"\t\"\"\t\"\"\t\"running\"\t1\t\"\"\t\"zzz\"\t0\t0\t0\t\"\"\t\"\"\nend\n",
		"closed":  "-",
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			os.Remove(sock)
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go fakeDaemon(ln, answer)
			code, out, stderr := sctl(t, root, "--verbose", "status", "--json")
			if code != lcode || out != lout {
				t.Errorf("exit %d\n%s\nwant exit %d\n%s", code, out, lcode, lout)
			}
			if !strings.Contains(stderr, "did not answer on "+sock) {
				t.Errorf("--verbose does not say the daemon was not used: %q", stderr)
			}
		})
	}
	t.Run("other user's", func(t *testing.T) {
		os.Remove(sock)
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if err := os.Lchown(sock, 65534, 65534); err != nil {
			t.Skipf("cannot give the socket away: %v", err)
		}
		asked := make(chan bool, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				asked <- true
				c.Close()
			}
		}()
		code, out, stderr := sctl(t, root, "--verbose", "status", "--json")
		if code != lcode || out != lout || !strings.Contains(stderr, "not a socket of this user's") {
			t.Errorf("exit %d %q\n%s", code, stderr, out)
		}
		select {
		case <-asked:
			t.Errorf("status connected to another user's socket")
		default:
		}
	})
}

// fakeDaemon answers every connection with answer: "" never answers
// (holds the connection until the listener closes), "-" closes at once.
func fakeDaemon(ln net.Listener, answer string) {
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		switch answer {
		case "":
			held = append(held, c)
		case "-":
			c.Close()
		default:
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Write([]byte(answer))
			c.Close()
		}
	}
}
