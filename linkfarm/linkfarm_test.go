package linkfarm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunName(t *testing.T) {
	for _, c := range []struct{ base, inst, tag, want string }{
		{"web", "", "", "web"}, {"web", "blue", "", "web@blue"}, {"web", "blue", "dev", "web@blue.dev"}, {"web", "", "dev", "web.dev"},
	} {
		if got := RunName(c.base, c.inst, c.tag); got != c.want {
			t.Errorf("RunName(%q,%q,%q) = %q", c.base, c.inst, c.tag, got)
		}
	}
}

func TestEnsureReplacesAtomically(t *testing.T) {
	d := t.TempDir()
	f := Farm{Dir: d}
	a, b := filepath.Join(d, "a"), filepath.Join(d, "b")
	os.WriteFile(a, nil, 0o755)
	os.WriteFile(b, nil, 0o755)
	p, err := f.Ensure("svc", a)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(p); l != a {
		t.Fatalf("-> %s", l)
	}
	if _, err := f.Ensure("svc", b); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(p); l != b {
		t.Fatalf("not replaced: -> %s", l)
	}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary link left: %s", e.Name())
		}
	}
	if _, err := f.Ensure("gone", filepath.Join(d, "missing")); err == nil {
		t.Fatal("link to a missing target made")
	}
	if _, err := os.Lstat(filepath.Join(d, "gone")); err == nil {
		t.Fatal("link to a missing target left")
	}
	os.WriteFile(filepath.Join(d, "file"), nil, 0o644)
	if _, err := f.Ensure("file", a); err == nil {
		t.Fatal("replaced a regular file")
	}
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, err := f.Ensure(bad, a); err == nil {
			t.Errorf("accepted run name %q", bad)
		}
	}
}

func TestCollisions(t *testing.T) {
	if err := Collisions(map[string]string{"a": "x", "b": "y"}); err != nil {
		t.Fatal(err)
	}
	err := Collisions(map[string]string{"a": "x", "b": "x", "c": "y"})
	if err == nil || !strings.Contains(err.Error(), `"x" is shared by a and b`) {
		t.Fatalf("%v", err)
	}
}
