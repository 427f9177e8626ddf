package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/testkit"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/proc"
)

// The test binary doubles as the services under test (testkit's helper
// daemons).
var testBin string

var bg = context.Background()

func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	testkit.HelperMain()
	var err error
	if testBin, err = filepath.Abs(os.Args[0]); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

var project, merge, pkgFiles, genPlaypen = testkit.Project, testkit.Merge, testkit.PkgFiles, testkit.GenPlaypen

// tp is a playpen under test.
type tp struct {
	t    testing.TB
	root string
	p    *lifecycle.Manager
}

func newTP(t testing.TB, files map[string]string) *tp {
	t.Helper()
	all := map[string]string{
		"etc/project-name":         "test\n",
		"ext/etc/project.defaults": "GORACE=atexit_sleep_ms=0\n", // race-built helpers otherwise sleep 1 s in exit
	}
	for k, v := range files {
		all[k] = v
	}
	x := &tp{t: t, root: testkit.Tree(t, testBin, all)}
	x.reopen()
	t.Cleanup(x.cleanup)
	return x
}

// newTPB is newTP for benchmarks.
func newTPB(b *testing.B, files map[string]string) *tp { return newTP(b, files) }

// reopen gives a fresh Playpen value, as a new servicectl command would.
func (x *tp) reopen() *lifecycle.Manager {
	x.t.Helper()
	x.p = openBench(x.t, x.root)
	x.p.Warn = func(s, m string) { x.t.Logf("warning: %s: %s", s, m) }
	return x.p
}

func openBench(tb testing.TB, root string) *lifecycle.Manager {
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// cleanup stops every service this playpen started and kills anything
// still named by a state file whose identity checks out.
func (x *tp) cleanup() {
	p := openBench(x.t, x.root)
	names, _ := p.AllServices()
	p.StopMany(bg, names, lifecycle.ManyOptions{})
	files, _ := filepath.Glob(filepath.Join(p.RunVar, "*.state"))
	for _, f := range files {
		st, err := p.ServiceState(strings.TrimSuffix(filepath.Base(f), ".state"))
		if err != nil || st == nil || st.Pid == 0 {
			continue
		}
		if o, err := proc.Claim(st.Pid, lifecycle.Identity(st)); err == nil {
			o.Signal(syscall.SIGKILL, true)
			o.Close()
		}
	}
}

func (x *tp) pid(name string) int {
	x.t.Helper()
	data, err := os.ReadFile(filepath.Join(x.p.RunVar, name+".pid"))
	if err != nil {
		x.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		x.t.Fatal(err)
	}
	return pid
}

// waitFor polls cond until it holds or the deadline passes (testkit).
var waitFor = testkit.Until
