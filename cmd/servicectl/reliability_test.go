package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The reliability scenarios of issue 15 (docs/RELIABILITY.md). Each runs
// a number of trials that SERVICECTL_RELIABILITY scales: unset (make
// test) a short run, "full" (make reliability) the published figures. Each
// logs a row — scenario, trials, failures, seconds — for the table.

// trials picks the short or the full count.
func trials(short, full int) int {
	switch v := os.Getenv("SERVICECTL_RELIABILITY"); v {
	case "":
		return short
	case "full":
		return full
	default:
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
		return short
	}
}

// report records one row of the reliability table: `make reliability`
// collects the RELIABILITY lines of `go test -v`.
func report(t *testing.T, scenario string, n, failures int, took time.Duration) {
	t.Helper()
	t.Logf("RELIABILITY|%s|%d|%d|%.1f", scenario, n, failures, took.Seconds())
	if failures > 0 {
		t.Errorf("%s: %d of %d trials failed", scenario, failures, n)
	}
}

// reportPass is report for a test that is one pass: deferred, it logs the
// row with one failure if the test failed.
func reportPass(t *testing.T, scenario string, trials int) func() {
	began := time.Now()
	return func() {
		failures := 0
		if t.Failed() {
			failures = 1
		}
		t.Logf("RELIABILITY|%s|%d|%d|%.1f", scenario, trials, failures, time.Since(began).Seconds())
	}
}

// serviceProcs lists the live processes of service name of the playpen
// at root: those that lead their own session (every launch makes one)
// and carry its launch environment (SERVICE_NAME and this playpen's
// PLAYPEN_ROOT, a directory of this test's). Whatever a wrapper exec'd
// since, that is the service (§4.7); nothing outside the test is counted.
func serviceProcs(root, name string) []int {
	base, inst, _ := strings.Cut(name, "@")
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || sessionOf(pid) != pid {
			continue
		}
		env, err := environOf(pid)
		if err != nil {
			continue
		}
		vars := strings.Split(string(env), "\x00")
		if slices.Contains(vars, "PLAYPEN_ROOT="+root) && slices.Contains(vars, "SERVICE_NAME="+base) &&
			(inst == "" || slices.Contains(vars, "SERVICE_INSTANCE="+inst)) {
			out = append(out, pid)
		}
	}
	return out
}

