package supervise

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/proc"
	"strings"
	"syscall"
	"testing"
	"time"

	"servicectl/pkgsvc"
)

var bg = context.Background()

// TestMain lets the test binary be a supervisor process of its own, so a
// test can SIGKILL one.
func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	if root := os.Getenv("SUPERVISE_TEST_DAEMON"); root != "" {
		p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: os.Environ()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(bg, 2*time.Minute) // never outlives a failed test for long
		defer cancel()
		if err := New(p, slog.New(slog.NewTextHandler(os.Stderr, nil))).Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// playpen writes project services (name → config body) in a temp dir.
func playpen(t *testing.T, services map[string]string) string {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	var names []string
	for n, cfg := range services {
		names = append(names, n)
		os.MkdirAll(filepath.Join(root, "services", n), 0o755)
		os.WriteFile(filepath.Join(root, "services", n, "config"), []byte(cfg), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/project-name"), []byte("sup\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/project-services"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
	t.Cleanup(func() {
		p := open(t, root)
		p.StopMany(bg, names, lifecycle.ManyOptions{})
	})
	return root
}

func open(t *testing.T, root string) *lifecycle.Manager {
	t.Helper()
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuf collects a supervisor's log for conditions to wait on.
type logBuf = testkit.Buffer

// supervise runs a supervisor in this process until the test ends.
func supervise(t *testing.T, root string) *logBuf {
	lb, _ := superviseS(t, root)
	return lb
}

// superviseS is supervise that also hands back the supervisor, for
// WaitFor.
func superviseS(t *testing.T, root string) (*logBuf, *Supervisor) {
	t.Helper()
	lb := &logBuf{}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	sup := New(open(t, root), slog.New(slog.NewTextHandler(lb, nil)))
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("supervisor: %v", err)
		}
	})
	waitFor(t, "the supervisor to start", func() bool { return lb.Count("msg=supervising") == 1 })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the supervisor's log:\n%s", lb.String())
		}
	})
	return lb, sup
}

func waitFor(t *testing.T, what string, cond func() bool) { testkit.WaitFor(t, what, cond) }

func status(t *testing.T, root, name string) lifecycle.Status {
	t.Helper()
	st, _ := open(t, root).Status(bg, name)
	return st
}

