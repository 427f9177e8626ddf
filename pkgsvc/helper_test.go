package pkgsvc

import (
	"context"
	"os"
	"servicectl/pkgsvc/internal/testkit"
	"testing"
)

// The model's tests start no service (pkgsvc/lifecycle's do); configs
// may still run programs, through the trampoline.
func TestMain(m *testing.M) {
	ExecTrampoline()
	os.Exit(m.Run())
}

// tp is a playpen under test: its root and the Playpen a command would
// open on it.
type tp struct {
	t    *testing.T
	root string
	p    *Playpen
}

// newTP makes a playpen in t.TempDir() from files (testkit.Tree).
func newTP(t *testing.T, files map[string]string) *tp {
	t.Helper()
	files["etc/project-name"] = "test\n"
	x := &tp{t: t, root: testkit.Tree(t, "/bin/false", files)}
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