// environOf is pid's environment block. While the process executes a
// new program (a wrapper's `exec`) the kernel answers with nothing for a
// moment: read again then, a little while, rather than miss the service.
func environOf(pid int) ([]byte, error) {
	for i := 0; ; i++ {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err == nil && len(env) > 0 || i == 50 || sessionOf(pid) == -1 {
			return env, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sessionOf is pid's session id (/proc/PID/stat field 6), or -1 for a
// process gone or a zombie.
func sessionOf(pid int) int {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(stat), ')')
	if err != nil || i < 0 {
		return -1
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 4 || f[0] == "Z" {
		return -1
	}
	sid, _ := strconv.Atoi(f[3])
	return sid
}

// bombArg is the fork-bomb config's sleep time: an argument unique to
// this test run (a fraction of seconds from the test's pid and clock).
var bombArg = fmt.Sprintf("100.%d%d", os.Getpid(), time.Now().UnixNano()%1000000)

// withArgs lists the live processes whose whole command line is args.
func withArgs(args ...string) []int {
	want := strings.Join(args, "\x00") + "\x00"
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(cmd) == want && sessionOf(pid) != -1 {
			out = append(out, pid)
		}
	}
	return out
}

// converged checks a service of root against the processes: wantUp says
// whether it should run. It returns what is wrong, or "".
func converged(root, name string, wantUp bool, foreign ...int) string {
	var procs []int
	for _, pid := range serviceProcs(root, name) {
		if !slices.Contains(foreign, pid) {
			procs = append(procs, pid)
		}
	}
	pidData, perr := os.ReadFile(filepath.Join(root, "var/run", name+".pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidData)))
	switch {
	case len(procs) > 1:
		return fmt.Sprintf("%s: %d processes %v", name, len(procs), procs)
	case wantUp && len(procs) != 1:
		return fmt.Sprintf("%s: not running", name)
	case !wantUp && len(procs) != 0:
		return fmt.Sprintf("%s: still running %v", name, procs)
	case wantUp && pid != procs[0]:
		return fmt.Sprintf("%s: pidfile says %q, the process is %d", name, pidData, procs[0])
	case !wantUp && perr == nil:
		return fmt.Sprintf("%s: pidfile %q left for a stopped service", name, pidData)
	}
	return ""
}

// killPoints are the places servicectl is killed at, with the command
// that reaches each (on service base) and whether it should end up.
var killPoints = []struct {
	point  string
	cmd    string // start, stop, restart, upgrade
	wantUp bool
}{
	{"start.locked", "start", true},
	{"start.prepared", "start", true},
	{"start.launched", "start", true},
	{"start.pidfile", "start", true},
	{"start.state", "start", true},
	{"stop.want-down", "stop", false},
	{"stop.signalled", "stop", false},
	{"stop.exited", "stop", false},
	{"restart.stopped", "restart", true},
	{"pre.journal", "upgrade", true},
	{"many.stopped#1", "upgrade", true},
	{"run.command", "upgrade", true},
	{"post.registered", "upgrade", true},
	{"post.started#1", "upgrade", true},
	{"post.done", "upgrade", true},
}

// TestReliabilityKillPoints kills servicectl with SIGKILL at every point
// of start, stop, restart and upgrade pre/run/post, then runs the command
// a user runs next (the same again; for an upgrade, the package
// manager's part and `upgrade post`) and checks that it converges: one
// process per service that should run, none for one that should not,
// pidfiles naming them, no lock left held, no journal left.
func TestReliabilityKillPoints(t *testing.T) {
	t.Parallel() // its own playpens, processes and environment: runs beside the other parallel tests
	n := trials(2, 20)
	start := time.Now()
	total, failures := 0, 0
	for trial := range 2 * len(killPoints) {
		kp, wrapper := killPoints[trial/2], trial%2 == 1
		root := faultPlaypenOf(t, wrapper)
		version := "1.0.0"
		for i := 0; i < n; i++ {
			total++
			fail := func(format string, args ...any) {
				failures++
				t.Errorf("%s (wrapper %v), trial %d: %s", kp.point, wrapper, i+1, fmt.Sprintf(format, args...))
			}
			// Every service up, as the trial expects it.
			if code, out := sctlProc(t, root, "start"); code != 0 {
				fail("setup start: %s", out)
				continue
			}
			var args []string
			switch kp.cmd {
			case "start":
				sctlProc(t, root, "stop", "base", "top", "side")
				args = []string{"start", "base"}
			case "stop":
				args = []string{"stop", "base"}
			case "restart":
				args = []string{"restart", "base"}
			case "upgrade":
				version = map[string]string{"1.0.0": "1.1.0", "1.1.0": "1.0.0"}[version]
				args = []string{"upgrade", "run", "base=" + version, "--allow-downgrade", "--", filepath.Join(root, "switch"), root, version}
			}
			code, out := sctlKilled(t, root, kp.point, args...)
			if code != -1 {
				fail("servicectl was not killed at the point (exit %d): %s", code, out)
				continue
			}
			if wrapper && i%2 == 1 {
				// The next command after the wrapper exec'd (at once
				// otherwise: before or during its exec).
				time.Sleep(150 * time.Millisecond)
			}
			// What the user runs next.
			var next []string
			switch kp.cmd {
			case "upgrade":
				os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("base "+version+"\ntop 1.0.0\nside 1.0.0\n"), 0o644)
				next = []string{"upgrade", "post"}
			default:
				next = args
			}
			if code, out := sctlProcTimeout(t, root, 30*time.Second, next...); code != 0 {
				fail("%v after the kill: exit %d: %s", next, code, out)
				continue
			}
			names := []string{"base"}
			if kp.cmd == "upgrade" {
				names = []string{"base", "top", "side"}
			}
			for _, s := range names {
				if why := converged(root, s, kp.wantUp); why != "" {
					fail("%s", why)
				}
			}
			if kp.cmd == "upgrade" {
				if _, err := os.Stat(filepath.Join(root, "var/upgrade.journal")); err == nil {
					fail("journal left after post")
				}
				_, out := sctlProc(t, root, "--json", "status", "base")
				if !strings.Contains(out, `"version": "`+version+`"`) || strings.Contains(out, `"stale": true`) {
					fail("base not on %s after post: %s", version, out)
				}
			}
		}
	}
	report(t, "kill -9 at each of 15 points of start/stop/restart/upgrade, then the next command; plain and `exec`-late wrapper services", total, failures, time.Since(start))
}

// sctlKilled runs servicectl with SERVICECTL_TEST_KILL_AT=point.
func sctlKilled(t *testing.T, root, point string, args ...string) (int, string) {
	t.Helper()
	return sctlProcEnv(t, root, []string{"SERVICECTL_TEST_KILL_AT=" + point}, args...)
}

// sctlProcTimeout is sctlProc bounded: a command that hangs (a lock a
// killed servicectl left held) is a failure, not a stuck test.
func sctlProcTimeout(t *testing.T, root string, d time.Duration, args ...string) (int, string) {
	t.Helper()
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out = sctlProc(t, root, args...)
	}()
	select {
	case <-done:
		return code, out
	case <-time.After(d):
		return -2, fmt.Sprintf("did not finish within %v", d)
	}
}

// recorder is a foreign process of the soaks: it writes down every signal
// it receives (any catchable one) and lives two minutes at most.
func recorder(file string) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch)
	os.WriteFile(file+".ready", []byte("1"), 0o644)
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case sig := <-ch:
			if sig == syscall.SIGURG || sig == syscall.SIGCHLD {
				continue // the Go runtime's own
			}
			f, _ := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			fmt.Fprintln(f, sig)
			f.Close()
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				os.Exit(0) // recorded; go as asked
			}
		case <-deadline:
			os.Exit(0)
		}
	}
}