func kill9(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

const longRun = "service_program=sleep\nservice_flags=1000\nservice_start_secs=0.1\n"

// TestCrashIsRestartedStopIsNot: kill -9 brings the service back at once
// (it ran over 1 s... or after 100 ms when it did not); a stop through
// the command line is never taken for a crash; a CLI restart is adopted.
func TestCrashIsRestartedStopIsNot(t *testing.T) {
	root := playpen(t, map[string]string{"a": longRun})
	lb := supervise(t, root)
	if err := open(t, root).Start(bg, "a", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	first := 0
	waitFor(t, "a to be watched", func() bool { first = status(t, root, "a").Pid; return lb.Count("msg=watching service=a") == 1 })
	kill9(t, first)
	waitFor(t, "a to run again", func() bool {
		st := status(t, root, "a")
		return st.State == pkgsvc.StateRunning && st.Pid != first
	})
	if st := status(t, root, "a"); st.Restarts != 1 {
		t.Errorf("restarts %d, want 1", st.Restarts)
	}
	// A restart through the command line: adopted, not a crash.
	if err := open(t, root).Restart(bg, "a", lifecycle.RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	third := status(t, root, "a").Pid
	waitFor(t, "the restarted a to be watched", func() bool { return lb.Count(fmt.Sprintf("msg=watching service=a pid=%d", third)) == 1 })
	if n := lb.Count("died without a stop"); n != 1 {
		t.Errorf("%d crashes logged, want 1 (the restart is not one)", n)
	}
	// A stop: released, never revived.
	if err := open(t, root).Stop(bg, "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stop to be seen", func() bool { return lb.Count("msg=\"stopped as asked\" service=a") >= 1 })
	if st := status(t, root, "a"); st.State != pkgsvc.StateStopped {
		t.Errorf("after stop: %s", st.State)
	}
	if n := lb.Count("died without a stop"); n != 1 {
		t.Errorf("the stop was taken for a crash:\n%s", lb.String())
	}
}

// TestCrashLoopEndsFailed (§9.2, §12): a service that dies after 0.2 s
// goes through the backoff states and is marked failed at its sixth
// crash, having been started exactly six times; a start clears the
// verdict. It waits on the supervisor's states, not on log lines.
func TestCrashLoopEndsFailed(t *testing.T) {
	root := playpen(t, map[string]string{"flaky": "service_program=sleep\nservice_flags=0.2\nservice_start_secs=0.05\n"})
	lb, sup := superviseS(t, root)
	began := time.Now()
	if err := open(t, root).Start(bg, "flaky", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	if err := sup.WaitFor(ctx, "flaky", Backoff); err != nil {
		t.Fatal(err)
	}
	if err := sup.WaitFor(ctx, "flaky", Failed); err != nil {
		t.Fatalf("%v\n%s", err, lb.String())
	}
	took := time.Since(began)
	if st := status(t, root, "flaky"); st.State != pkgsvc.StateFailed {
		t.Errorf("status %s, want failed", st.State)
	}
	st, _ := open(t, root).ServiceState("flaky")
	if st.Restarts != 5 || st.Crashes != 6 {
		t.Errorf("restarts %d crashes %d, want 5 and 6 (six starts)", st.Restarts, st.Crashes)
	}
	if n := lb.Count("msg=restarted"); n != 5 {
		t.Errorf("%d restarts logged, want 5", n)
	}
	// 6 runs of 0.2 s and backoffs 0.1+0.2+0.4+0.8+1.6 s: about 4.3 s.
	if took < 3*time.Second {
		t.Errorf("failed after %v: the backoff did not hold", took)
	}
	if err := open(t, root).Start(bg, "flaky", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := status(t, root, "flaky"); st.State != pkgsvc.StateRunning {
		t.Errorf("start after failed: %s", st.State)
	}
	if err := sup.WaitFor(ctx, "flaky", Running); err != nil {
		t.Errorf("after a start: %v", err)
	}
}

// daemon is a supervisor run as a process of its own (the test binary).
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once reaped
	log    *logBuf
}

func daemonProc(t *testing.T, root string) *daemon {
	t.Helper()
	d := &daemon{exited: make(chan struct{}), log: &logBuf{}}
	d.cmd = exec.Command(os.Args[0])
	d.cmd.Env = append(os.Environ(), "SUPERVISE_TEST_DAEMON="+root)
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("supervisor %d's log:\n%s", d.cmd.Process.Pid, d.log.String())
		}
	})
	return d
}

// TestDaemonKilledServicesLive: SIGKILL of the supervisor leaves the
// services running; one killed while no supervisor runs is restarted by
// the next, which adopts the others and still catches a crash.
func TestDaemonKilledServicesLive(t *testing.T) {
	root := playpen(t, map[string]string{"a": longRun, "b": longRun})
	p := open(t, root)
	if err := lifecycle.FirstError(p.StartMany(bg, []string{"a", "b"}, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	a0, b0 := status(t, root, "a").Pid, status(t, root, "b").Pid
	d := daemonProc(t, root)
	waitFor(t, "the first supervisor", func() bool { return d.log.Count("msg=supervising") == 1 })
	d.cmd.Process.Kill()
	<-d.exited
	if status(t, root, "a").Pid != a0 || status(t, root, "b").Pid != b0 {
		t.Fatal("killing the supervisor touched the services")
	}
	kill9(t, b0) // while no supervisor runs
	waitFor(t, "b to die", func() bool { return status(t, root, "b").State != pkgsvc.StateRunning })
	lb2 := daemonProc(t, root).log
	waitFor(t, "b to be revived", func() bool {
		st := status(t, root, "b")
		return st.State == pkgsvc.StateRunning && st.Pid != b0
	})
	if status(t, root, "a").Pid != a0 {
		t.Error("a was restarted instead of adopted")
	}
	waitFor(t, "a to be adopted", func() bool { return lb2.Count(fmt.Sprintf("msg=watching service=a pid=%d", a0)) == 1 })
	kill9(t, a0)
	waitFor(t, "a to be revived by the new supervisor", func() bool {
		st := status(t, root, "a")
		return st.State == pkgsvc.StateRunning && st.Pid != a0
	})
}

// TestOneSupervisorPerPlaypen: of two started at once, one runs and the
// other exits 1 saying so.
func TestOneSupervisorPerPlaypen(t *testing.T) {
	root := playpen(t, map[string]string{"a": longRun})
	d1, d2 := daemonProc(t, root), daemonProc(t, root)
	var loser *daemon
	select {
	case <-d1.exited:
		loser = d1
	case <-d2.exited:
		loser = d2
	case <-time.After(20 * time.Second):
		t.Fatal("both supervisors run")
	}
	if code := loser.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("the second supervisor exited %d, want 1", code)
	}
	if loser.log.Count("already runs") != 1 {
		t.Errorf("the loser did not say why: %s", loser.log.String())
	}
}

// TestOutputRotatedWhileWritten (§9.2): the output file of a service
// that keeps writing is rotated at service_log_max_bytes, service_log_keep
// old files are kept, and `logs -f` follows across the rotations.
func TestOutputRotatedWhileWritten(t *testing.T) {
	root := playpen(t, map[string]string{"chatty": "service_program=sh\n" +
		"service_flags=(-c 'i=0; while :; do echo \"line $i of a chatty service\"; i=$((i+1)); sleep 0.005; done')\n" +
		"service_start_secs=0.1\nservice_log_max_bytes=4000\nservice_log_keep=2\n"})
	lb, sup := superviseS(t, root)
	p := open(t, root)
	if err := p.Start(bg, "chatty", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	followed := &logBuf{}
	go p.Logs(ctx, "chatty", 0, true, followed)
	out := filepath.Join(p.RunVar, "chatty.output")
	waitFor(t, "two rotations", func() bool {
		_, err1 := os.Stat(out + ".1")
		_, err2 := os.Stat(out + ".2")
		return err1 == nil && err2 == nil && sup.Rotations()["chatty"] >= 3
	})
	// A rotation is a counter and a debug line, never an event of the
	// list (issue 24): nothing about it at the default level.
	if lb.Has("rotated") {
		t.Errorf("rotations logged at the default level:\n%s", lb.String())
	}
	if _, err := os.Stat(out + ".3"); err == nil {
		t.Error("more old files than service_log_keep")
	}
	// logs -f kept following: it shows lines written after the last
	// rotation, numbered higher than any in the newest old file.
	old, _ := os.ReadFile(out + ".1")
	last := strings.TrimSpace(string(old))
	last = last[strings.LastIndexByte(last, '\n')+1:]
	var n int
	fmt.Sscanf(last, "line %d", &n)
	want := fmt.Sprintf("line %d of", n+50)
	waitFor(t, "logs -f to show "+want, func() bool { return followed.Count(want) == 1 })
}

// TestFailedPingsRestart (§9.2): service_ping_interval pings; three
// failures in a row restart the service.
func TestFailedPingsRestart(t *testing.T) {
	dir := t.TempDir()
	alive := filepath.Join(dir, "alive")
	os.WriteFile(alive, nil, 0o644)
	root := playpen(t, map[string]string{"pinged": longRun + "service_ping_interval=0.1\nservice_ping='test -e " + alive + "'\n"})
	lb := supervise(t, root)
	if err := open(t, root).Start(bg, "pinged", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	first := status(t, root, "pinged").Pid
	waitFor(t, "pinged to be watched", func() bool { return lb.Count("msg=watching service=pinged") == 1 })
	os.Remove(alive) // the service stops answering
	waitFor(t, "a restart after 3 failed pings", func() bool { return lb.Count("restarting after 3 failed pings") >= 1 })
	os.WriteFile(alive, nil, 0o644)
	waitFor(t, "a new pid", func() bool {
		st := status(t, root, "pinged")
		return st.State == pkgsvc.StateRunning && st.Pid != first
	})
	if n := lb.Count("in_a_row=3"); n < 1 {
		t.Errorf("no third failure logged before the restart:\n%s", lb.String())
	}
}

// TestAliveFromThePidfd: the supervisor answers liveness from the pidfd
// it holds (Playpen.Liveness), and a status that uses it sees a death at
// once.
func TestAliveFromThePidfd(t *testing.T) {
	root := playpen(t, map[string]string{"a": longRun + "service_restart_on_crash=0\n"})
	p := open(t, root)
	sup := New(p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := p.Start(bg, "a", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := p.ServiceState("a")
	waitFor(t, "a watched", func() bool { _, known := sup.Alive("a", st.Pid, st.StartTime); return known })
	if alive, _ := sup.Alive("a", st.Pid, st.StartTime); !alive {
		t.Fatal("a running service is not alive")
	}
	if _, known := sup.Alive("a", st.Pid, st.StartTime+1); known {
		t.Error("Alive answers for another start time")
	}
	p.Liveness = sup.Alive
	kill9(t, st.Pid)
	// Dead: either known dead (the pidfd fired) or no longer answered for
	// (the supervisor handled the death); never alive.
	waitFor(t, "the death seen", func() bool { alive, _ := sup.Alive("a", st.Pid, st.StartTime); return !alive })
	if got, _ := p.Status(bg, "a"); got.State == pkgsvc.StateRunning {
		t.Errorf("status with the supervisor's liveness: %s after kill -9", got.State)
	}
}

// TestWithoutPidfds: on a kernel without pidfds the supervisor learns of
// deaths by polling /proc, and crash restart still works (§9.1).
func TestWithoutPidfds(t *testing.T) {
	proc.ForcePolling(true)
	defer proc.ForcePolling(false)
	TestCrashIsRestartedStopIsNot(t)
}

// TestReliabilitySupervisor (issue 15, docs/RELIABILITY.md): rounds of
// kill -9 of the supervisor, kill -9 of a service while none runs, a new
// supervisor, and kill -9 of a service under it. Every round must end
// with each service running exactly once: revived, never duplicated, the
// others adopted untouched.
func TestReliabilitySupervisor(t *testing.T) {
	rounds := 3
	if os.Getenv("SERVICECTL_RELIABILITY") == "full" {
		rounds = 25
	}
	names := []string{"a", "b", "c"}
	root := playpen(t, map[string]string{"a": longRun, "b": longRun, "c": longRun})
	p := open(t, root)
	if err := lifecycle.FirstError(p.StartMany(bg, names, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	failures := 0
	pids := func() map[string]int {
		m := map[string]int{}
		for _, n := range names {
			if st := status(t, root, n); st.State == pkgsvc.StateRunning {
				m[n] = st.Pid
			}
		}
		return m
	}
	for i := 0; i < rounds; i++ {
		d := daemonProc(t, root)
		waitFor(t, "a supervisor", func() bool { return d.log.Count("msg=supervising") == 1 })
		victim := names[i%len(names)]
		before := pids()
		kill9(t, before[victim])
		waitFor(t, victim+" revived under the supervisor", func() bool {
			st := status(t, root, victim)
			return st.State == pkgsvc.StateRunning && st.Pid != before[victim]
		})
		d.cmd.Process.Kill()
		<-d.exited
		// Killed while no supervisor runs; the next one revives it.
		other := names[(i+1)%len(names)]
		mid := pids()
		kill9(t, mid[other])
		d2 := daemonProc(t, root)
		waitFor(t, other+" revived by the next supervisor", func() bool {
			st := status(t, root, other)
			return st.State == pkgsvc.StateRunning && st.Pid != mid[other]
		})
		after := pids()
		for _, n := range names {
			if n != other && after[n] != mid[n] {
				failures++
				t.Errorf("round %d: %s restarted (pid %d → %d) instead of adopted", i, n, mid[n], after[n])
			}
			if c := countArgv0(filepath.Join(root, "var/linkfarm", n)); c != 1 {
				failures++
				t.Errorf("round %d: %d processes of %s", i, c, n)
			}
		}
		d2.cmd.Process.Kill()
		<-d2.exited
	}
	t.Logf("RELIABILITY|supervisor: kill -9 of the daemon, of services under it and while none runs; lost or duplicated services|%d|%d|%.1f", rounds, failures, time.Since(start).Seconds())
}

// countArgv0 counts the live processes run as path.
func countArgv0(path string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		if a0, _, _ := strings.Cut(string(cmd), "\x00"); a0 == path {
			n++
		}
	}
	return n
}

// TestWrapperShapesUnderTheDaemon (issue 22): for each program shape, a
// CLI start while the supervisor runs is no crash; every kill -9 of the
// program after a run of over 1 s is revived at once (not only the
// first), with one restart counted and one log line per death.
func TestWrapperShapesUnderTheDaemon(t *testing.T) {
	for _, sh := range testkit.Shapes(false) {
		if sh.Name == "ignores-term" {
			continue // the same as exec-at-once to the supervisor
		}
		t.Run(sh.Name, func(t *testing.T) {
			t.Parallel()
			root := playpen(t, map[string]string{"svc": sh.Config})
			for rel, body := range sh.Files {
				rel = strings.TrimSuffix(rel, "*")
				os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
				os.WriteFile(filepath.Join(root, rel), []byte(body), 0o755)
			}
			lb := supervise(t, root)
			if err := open(t, root).Start(bg, "svc", lifecycle.StartOptions{}); err != nil {
				t.Fatal(err)
			}
			pid := status(t, root, "svc").Pid
			for round := 1; round <= 3; round++ {
				waitFor(t, "the program to run and be watched", func() bool {
					return testkit.ProgramPid(pid) != 0 && lb.Has(fmt.Sprintf("msg=watching service=svc pid=%d", pid))
				})
				st := status(t, root, "svc")
				if st.State != pkgsvc.StateRunning || st.Pid != pid || st.Restarts != round-1 {
					t.Fatalf("round %d: %+v, want running as pid %d with %d restarts", round, st, pid, round-1)
				}
				time.Sleep(time.Until(st.StartedAt.Add(1100 * time.Millisecond))) // a steady run (§9.2), not synchronisation
				if n := lb.Count("died without a stop"); n != round-1 {
					t.Fatalf("round %d: %d deaths logged before the kill, want %d:\n%s", round, n, round-1, lb.String())
				}
				target := pid
				if sh.Forks {
					target = -pid // the launcher and the program it waits on
				}
				kill9(t, target)
				waitFor(t, "the revival", func() bool {
					st := status(t, root, "svc")
					return st.State == pkgsvc.StateRunning && st.Pid != pid
				})
				waitFor(t, "the revival's log line", func() bool { return lb.Count("msg=restarted service=svc") == round })
				if lb.Has("restarting after a backoff") {
					t.Fatalf("round %d: a run over 1 s was revived after a backoff:\n%s", round, lb.String())
				}
				pid = status(t, root, "svc").Pid
			}
			if n := lb.Count("died without a stop"); n != 3 {
				t.Errorf("%d deaths logged, want 3:\n%s", n, lb.String())
			}
			if n := lb.Count("msg=restarted service=svc"); n != 3 {
				t.Errorf("%d revivals logged, want 3:\n%s", n, lb.String())
			}
			if err := open(t, root).Stop(bg, "svc"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the stop to be seen", func() bool { return lb.Has("msg=\"stopped as asked\" service=svc") })
			if n := lb.Count("died without a stop"); n != 3 {
				t.Errorf("the stop was taken for a crash:\n%s", lb.String())
			}
		})
	}
}

// TestNoRestartOnCrashStaysDead: with service_restart_on_crash=0 a
// service killed under the supervisor, or found dead when it starts,
// is left dead once (one log line, no loop re-reading its record: the
// daemon once spun on it at full CPU), and a later start is watched.
func TestNoRestartOnCrashStaysDead(t *testing.T) {
	const noRestart = "service_program=sleep\nservice_flags=1000\nservice_start_secs=0\nservice_restart_on_crash=0\n"
	root := playpen(t, map[string]string{"a": noRestart, "found": noRestart, "b": longRun})
	for _, n := range []string{"a", "found"} {
		if err := open(t, root).Start(bg, n, lifecycle.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dead := status(t, root, "found").Pid
	kill9(t, dead)
	waitFor(t, "found's process to go", func() bool { return syscall.Kill(dead, 0) != nil })
	lb, sup := superviseS(t, root)
	waitFor(t, "a to be watched", func() bool { return lb.Count("msg=watching service=a") == 1 })
	kill9(t, status(t, root, "a").Pid)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	for _, n := range []string{"a", "found"} {
		if err := sup.WaitFor(ctx, n, Stopped); err != nil {
			t.Fatalf("%s: %v (state %s)", n, err, sup.StateOf(n))
		}
	}
	// A later event the supervisor handles in order: by then a loop
	// would have logged its refusal thousands of times.
	if err := open(t, root).Start(bg, "b", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to be watched", func() bool { return lb.Count("msg=watching service=b") == 1 })
	for _, n := range []string{"a", "found"} {
		if c := lb.Count("msg=\"not restarting: service_restart_on_crash=0\" service=" + n); c != 1 {
			t.Errorf("%s: refused to restart %d times, want once", n, c)
		}
		if st := status(t, root, n); st.State != pkgsvc.StateDead {
			t.Errorf("%s: %s, want dead", n, st.State)
		}
	}
	if err := open(t, root).Start(bg, "a", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sup.WaitFor(ctx, "a", Running); err != nil {
		t.Fatalf("a started again: %v (state %s)", err, sup.StateOf("a"))
	}
}

// TestRevivalThatExitsAtOnce: a service whose revivals exit at once
// (before the daemon can claim them, or before a state is written) ends
// failed: the daemon neither crashes (it once dereferenced the claim it
// did not get) nor forgets the service (a start that died at once used
// to remove the record the crash count rests on).
func TestRevivalThatExitsAtOnce(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "ran")
	cfg := "service_program=sh\nservice_flags=(-c 'if [ -e " + mark + " ]; then exit 1; fi; : >" + mark + "; sleep 0.2; exit 1')\nservice_start_secs=0\n"
	root := playpen(t, map[string]string{"q": cfg})
	_, sup := superviseS(t, root)
	if err := open(t, root).Start(bg, "q", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	if err := sup.WaitFor(ctx, "q", Failed); err != nil {
		t.Fatalf("q: %v (state %s, status %s)", err, sup.StateOf("q"), status(t, root, "q").State)
	}
	if st := status(t, root, "q"); st.State != pkgsvc.StateFailed {
		t.Errorf("status: %s, want failed", st.State)
	}
}
