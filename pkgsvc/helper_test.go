package pkgsvc

import (
	"context"
	"os"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"testing"
)

// The test binary doubles as the services under test: a playpen's
// service_program is this binary, and the exported HELPER variable of the
// service config picks the behaviour (Go's os/exec re-exec pattern).
var testBin string

func TestMain(m *testing.M) {
	ExecTrampoline()
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
	p    *Playpen
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
	return x
}

// reopen gives a fresh Playpen value, as a new servicectl command would.
func (x *tp) reopen() *Playpen {
	x.t.Helper()
	p, err := Open(OpenOptions{Root: x.root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		x.t.Fatal(err)
	}
	p.Warn = func(s, m string) { x.t.Logf("warning: %s: %s", s, m) }
	x.p = p
	return p
}

// bg is the context of calls no test cancels.
var bg = context.Background()

// project and merge write playpen files (testkit).
var project, merge = testkit.Project, testkit.Merge

// waitFor polls cond until it holds or the deadline passes (testkit).
var waitFor = testkit.Until