// foreign starts a process that is not the service's but looks like it:
// argv[0] is the service's linkfarm path. With rec set it is a recorder
// (this test binary), else the service's own program run through the link.
func foreign(t *testing.T, link string, rec string) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	if rec != "" {
		bin, _ := filepath.Abs(os.Args[0])
		cmd = &exec.Cmd{Path: bin, Args: []string{link}, Env: append(os.Environ(), "SERVICECTL_TEST_RECORDER="+rec)}
	} else {
		cmd = exec.Command(link, "600")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if rec != "" {
		waitFor(t, "recorder ready", func() bool { _, err := os.Stat(rec + ".ready"); return err == nil })
	}
	return cmd
}

// soakPlaypen: n project services on sleep, started at once (no
// start_secs wait), for the soaks.
func soakPlaypen(t *testing.T, n int) (string, []string) {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	var names []string
	files := map[string]string{"etc/project-name": "soak\n"}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("s%02d", i)
		names = append(names, name)
		files["services/"+name+"/config"] = "service_program=sleep\nservice_flags=600\nservice_start_secs=0\nservice_stop_timeout=5\n"
		if i%4 == 1 {
			// Every fourth a wrapper that execs its program (issue 22).
			files["services/"+name+"/config"] = "service_program=" + filepath.Join(root, "wrap") + "\nservice_start_secs=0\nservice_stop_timeout=5\n"
		}
	}
	files["wrap"] = "#!/bin/sh\n/bin/sleep 0.05\nexec /bin/sleep 600\n"
	files["etc/project-services"] = strings.Join(names, "\n") + "\n"
	for rel, c := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(c), 0o755)
	}
	t.Cleanup(func() { run(append([]string{"--root", root, "--quiet", "stop"}, names...), io.Discard, io.Discard) })
	return root, names
}

