package lifecycle

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/testkit"
	"servicectl/pkgsvc/proc"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// impostor runs the test binary's sleep helper through path (a linkfarm
// link), so its argv[0] is what a service of that link shows.
func impostor(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "HELPER=sleep")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestPidfileChangedBehindOurBack (§4.7): a pidfile that servicectl wrote
// and that now names another pid than its state file is stale, even when
// that pid runs through the very same linkfarm path; stop signals neither.
func TestPidfileChangedBehindOurBack(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "")))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	orig := x.pid("web")
	s, _ := x.p.Resolve("web")
	imp := impostor(t, s.LinkPath)
	os.WriteFile(filepath.Join(x.p.RunVar, "web.pid"), []byte(strconv.Itoa(imp.Process.Pid)+"\n"), 0o644)

	// The pidfile is not believed; the state file, which has the start
	// time, still names the service's process: running, as that pid.
	st, err := x.reopen().Status(bg, "web")
	if err != nil || st.State != pkgsvc.StateRunning || st.Pid != orig || !strings.Contains(st.Detail, "changed by someone else") {
		t.Fatalf("status: %+v %v; want running as pid %d, saying the pidfile was changed", st, err, orig)
	}
	// start repairs the pidfile, and runs nothing more.
	if err := x.reopen().Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if x.pid("web") != orig {
		t.Errorf("pidfile after start: %d, want %d", x.pid("web"), orig)
	}
	os.WriteFile(filepath.Join(x.p.RunVar, "web.pid"), []byte(strconv.Itoa(imp.Process.Pid)+"\n"), 0o644)
	if err := x.reopen().Stop(bg, "web"); err != nil {
		t.Fatal(err)
	}
	if !alive(imp.Process.Pid) {
		t.Error("stop signalled the impostor named by the changed pidfile")
	}
	waitGone(t, orig)
	if _, err := os.Stat(filepath.Join(x.p.RunVar, "web.pid")); err == nil {
		t.Error("the pidfile is still there after stop")
	}
}

// TestOwnPidfileNewPidMustBeNewer (§4.7): with service_own_pidfile the
// program may replace itself, so a new pid in the pidfile is accepted
// when it runs the program and started no earlier than the service.
func TestOwnPidfileNewPidMustBeNewer(t *testing.T) {
	x := newTP(t, merge(project("d", "daemonize", "service_own_pidfile=1\n")))
	s, _ := x.p.Resolve("d")
	os.MkdirAll(filepath.Dir(s.LinkPath), 0o755)
	os.Symlink(testBin, s.LinkPath)
	older := impostor(t, s.LinkPath) // started before the service
	// Start times count clock ticks: the service must start in a later
	// tick than the impostor, or "older" would not be older.
	oi, err := proc.ReadStat(older.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		up, _ := os.ReadFile("/proc/uptime")
		sec, _, _ := strings.Cut(string(up), " ")
		f, _ := strconv.ParseFloat(sec, 64)
		if uint64(f*100) > oi.StartTime+1 {
			return nil
		}
		return fmt.Errorf("clock tick still %v", f)
	})
	if err := x.p.Start(bg, "d", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(x.p.RunVar, "d.pid")
	orig := x.pid("d")
	t.Cleanup(func() {
		if o, err := proc.Claim(orig, proc.Want{}); err == nil {
			o.Signal(9, true)
			o.Close()
		}
	})
	os.WriteFile(pidfile, []byte(strconv.Itoa(older.Process.Pid)+"\n"), 0o644)
	if st, _ := x.reopen().Status(bg, "d"); st.State != pkgsvc.StateDead {
		t.Errorf("a pid older than the service: %+v, want dead", st)
	}
	newer := impostor(t, s.LinkPath) // as if the daemon re-executed itself
	os.WriteFile(pidfile, []byte(strconv.Itoa(newer.Process.Pid)+"\n"), 0o644)
	if st, _ := x.reopen().Status(bg, "d"); st.State != pkgsvc.StateRunning || st.Pid != newer.Process.Pid {
		t.Errorf("a newer pid running the program: %+v, want running", st)
	}
}

