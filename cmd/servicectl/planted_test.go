package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// plantCase is one file servicectl writes under var/, with a symlink (or
// a fifo, or a directory) planted in its place before a command that
// writes it runs (issue 23).
type plantCase struct {
	name   string
	path   string // relative to the playpen; a link to the scratch file is planted here
	kind   string // "link" (default), "dirlink" (a link to the scratch directory), "fifo", "dir"
	args   []string
	daemon bool // run `servicectl daemon` instead, until wait holds
	// refused: the command must fail naming path; otherwise it must
	// succeed (the planted file replaced, not followed).
	refused bool
	wait    string // with daemon: a file (relative) whose existence ends the run
}

var plantCases = []plantCase{
	{name: "output file", path: "var/run/svc.output", args: []string{"start", "svc"}, refused: true},
	{name: "output fifo", path: "var/run/svc.output", kind: "fifo", args: []string{"start", "svc"}, refused: true},
	{name: "output directory", path: "var/run/svc.output", kind: "dir", args: []string{"start", "svc"}, refused: true},
	{name: "pidfile", path: "var/run/svc.pid", args: []string{"start", "svc"}},
	{name: "state file", path: "var/run/svc.state", args: []string{"start", "svc"}},
	{name: "old launch intent (ignored)", path: "var/run/svc.launch", args: []string{"start", "svc"}},
	{name: "service lock", path: "var/run/svc.lock", args: []string{"start", "svc"}},
	{name: "service lock fifo", path: "var/run/svc.lock", kind: "fifo", args: []string{"start", "svc"}, refused: true},
	{name: "run name record", path: "var/run/runnames/svc", args: []string{"start", "svc"}},
	{name: "run name directory", path: "var/run/runnames", kind: "dirlink", args: []string{"start", "svc"}},
	{name: "rendered config", path: "var/etc/app/app.conf", args: []string{"start", "svc"}},
	{name: "rendered config directory", path: "var/etc/app", kind: "dirlink", args: []string{"start", "svc"}, refused: true},
	{name: "upgrade lock", path: "var/run/upgrade.lock", args: []string{"upgrade", "post"}},
	{name: "journal", path: "var/upgrade.journal", args: []string{"upgrade", "pre", "--files", "etc/app/app.conf"}},
	{name: "daemon lock", path: "var/run/daemon.lock", daemon: true, wait: "var/run/daemon.sock"},
	{name: "daemon pid", path: "var/run/daemon.pid", daemon: true, wait: "var/run/daemon.sock"},
	{name: "daemon token", path: "var/run/daemon.token", daemon: true, wait: "var/run/daemon.token"},
	{name: "daemon socket", path: "var/run/daemon.sock", daemon: true, wait: "var/run/daemon.token"},
	{name: "rotated output", path: "var/run/chatty.output.1", daemon: true, wait: "var/run/chatty.output.2"},
	{name: "rotation temp file", path: "var/run/chatty.output.1.tmp", daemon: true, wait: "var/run/chatty.output.2"},
}

// plantedPlaypen is a playpen with svc (renders etc/app/app.conf) and
// chatty (fills its output fast; rotated past 2,000 bytes, 2 kept).
func plantedPlaypen(t *testing.T, base string) string {
	root, err := os.MkdirTemp(base, "playpen-")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{
		"etc/project-name":       "planted\n",
		"etc/project-services":   "svc\n",
		"etc/app/app.conf":       "port=${SVC_PORT}\n",
		"services/svc/config":    "service_program=sleep\nservice_flags=60\nservice_start_secs=0\nservice_config_files=app/app.conf\nexport SVC_PORT=8123\n",
		"services/chatty/config": "service_program=sh\nservice_flags=(-c 'while :; do echo 0123456789012345678901234567890123456789; sleep 0.005; done')\nservice_start_secs=0\nservice_log_max_bytes=2000\nservice_log_keep=2\n",
	})
	os.Chmod(root, 0o755)
	return root
}

