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
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the services under test: a playpen's
// service_program is this binary, and the exported HELPER variable of the
// service config picks the behaviour (Go's os/exec re-exec pattern).
var testBin string

func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	testkit.HelperMain()
	var err error
	testBin, err = filepath.Abs(os.Args[0])
	if err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// tp is a playpen under test.
type tp struct {
	t    *testing.T
	root string
	p    *Manager
}

// newTP makes a playpen in t.TempDir() from files (path → content; a
// path ending in "*" is made executable without the star).
func newTP(t *testing.T, files map[string]string) *tp {
	t.Helper()
	all := map[string]string{
		"etc/project-name": "test\n",
		// Race-built helpers otherwise sleep 1 s in exit.
		"ext/etc/project.defaults": "GORACE=atexit_sleep_ms=0\n",
	}
	for k, v := range files {
		all[k] = v
	}
	root := testkit.Tree(t, testBin, all)
	x := &tp{t: t, root: root}
	x.reopen()
	t.Cleanup(x.cleanup)
	return x
}

// reopen gives a fresh Playpen value, as a new servicectl command would.
func (x *tp) reopen() *Manager {
	x.t.Helper()
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: x.root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		x.t.Fatal(err)
	}
	p.Warn = func(s, m string) { x.t.Logf("warning: %s: %s", s, m) }
	x.p = New(p)
	return x.p
}

// cleanup stops every service this playpen started and kills anything
// still named by a pidfile whose identity checks out.
func (x *tp) cleanup() {
	p := x.reopen()
	names, _ := p.AllServices()
	p.StopMany(context.Background(), names, ManyOptions{})
	files, _ := filepath.Glob(filepath.Join(p.RunVar, "*.state"))
	for _, f := range files {
		st, err := pkgsvc.ReadState(f)
		if err != nil || st.Pid == 0 {
			continue
		}
		if o, err := proc.Claim(st.Pid, Identity(st)); err == nil {
			o.Signal(syscall.SIGKILL, true)
			o.Close()
		}
	}
}

// project and merge write playpen files (testkit).
var project, merge = testkit.Project, testkit.Merge

// waitFor polls cond until it holds or the deadline passes (testkit).
var waitFor = testkit.Until

func (x *tp) pid(name string) int {
	x.t.Helper()
	pid, err := pkgsvc.ReadPidfile(filepath.Join(x.p.RunVar, name+".pid"))
	if err != nil {
		x.t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool {
	info, err := proc.ReadStat(pid)
	return err == nil && !info.Zombie
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if alive(pid) {
			return fmt.Errorf("pid %d still alive", pid)
		}
		return nil
	})
}

// foreign starts a process that is not the playpen's, to stand behind a
// lying pidfile. It is killed at cleanup.
func foreign(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func openBench(tb testing.TB, root string) *Manager {
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		tb.Fatal(err)
	}
	return New(p)
}