// TestWrapperThatExecs: a program that is a script ending in `exec prog`
// keeps its pid and start time under another argv[0]; the state file
// follows it, so status says running and stop stops it.
func TestWrapperThatExecs(t *testing.T) {
	x := newTP(t, merge(
		map[string]string{"bin/wrapper*": "#!/bin/sh\nexec @BIN@ \"$@\"\n"},
		map[string]string{"services/w/config": "service_program=wrapper\nexport HELPER=sleep\nservice_start_secs=0.3\n"},
	))
	if err := x.p.Start(bg, "w", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("w")
	st, err := x.reopen().Status(bg, "w")
	if err != nil || st.State != pkgsvc.StateRunning || st.Pid != pid {
		t.Fatalf("status after the wrapper exec'd: %+v %v", st, err)
	}
	if err := x.reopen().Stop(bg, "w"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
}

// TestStopRecordsIntentFirst: the state file says "up" while the service
// runs, and before the stop's first signal reaches it the lock file says
// a stop of its pid is under way (what the supervisor reads as "down"),
// so a death can be told from a requested stop.
func TestStopRecordsIntentFirst(t *testing.T) {
	out := filepath.Join(t.TempDir(), "want")
	x := newTP(t, merge(project("w", "report-want", "export HELPER_OUT="+out+"\n")))
	if err := x.p.Start(bg, "w", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := pkgsvc.ReadState(filepath.Join(x.p.RunVar, "w.state")); st == nil || st.Want != pkgsvc.WantUp {
		t.Fatalf("state after start: %+v", st)
	}
	if err := x.reopen().Stop(bg, "w"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != pkgsvc.WantDown {
		t.Errorf("the service saw want=%q when signalled, want %q", got, pkgsvc.WantDown)
	}
}

// TestFailedVerdictShownUntilStart (§4.8, §9.2): a service the supervisor
// gave up on shows `failed`; a start clears it.
func TestFailedVerdictShownUntilStart(t *testing.T) {
	x := newTP(t, merge(project("f", "sleep", "")))
	if err := x.p.Start(bg, "f", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("f")
	stf := filepath.Join(x.p.RunVar, "f.state")
	st, _ := pkgsvc.ReadState(stf)
	if o, err := proc.Claim(pid, Identity(st)); err == nil {
		o.Signal(9, true)
		o.Close()
	}
	waitGone(t, pid)
	st.Failed, st.Crashes = true, 6
	pkgsvc.WriteState(stf, st)
	if got, _ := x.reopen().Status(bg, "f"); got.State != pkgsvc.StateFailed {
		t.Fatalf("status of a failed service: %s", got.State)
	}
	if err := x.reopen().Start(bg, "f", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.reopen().Status(bg, "f"); got.State != pkgsvc.StateRunning {
		t.Errorf("after start: %s", got.State)
	}
}

// TestReloadWhileResolvingAndStarting: Invalidate (a reload after files
// changed) while other goroutines resolve every service, read status and
// start and stop one; under -race nothing may touch what another reads,
// and every resolve sees either the old files or the new ones.
func TestReloadWhileResolvingAndStarting(t *testing.T) {
	files := map[string]string{}
	var names []string
	for i := 0; i < 12; i++ {
		n := fmt.Sprintf("s%02d", i)
		names = append(names, n)
		for k, v := range project(n, "sleep", "export X=old\n") {
			files[k] = v
		}
	}
	x := newTP(t, merge(files))
	p := x.p
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				defs, errs := p.ResolveAll(names)
				for i, err := range errs {
					if err != nil {
						t.Errorf("resolve %s: %v", names[i], err)
						return
					}
					if v := envValue(defs[i].Env, "X"); v != "old" && v != "new" {
						t.Errorf("%s: X=%q", names[i], v)
					}
				}
				p.StatusMany(bg, names)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			if err := p.Start(bg, "s00", StartOptions{}); err != nil {
				t.Error(err)
			}
			if err := p.Stop(bg, "s00"); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := 0; i < 50; i++ {
		if i == 25 {
			os.WriteFile(filepath.Join(x.root, "services/s03/config"), []byte(strings.ReplaceAll(files["services/s03/config"], "@BIN@", testBin)+"export X=new\n"), 0o644)
		}
		p.Invalidate()
		time.Sleep(time.Millisecond) // let the readers interleave; not a synchronisation
	}
	close(done)
	wg.Wait()
	p.Invalidate()
	if s, err := p.Resolve("s03"); err != nil || envValue(s.Env, "X") != "new" {
		t.Errorf("after the reload, s03 has X=%q (%v), want new", envValue(s.Env, "X"), err)
	}
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestServiceLifecycleForASupervisor: StartService hands back the
// process, whose Done fires when StopService ends it; StopService says
// how; an already running service is reported as such; a lock another
// holds gives up with the context.
func TestServiceLifecycleForASupervisor(t *testing.T) {
	x := newTP(t, merge(project("a", "sleep", ""), project("stubborn", "ignore-term", "service_stop_timeout=0.2\n")))
	s, _ := x.p.Resolve("a")
	r, err := x.p.StartService(bg, s, StartOptions{})
	if err != nil || r.Proc == nil || r.AlreadyRunning {
		t.Fatalf("start: %+v %v", r, err)
	}
	defer r.Proc.Close()
	if r.Proc.Pid != x.pid("a") {
		t.Errorf("handle pid %d, pidfile %d", r.Proc.Pid, x.pid("a"))
	}
	again, err := x.p.StartService(bg, s, StartOptions{})
	if err != nil || !again.AlreadyRunning || again.Proc == nil || again.Proc.Pid != r.Proc.Pid {
		t.Errorf("second start: %+v %v", again, err)
	}
	again.Proc.Close()
	how, err := x.p.StopService(bg, s)
	if err != nil || !how.WasRunning || how.How != "signal TERM" {
		t.Errorf("stop: %+v %v", how, err)
	}
	select {
	case <-r.Proc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done did not fire after the stop")
	}
	if how, _ := x.p.StopService(bg, s); how.WasRunning {
		t.Error("a second stop says it was running")
	}

	st, _ := x.p.Resolve("stubborn")
	if _, err := x.p.StartService(bg, st, StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if how, err := x.p.StopService(bg, st); err != nil || how.How != "SIGKILL after 0.2s" {
		t.Errorf("stubborn stop: %+v %v", how, err)
	}

	unlock, err := x.p.lock(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if _, err := x.p.StartService(ctx, s, StartOptions{}); err == nil || !strings.Contains(err.Error(), "waiting for the lock") {
		t.Errorf("start while another holds the lock: %v", err)
	}
	unlock()
}

// TestResolveEndsWithItsContext: config evaluation stops when the caller
// gives up, before its own 5 s bound.
func TestResolveEndsWithItsContext(t *testing.T) {
	x := newTP(t, merge(project("loop", "sleep", "while :; do :; done\n")))
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := x.p.ResolveContext(ctx, "loop")
	if err == nil {
		t.Fatal("a config that never ends resolved")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v: the context did not end it", d)
	}
	// The cleanup resolves every service: give it a config that ends.
	os.WriteFile(filepath.Join(x.root, "services/loop/config"), []byte("service_program=sleep\n"), 0o644)
}

// TestLaunchIntentCleared: a start records its launch intent in the
// service's lock file before it forks and empties it once the state is
// written; a launch that fails (the program cannot be executed) empties
// it too, so the next start has no orphan to look for. No file is
// created for it.
func TestLaunchIntentCleared(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", ""), map[string]string{
		"bin/broken":           "not a program\n",
		"services/bad/config":  "service_program=broken\nservice_start_secs=0\n",
		"etc/project-services": "web\nbad\n",
	}))
	if err := x.p.Start(bg, "web", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Start(bg, "bad", StartOptions{}); err == nil {
		t.Fatal("a program without the run bit started")
	}
	for _, n := range []string{"web", "bad"} {
		if fi, err := os.Stat(filepath.Join(x.p.RunVar, n+".lock")); err != nil || fi.Size() != 0 {
			t.Errorf("%s.lock still holds an intent (%v)", n, err)
		}
		if _, err := os.Stat(filepath.Join(x.p.RunVar, n+".launch")); !os.IsNotExist(err) {
			t.Errorf("%s.launch made (%v)", n, err)
		}
	}
}

// TestProgramShapes (issue 22, §4.7): whatever the launched process
// execs, and whenever, it is the service: status says running with the
// same pid before and after, ping passes, restart replaces it, stop ends
// the program and every process of its session.
func TestProgramShapes(t *testing.T) {
	for _, sh := range testkit.Shapes(!testing.Short()) {
		t.Run(sh.Name, func(t *testing.T) {
			t.Parallel()
			x := newTP(t, merge(sh.Files, map[string]string{"services/svc/config": sh.Config}))
			if err := x.p.Start(bg, "svc", StartOptions{}); err != nil {
				t.Fatal(err)
			}
			pid := x.pid("svc")
			running := func(when string, want int) {
				t.Helper()
				st, err := x.reopen().Status(bg, "svc")
				if err != nil || st.State != pkgsvc.StateRunning || st.Pid != want {
					t.Fatalf("status %s: %+v %v; want running as pid %d", when, st, err, want)
				}
				if err := x.reopen().Ping(bg, "svc"); err != nil {
					t.Fatalf("ping %s: %v", when, err)
				}
			}
			running("right after the start", pid)
			waitFor(t, 10*time.Second, func() error {
				if testkit.ProgramPid(pid) == 0 {
					return fmt.Errorf("the program of pid %d does not run yet", pid)
				}
				return nil
			})
			running("once the program runs", pid)
			if err := x.reopen().Restart(bg, "svc", RestartOptions{}); err != nil {
				t.Fatal(err)
			}
			again := x.pid("svc")
			if again == pid {
				t.Fatalf("restart kept pid %d", pid)
			}
			waitFor(t, 10*time.Second, func() error {
				if n := testkit.SessionMembers(pid); n > 0 {
					return fmt.Errorf("%d processes of the old session still run", n)
				}
				return nil
			})
			running("after the restart", again)
			if err := x.reopen().Stop(bg, "svc"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, func() error {
				if n := testkit.SessionMembers(again); n > 0 {
					return fmt.Errorf("%d processes of the service's session still run after stop", n)
				}
				return nil
			})
			if st, _ := x.reopen().Status(bg, "svc"); st.State != pkgsvc.StateStopped {
				t.Errorf("after stop: %+v", st)
			}
		})
	}
}

// TestStatelessPidfile (§4.7): a pidfile with no state file is the
// service's only when its process leads its own session and carries the
// service's launch environment. One that servicectl launched (its state
// file lost) is found and stopped; a program run by hand through the
// linkfarm path, in its own session or not, is never signalled.
func TestStatelessPidfile(t *testing.T) {
	x := newTP(t, merge(map[string]string{"bin/wrap*": "#!/bin/sh\n/bin/sleep 0.3\nexec /bin/sleep 1000\n"},
		map[string]string{"services/w/config": "service_program=wrap\nservice_start_secs=0.1\n"}))
	if err := x.p.Start(bg, "w", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	pid := x.pid("w")
	waitFor(t, 10*time.Second, func() error {
		if testkit.ProgramPid(pid) != pid {
			return fmt.Errorf("not exec'd yet")
		}
		return nil
	})
	os.Remove(filepath.Join(x.p.RunVar, "w.state"))
	if st, err := x.reopen().Status(bg, "w"); err != nil || st.State != pkgsvc.StateRunning || st.Pid != pid {
		t.Fatalf("status with the state file lost: %+v %v; want running as %d", st, err, pid)
	}
	if err := x.reopen().Stop(bg, "w"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	s, _ := x.reopen().Resolve("w")
	for _, setsid := range []bool{false, true} {
		cmd := exec.Command(s.LinkPath)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		os.WriteFile(filepath.Join(x.p.RunVar, "w.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
		if st, _ := x.reopen().Status(bg, "w"); st.State != pkgsvc.StateDead {
			t.Errorf("by hand (setsid %v): status %+v, want dead", setsid, st)
		}
		if err := x.reopen().Stop(bg, "w"); err != nil {
			t.Fatal(err)
		}
		if !alive(cmd.Process.Pid) {
			t.Errorf("by hand (setsid %v): stop signalled a program servicectl did not start", setsid)
		}
		if _, err := os.Stat(filepath.Join(x.p.RunVar, "w.pid")); err == nil {
			t.Errorf("by hand (setsid %v): the stale pidfile was not removed by stop", setsid)
		}
	}
}