// TestReliabilityPlantedFiles: for every file servicectl writes under
// var/, a symlink to a scratch file (or a fifo, or a directory) planted
// in its place is refused with its path named, or replaced, and never
// followed: the scratch file stays byte for byte the same. As root and
// as a regular user (nobody), each over a playpen of its own.
func TestReliabilityPlantedFiles(t *testing.T) {
	t.Parallel() // its own playpens, processes and environment: runs beside the other parallel tests
	began, n, failed := time.Now(), 0, 0
	for _, user := range []string{"root", "nobody"} {
		t.Run(user, func(t *testing.T) {
			base, bin, cred := plantBase(t, user)
			for _, c := range plantCases {
				n++
				if !t.Run(c.name, func(t *testing.T) { runPlantCase(t, base, bin, cred, c) }) {
					failed++
				}
			}
		})
	}
	report(t, fmt.Sprintf("hostile neighbour: a link, fifo or directory planted at each of %d file kinds under var/, as root and as nobody; followed or mishandled", len(plantCases)), n, failed, time.Since(began))
}

// plantBase is a directory everyone can enter, the servicectl binary in
// it, and the credential to run it with.
func plantBase(t *testing.T, user string) (string, string, *syscall.Credential) {
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755) // t.TempDir's parent is 0700
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "servicectl")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if user == "root" {
		return base, bin, nil
	}
	if os.Geteuid() != 0 {
		t.Skip("running as another user needs root")
	}
	return base, bin, &syscall.Credential{Uid: 65534, Gid: 65534}
}

func runPlantCase(t *testing.T, base, bin string, cred *syscall.Credential, c plantCase) {
	root := plantedPlaypen(t, base)
	scratchDir := filepath.Join(base, "scratch-"+filepath.Base(root))
	os.Mkdir(scratchDir, 0o755)
	scratch := filepath.Join(scratchDir, "precious")
	os.WriteFile(scratch, []byte("precious\n"), 0o644)
	p := filepath.Join(root, c.path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	switch c.kind {
	case "fifo":
		syscall.Mkfifo(p, 0o644)
	case "dir":
		os.Mkdir(p, 0o755)
	case "dirlink":
		os.Symlink(scratchDir, p)
	default:
		os.Symlink(scratch, p)
	}
	if cred != nil {
		for _, d := range []string{root, scratchDir} {
			filepath.Walk(d, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, int(cred.Uid), int(cred.Gid)) })
		}
	}
	sc := func(args ...string) (int, string) {
		// Bounded: a command that hangs on a planted fifo is a failure.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--root", root}, args...)...)
		cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0", "HOME=/nonexistent")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Errorf("%v hung (killed after 30 s):\n%s", args, out)
			return -1, string(out)
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	t.Cleanup(func() { sc("stop", "svc", "chatty") })
	if c.daemon {
		runPlantDaemon(t, bin, root, cred, c, sc)
	} else {
		code, out := sc(c.args...)
		switch {
		case c.refused && (code == 0 || !strings.Contains(out, p)):
			t.Errorf("%v over a planted %s: exit %d, want a refusal naming %s:\n%s", c.args, c.path, code, p, out)
		case !c.refused && code != 0:
			t.Errorf("%v over a planted %s: exit %d, want it replaced:\n%s", c.args, c.path, code, out)
		}
	}
	if data, _ := os.ReadFile(scratch); string(data) != "precious\n" {
		t.Errorf("the planted link was followed: the scratch file now holds %q", data)
	}
	if ents, _ := os.ReadDir(scratchDir); len(ents) != 1 {
		t.Errorf("servicectl wrote into the directory a planted link names: %v", ents)
	}
}

// runPlantDaemon runs the daemon until c.wait exists (chatty started
// first for the rotation cases), then ends it.
func runPlantDaemon(t *testing.T, bin, root string, cred *syscall.Credential, c plantCase, sc func(...string) (int, string)) {
	if strings.Contains(c.path, "chatty") {
		os.WriteFile(filepath.Join(root, "etc/project-services"), []byte("svc\nchatty\n"), 0o644)
		if code, out := sc("start", "chatty"); code != 0 {
			t.Fatalf("start chatty: %s", out)
		}
	}
	cmd := exec.Command(bin, "--root", root, "daemon", "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0", "HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bufio.NewReader(stdout))
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Lstat(filepath.Join(root, c.wait)); err == nil && fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared; daemon log:\n%s", c.wait, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, err := os.Lstat(filepath.Join(root, c.path)); err == nil && fi.Mode()&os.ModeSymlink != 0 && !strings.Contains(c.path, "output.1") {
		t.Errorf("%s is still the planted link", c.path)
	}
}