// TestReliabilityPidReuse: start/stop/restart/status cycles while pidfiles
// are forged to name other processes — ones run through the service's
// very linkfarm path (same argv[0]), recorders of every signal, pid 1, a
// kernel thread, garbage, a huge number, a pid other than the state
// file's — and unrelated processes keep being spawned so pids move on.
// No foreign process may receive a signal, and each cycle must end with
// the service as the command said.
func TestReliabilityPidReuse(t *testing.T) {
	t.Parallel()
	n := trials(300, 10000)
	root, names := soakPlaypen(t, 3)
	if code, _, errs := sctl(t, root, "start", names[0]); code != 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	var recs []string
	var foreigners []*exec.Cmd
	for i, s := range names {
		link := filepath.Join(root, "var/linkfarm", s)
		if _, err := os.Lstat(link); err != nil {
			// The link exists once the service started once.
			sctl(t, root, "start", s)
			sctl(t, root, "stop", s)
		}
		rec := filepath.Join(dir, fmt.Sprintf("rec%d", i))
		recs = append(recs, rec)
		foreigners = append(foreigners, foreign(t, link, rec), foreign(t, link, ""))
	}
	// Churn: unrelated short-lived processes, so pids move on.
	stop := make(chan struct{})
	var churned atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				exec.Command("true").Run()
				churned.Add(1)
			}
		}
	}()
	defer close(stop)
	forged := func(i int, s string) string {
		switch i % 7 {
		case 0:
			return strconv.Itoa(foreigners[(i/7)%len(foreigners)].Process.Pid)
		case 1:
			return "1"
		case 2:
			return "2" // kthreadd
		case 3:
			return "garbage\x00\n"
		case 4:
			return "99999999999"
		case 5:
			return strconv.Itoa(foreigners[len(foreigners)-1-(i/7)%len(foreigners)].Process.Pid)
		}
		return "-5"
	}
	start := time.Now()
	failures := 0
	for i := 0; i < n; i++ {
		s := names[i%len(names)]
		pidfile := filepath.Join(root, "var/run", s+".pid")
		os.WriteFile(pidfile, []byte(forged(i, s)), 0o644)
		op := []string{"stop", "start", "restart", "status"}[(i/len(names))%4]
		sctl(t, root, op, s)
		for _, f := range foreigners {
			if f.ProcessState != nil || syscall.Kill(f.Process.Pid, 0) != nil {
				failures++
				t.Errorf("trial %d (%s %s over pidfile %q): foreign pid %d is gone", i, op, s, forged(i, s), f.Process.Pid)
			}
		}
		// Then to a known state, running or stopped by turns (so the
		// next forgery meets either): exactly the service's process, or
		// none, and a true pidfile.
		up := (i/len(names))%2 == 1
		sctl(t, root, map[bool]string{true: "start", false: "stop"}[up], s)
		var fpids []int
		for _, f := range foreigners {
			fpids = append(fpids, f.Process.Pid)
		}
		if why := converged(root, s, up, fpids...); why != "" {
			failures++
			t.Errorf("trial %d (%s %s over pidfile %q): %s", i, op, s, forged(i, s), why)
			for _, pid := range serviceProcs(root, s) {
				if !slices.Contains(fpids, pid) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			os.Remove(filepath.Join(root, "var/run", s+".pid"))
		}
		if failures > 5 {
			break
		}
	}
	for _, rec := range recs {
		if data, err := os.ReadFile(rec); err == nil && len(data) > 0 {
			failures++
			t.Errorf("a foreign process received signals: %s", data)
		}
	}
	t.Logf("%d unrelated processes spawned meanwhile", churned.Load())
	report(t, "pid reuse: forged pidfiles (same argv[0], pid 1, kthread, garbage, huge), churn; foreign processes signalled", n, failures, time.Since(start))
}

