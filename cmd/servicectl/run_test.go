package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf is a buffer that a process's output is copied into while a
// test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runProc starts `servicectl run ARGS` (this test binary) as a process.
func runProc(t *testing.T, root string, args ...string) (*exec.Cmd, *syncBuf, chan struct{}) {
	t.Helper()
	out := &syncBuf{}
	cmd := exec.Command(os.Args[0], append([]string{"--root", root, "run"}, args...)...)
	cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd, out, done
}

// TestRunExecsTheProgram (§10.1): run prepares as start does, then the
// program takes its pid; status and stop work on it; signals reach it.
func TestRunExecsTheProgram(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	marker := filepath.Join(root, "post-started")
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "run\n",
		"etc/project-services": "w\nbadenv\nbadpre\n",
		"services/w/config": "service_program=sh\nservice_flags=(-c 'echo \"out of $SERVICE_NAME\"; while :; do sleep 0.1; done')\n" +
			"service_pre_start='echo pre-start ran'\nservice_post_start='touch " + marker + "'\n",
		"services/badenv/config": "service_program=sleep\nservice_flags=100\nservice_required_envars=NEEDED\n",
		"services/badpre/config": "service_program=sleep\nservice_flags=100\nservice_pre_start='exit 3'\n",
	})
	cmd, out, done := runProc(t, root, "w")
	waitFor(t, "w to run under run's pid", func() bool {
		return pidOf(t, root, "w") == cmd.Process.Pid && strings.Contains(out.String(), "out of w")
	})
	if code, stdout, _ := sctl(t, root, "status", "w"); code != 0 || !strings.Contains(stdout, "running") {
		t.Errorf("status of a run service: %d %s", code, stdout)
	}
	data, _ := os.ReadFile(filepath.Join(root, "var/run/w.output"))
	if !strings.Contains(string(data), "pre-start ran") || strings.Contains(string(data), "out of w") {
		t.Errorf("pre-start output goes to the output file, the program's to run's stdout; output file: %q", data)
	}
	if code, _, stderr := sctl(t, root, "run", "w"); code != 1 || !strings.Contains(stderr, "already running") {
		t.Errorf("a second run: %d %s", code, stderr)
	}
	if code, _, stderr := sctl(t, root, "hook", "w", "post-start"); code != 0 {
		t.Errorf("hook post-start: %d %s", code, stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("hook post-start did not run service_post_start")
	}
	if code, _, stderr := sctl(t, root, "hook", "w", "bogus"); code != 2 {
		t.Errorf("hook of an unknown step: %d %s", code, stderr)
	}
	// A signal to run's pid reaches the program itself.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not get run's SIGTERM")
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("run ended with %v, want killed by SIGTERM (the program's own death)", cmd.ProcessState)
	}

	// Never executes with an invalid environment (6) or a failed pre-start (1).
	for name, want := range map[string]int{"badenv": 6, "badpre": 1} {
		c, out, done := runProc(t, root, name)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("run %s did not exit", name)
		}
		if got := c.ProcessState.ExitCode(); got != want {
			t.Errorf("run %s: exit %d, want %d: %s", name, got, want, out.String())
		}
		if _, err := os.Stat(filepath.Join(root, "var/run", name+".pid")); err == nil {
			t.Errorf("run %s left a pidfile", name)
		}
	}

	// --output: the program's output goes to the output file.
	_, _, done2 := runProc(t, root, "--output", "w")
	waitFor(t, "w's output in the file", func() bool {
		data, _ := os.ReadFile(filepath.Join(root, "var/run/w.output"))
		return strings.Contains(string(data), "out of w")
	})
	if code, _, stderr := sctl(t, root, "stop", "w"); code != 0 {
		t.Errorf("stop of a run service: %d %s", code, stderr)
	}
	select {
	case <-done2:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not end the run service")
	}
}

// TestRunWrapperThatExecs (issue 22): under `run` (what systemd and
// supervisord call) a wrapper's exec'd program is the service: status
// says running as run's pid before and after the exec, stop ends it.
func TestRunWrapperThatExecs(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	writeFiles(t, root, map[string]string{
		"etc/project-name":     "run\n",
		"etc/project-services": "wr\n",
		"bin/wrap":             "#!/bin/sh\n/bin/sleep 0.4\nexec /bin/sleep 1000\n",
		"services/wr/config":   "service_program=" + filepath.Join(root, "bin/wrap") + "\n",
	})
	os.Chmod(filepath.Join(root, "bin/wrap"), 0o755)
	cmd, out, done := runProc(t, root, "wr")
	pid := cmd.Process.Pid
	running := func(when string) {
		t.Helper()
		if code, stdout, stderr := sctl(t, root, "--verbose", "status", "wr"); code != 0 || !strings.Contains(stdout, "running") || !strings.Contains(stdout, strconv.Itoa(pid)) {
			t.Fatalf("status %s: %d %s%s\nrun's output: %s", when, code, stdout, stderr, out.String())
		}
	}
	waitFor(t, "the wrapper to run under run's pid", func() bool { return pidOf(t, root, "wr") == pid })
	running("before the exec")
	waitFor(t, "the program to replace the wrapper", func() bool {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		return string(cmdline) == "/bin/sleep\x001000\x00"
	})
	running("after the exec")
	if code, _, stderr := sctl(t, root, "stop", "wr"); code != 0 {
		t.Fatalf("stop: %d %s", code, stderr)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not end the exec'd program")
	}
}