// TestReliabilityConcurrency: parallel clients (each op a whole command,
// as separate servicectl invocations would run) issue random start, stop,
// restart, status and `upgrade plan` against 20 services. Afterwards each
// service has at most one process, its pidfile names it, and status says
// exactly that. Then rounds of 20 simultaneous `start` of one stopped
// service: one process each time.
func TestReliabilityConcurrency(t *testing.T) {
	t.Parallel()
	ops := trials(2000, 100000)
	const clients = 12
	root, names := soakPlaypen(t, 20)
	start := time.Now()
	var done atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 15))
			for done.Add(1) <= int64(ops) {
				s := names[r.IntN(len(names))]
				var args []string
				switch r.IntN(10) {
				case 0, 1, 2:
					args = []string{"start", s}
				case 3, 4:
					args = []string{"stop", s}
				case 5, 6:
					args = []string{"restart", s}
				case 7, 8:
					args = []string{"status", s}
				default:
					args = []string{"upgrade", "plan", "--files", "etc/x.conf"}
				}
				run(append([]string{"--root", root, "--quiet"}, args...), io.Discard, io.Discard)
			}
		}(c)
	}
	// Meanwhile a watcher looks for two processes of one service at once.
	stopWatch := make(chan struct{})
	var dup atomic.Int64
	var scans atomic.Int64
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			for _, s := range names {
				if len(serviceProcs(root, s)) > 1 {
					dup.Add(1)
				}
			}
			scans.Add(1)
		}
	}()
	wg.Wait()
	close(stopWatch)
	failures := int(dup.Load())
	if failures > 0 {
		t.Errorf("%d scans (of %d) saw two processes of one service at once", failures, scans.Load())
	}
	var out strings.Builder
	run([]string{"--root", root, "--json", "status", "--all"}, &out, io.Discard)
	var sts []struct{ Service, State string }
	if err := json.Unmarshal([]byte(out.String()), &sts); err != nil {
		t.Fatalf("status --all: %v\n%s", err, out.String())
	}
	for _, st := range sts {
		if why := converged(root, st.Service, st.State == "running"); why != "" {
			failures++
			t.Errorf("after %d operations: status says %s: %s", ops, st.State, why)
		}
	}
	report(t, fmt.Sprintf("concurrency: %d clients, random start/stop/restart/status/upgrade plan on 20 services; divergences", clients), ops, failures, time.Since(start))

	rounds := trials(5, 50)
	start = time.Now()
	failures = 0
	for i := 0; i < rounds; i++ {
		s := names[i%len(names)]
		run([]string{"--root", root, "--quiet", "stop", s}, io.Discard, io.Discard)
		var wg sync.WaitGroup
		for c := 0; c < 20; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run([]string{"--root", root, "--quiet", "start", s}, io.Discard, io.Discard)
			}()
		}
		wg.Wait()
		if why := converged(root, s, true); why != "" {
			failures++
			t.Errorf("20 concurrent starts of %s: %s", s, why)
		}
	}
	report(t, "20 concurrent `start` of one service: more or less than one process", rounds, failures, time.Since(start))
}

// hostileCase is one bad input with the outcome servicectl owes it.
type hostileCase struct {
	name  string
	files map[string]string // written into a fresh playpen
	setup func(t *testing.T, root string)
	args  []string
	code  int                                    // expected exit code
	says  string                                 // expected in the output ("" = anything; "a|b": either)
	check func(t *testing.T, root string) string // what else must hold; "" = fine
	// changes: the command may change the playpen (a start); otherwise
	// every file must be as it was.
	changes bool
}

// tree lists a playpen's files with size, mode and time, to tell that a
// refused command changed nothing.
func tree(root string) string {
	var b strings.Builder
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err == nil {
			fmt.Fprintf(&b, "%s %v %d %s\n", path, fi.Mode(), fi.Size(), fi.ModTime())
		}
		return nil
	})
	return b.String()
}

// TestReliabilityHostileInput: each bad input gets a clear error, its
// documented exit code, and changes nothing it should not.
func TestReliabilityHostileInput(t *testing.T) {
	t.Parallel() // its own playpens, processes and environment: runs beside the other parallel tests
	victim := filepath.Join(t.TempDir(), "victim")
	sleepCfg := "service_program=sleep\nservice_flags=600\nservice_start_secs=0\n"
	long := strings.Repeat("a", 65)
	garbage := make([]byte, 10<<20)
	for i := range garbage {
		garbage[i] = byte(i*7919%251) | 1 // no NUL: a text file gone wrong
	}
	cases := []hostileCase{
		{name: "name with ../", args: []string{"start", "../x"}, code: 2, says: "../x"},
		{name: "name with /", args: []string{"start", "a/b"}, code: 2, says: "a/b"},
		{name: "name with a newline", args: []string{"start", "a\nb"}, code: 2},
		{name: "name of 65 characters", args: []string{"start", long}, code: 2, says: long},
		{name: "new-service ../../etc", args: []string{"new-service", "../../etc"}, code: 2},
		{name: "NUL in etc/project-services", files: map[string]string{"etc/project-services": "ok\nb\x00d\n"}, args: []string{"list", "--all"}, code: 6, says: "project-services:2"},
		{name: "instance name with ..", args: []string{"start", "t@.."}, code: 2},
		{name: "env values $(…), backquotes, ;, newlines stay data",
			files: map[string]string{
				"etc/project.conf":     "X='$(touch PWNED1)'\nY='`touch PWNED2`'\nZ='a; touch PWNED3'\nW='line1\nline2'\n",
				"services/h/config":    "service_program=" + testBinary() + "\nservice_start_secs=0\nexport SERVICECTL_TEST_RECORDER=/dev/null\nservice_flags=\"$X $Y $Z\"\nexport X Y Z W\n",
				"etc/project-services": "h\n",
			},
			args: []string{"start", "h"}, code: 0, changes: true,
			check: func(t *testing.T, root string) string {
				for _, f := range []string{"PWNED1", "PWNED2", "PWNED3"} {
					if _, err := os.Stat(filepath.Join(root, f)); err == nil {
						return f + " exists: a value ran as code"
					}
				}
				procs := serviceProcs(root, "h")
				if len(procs) != 1 {
					return fmt.Sprintf("%d processes", len(procs))
				}
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", procs[0]))
				if want := "$(touch\x00PWNED1)\x00`touch\x00PWNED2`\x00a;\x00touch\x00PWNED3"; !strings.Contains(string(cmd), want) {
					return fmt.Sprintf("argv %q, want the values as words", cmd)
				}
				sctlProc(t, root, "stop", "h")
				return ""
			}},
		{name: "config that loops forever", files: map[string]string{"services/h/config": "while :; do :; done\n", "etc/project-services": "h\n"},
			args: []string{"show", "h"}, code: 6, says: "did not finish"},
		{name: "config that forks without end", files: map[string]string{"services/h/config": "while :; do sleep " + bombArg + " & done\n", "etc/project-services": "h\n"},
			// Which refusal comes first depends on how fast the machine
			// forks: 5,000 jobs at once, or the config's time limit (a
			// loaded 2-core machine under -race may not reach 5,000).
			args: []string{"show", "h"}, code: 6, says: "fork bomb|did not finish within its time limit",
			check: func(t *testing.T, root string) string {
				// The sleeps carry an argument only this test run uses:
				// nothing else on the machine is counted or signalled.
				if left := withArgs("sleep", bombArg); len(left) > 0 {
					for _, pid := range left {
						syscall.Kill(pid, syscall.SIGKILL)
					}
					return fmt.Sprintf("sleeps left behind: %v", left)
				}
				return ""
			}},
		{name: "config that prints without end", files: map[string]string{"services/h/config": "while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; echo yyyyyyyyyyyyy >&2; done\n", "etc/project-services": "h\n"},
			args: []string{"show", "h"}, code: 6, says: "did not finish"},
		{name: "config that reads stdin (a pipe never closed)", files: map[string]string{"services/h/config": sleepCfg + "read x\nservice_flags=\"got-$x\"\n", "etc/project-services": "h\n"},
			args: []string{"show", "h"}, code: 0, says: "got-"},
		{name: "config of 10 MB garbage", files: map[string]string{"services/h/config": string(garbage), "etc/project-services": "h\n"},
			args: []string{"show", "h"}, code: 6, says: "services/h/config:"},
		{name: "pidfile and state planted as symlinks", files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"},
			setup: func(t *testing.T, root string) {
				os.WriteFile(victim, []byte("precious\n"), 0o644)
				os.MkdirAll(filepath.Join(root, "var/run"), 0o755)
				os.MkdirAll(filepath.Join(root, "var/linkfarm"), 0o755)
				os.Symlink(victim, filepath.Join(root, "var/run/h.pid"))
				os.Symlink(victim, filepath.Join(root, "var/run/h.state"))
				os.Symlink(victim, filepath.Join(root, "var/run/h.lock"))
			},
			args: []string{"start", "h"}, code: 0, changes: true,
			check: func(t *testing.T, root string) string {
				defer sctlProc(t, root, "stop", "h")
				if data, _ := os.ReadFile(victim); string(data) != "precious\n" {
					return fmt.Sprintf("written through a symlink: victim holds %q", data)
				}
				return ""
			}},
		{name: "var/run is a symlink", setup: func(t *testing.T, root string) {
			os.MkdirAll(filepath.Join(root, "var"), 0o755)
			os.Symlink(t.TempDir(), filepath.Join(root, "var/run"))
		}, files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"}, args: []string{"start", "h"}, code: 1, says: "symlink"},
		{name: "world-writable var/", setup: func(t *testing.T, root string) {
			os.MkdirAll(filepath.Join(root, "var"), 0o755)
			os.Chmod(filepath.Join(root, "var"), 0o777)
		}, files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"}, args: []string{"start", "h"}, code: 1, says: "writable"},
		{name: "linkfarm entry planted as a symlink to another program", files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"},
			setup: func(t *testing.T, root string) {
				os.MkdirAll(filepath.Join(root, "var/linkfarm"), 0o755)
				os.Symlink("/bin/false", filepath.Join(root, "var/linkfarm/h"))
			},
			args: []string{"start", "h"}, code: 0, changes: true,
			check: func(t *testing.T, root string) string {
				defer sctlProc(t, root, "stop", "h")
				if dst, _ := os.Readlink(filepath.Join(root, "var/linkfarm/h")); !strings.HasSuffix(dst, "sleep") {
					return "the linkfarm still points at " + dst
				}
				return ""
			}},
	}
	if os.Geteuid() == 0 {
		cases = append(cases,
			hostileCase{name: "state directory on a full disk (16 KiB tmpfs, filled)", files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"},
				setup: func(t *testing.T, root string) {
					run := filepath.Join(root, "var/run")
					os.MkdirAll(run, 0o755)
					if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", run).CombinedOutput(); err != nil {
						t.Skipf("cannot mount a small tmpfs here (%v %s): the full-disk case is documented, not run", err, out)
					}
					t.Cleanup(func() { exec.Command("umount", "-l", run).Run() })
					f, _ := os.Create(filepath.Join(run, "filler"))
					f.Write(make([]byte, 64<<10))
					f.Close()
				},
				args: []string{"start", "h"}, code: 1, says: "no space", changes: true,
				check: func(t *testing.T, root string) string {
					if procs := serviceProcs(root, "h"); len(procs) > 0 {
						for _, p := range procs {
							syscall.Kill(p, syscall.SIGKILL)
						}
						return fmt.Sprintf("a start that could not record its process left it running: %v", procs)
					}
					return ""
				}},
			hostileCase{name: "state directory read-only (ro tmpfs)", files: map[string]string{"services/h/config": sleepCfg, "etc/project-services": "h\n"},
				setup: func(t *testing.T, root string) {
					run := filepath.Join(root, "var/run")
					os.MkdirAll(run, 0o755)
					if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k,mode=0755,ro", "tmpfs", run).CombinedOutput(); err != nil {
						t.Skipf("cannot mount a read-only tmpfs here (%v %s)", err, out)
					}
					t.Cleanup(func() { exec.Command("umount", "-l", run).Run() })
				},
				args: []string{"start", "h"}, code: 1, says: "read-only", changes: true,
				check: func(t *testing.T, root string) string {
					if procs := serviceProcs(root, "h"); len(procs) > 0 {
						for _, p := range procs {
							syscall.Kill(p, syscall.SIGKILL)
						}
						return fmt.Sprintf("left running: %v", procs)
					}
					return ""
				}},
		)
	}
	start := time.Now()
	failures := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			os.Chmod(root, 0o755)
			files := map[string]string{"etc/project-name": "hostile\n", "etc/project-services": "t\n", "services/t/config": "service_template=1\n" + sleepCfg}
			for k, v := range c.files {
				files[k] = v
			}
			for rel, content := range files {
				p := filepath.Join(root, rel)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(content), 0o644)
			}
			if c.setup != nil {
				c.setup(t, root)
			}
			before := tree(root)
			pr, pw, _ := os.Pipe() // stdin that never ends
			defer pw.Close()
			cmd := exec.Command(os.Args[0], append([]string{"--root", root}, c.args...)...)
			cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
			cmd.Stdin = pr
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			t0 := time.Now()
			err := cmd.Start()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				failures++
				t.Errorf("did not finish in 30 s")
				return
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			msg := out.String()
			if len(msg) > 600 {
				msg = msg[:600] + "…"
			}
			bad := ""
			switch {
			case code != c.code:
				bad = fmt.Sprintf("exit %d, want %d", code, c.code)
			case c.says != "" && !slices.ContainsFunc(strings.Split(c.says, "|"), func(w string) bool { return strings.Contains(out.String(), w) }):
				bad = fmt.Sprintf("output does not say %q", c.says)
			case !c.changes && tree(root) != before:
				bad = "a refused command changed the playpen"
			case c.check != nil:
				bad = c.check(t, root)
			}
			if bad != "" {
				failures++
				t.Errorf("%s (in %v)\n%s", bad, time.Since(t0).Round(time.Millisecond), msg)
			} else {
				t.Logf("exit %d in %v: %s", code, time.Since(t0).Round(time.Millisecond), strings.SplitN(strings.TrimSpace(msg), "\n", 2)[0])
			}
		})
	}
	report(t, fmt.Sprintf("hostile input: %d cases (names, values, configs, planted symlinks, modes, disk)", len(cases)), len(cases), failures, time.Since(start))
}

func testBinary() string {
	bin, _ := filepath.Abs(os.Args[0])
	return bin
}

// TestReliabilityStartRace: a start followed at once by another start (or
// a stop): the second must find the first's process, though the kernel may
// not yet show its argv[0] (found at 100,000 operations of the
// concurrency soak: it took its own new process for a stranger and
// started a second one).
func TestReliabilityStartRace(t *testing.T) {
	n := trials(200, 3000)
	root, names := soakPlaypen(t, 1)
	s := names[0]
	start := time.Now()
	failures := 0
	for i := 0; i < n; i++ {
		run([]string{"--root", root, "--quiet", "start", s}, io.Discard, io.Discard)
		second := []string{"start", "stop"}[i%2]
		run([]string{"--root", root, "--quiet", second, s}, io.Discard, io.Discard)
		if why := converged(root, s, second == "start"); why != "" {
			failures++
			t.Errorf("cycle %d (start, then %s at once): %s", i, second, why)
			for _, pid := range serviceProcs(root, s) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		run([]string{"--root", root, "--quiet", "stop", s}, io.Discard, io.Discard)
	}
	report(t, "start, then at once start or stop again: not exactly the one process", n, failures, time.Since(start))
}
