package install

import (
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/testkit"
	"slices"
	"strings"
	"testing"
)

func TestResolvePassesAndPackages(t *testing.T) {
	x := newTP(t, map[string]string{
		"ext/etc/installed-packages":                     "web 1.2.0-3\n",
		"ext/packages/web-1.2.0-3/web-1.2.0-3.services":  "web\n",
		"ext/packages/web-1.2.0-3/web-1.2.0-3.config":    "service_program=/bin/sleep\nexport A=pkg B=pkg\nservice_flags=\"$A\"\nservice_stop_signal=INT\n",
		"ext/packages/web-1.2.0-3/web-1.2.0-3.profile":   "FROM_PROFILE=yes\n",
		"ext/packages/web-1.2.0-3/web-1.2.0-3.pre-start": "echo hi\n",
		"services/web/config.pre":                        "export A=pre\nservice_typo=1\n",
		"services/web-1.2.0-3/config.post":               "export B=post\n",
		"services/web/pre-start":                         "echo project\n",
	})
	if _, err := NewService(x.p, "web"); err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	if _, err := NewService(x.reopen(), "web"); err != nil {
		t.Fatal(err)
	}
	reg, _ := os.ReadFile(filepath.Join(x.root, "ext/etc/installed-services"))
	if string(reg) != "web web 1.2.0-3\n" {
		t.Fatalf("installed-services %q", reg)
	}
	var warnings []string
	p := x.reopen()
	p.Warn = func(s, m string) { warnings = append(warnings, m) }
	s, err := p.Resolve("web")
	if err != nil {
		t.Fatal(err)
	}
	// The package's config (pass 2) overrides config.pre; config.post wins last.
	if !slices.Contains(s.Env, "A=pkg") || !slices.Contains(s.Env, "B=post") {
		t.Errorf("environment %q: want A=pkg and B=post", s.Env)
	}
	if len(s.Flags) != 1 || s.Flags[0] != "pkg" || s.StopSigName != "INT" || s.RunName != "web" || s.Version != "1.2.0-3" {
		t.Errorf("definition %+v", s)
	}
	if s.Hooks["pre-start"].File != filepath.Join(x.root, "services/web/pre-start") {
		t.Errorf("project hook file must win: %+v", s.Hooks["pre-start"])
	}
	found := false
	for _, kv := range s.Env {
		found = found || kv == "FROM_PROFILE=yes"
	}
	if !found {
		t.Error("package profile not in the environment")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "service_typo") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestInitSkeleton(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "proj")
	if err := Init(dir, ""); err != nil {
		t.Fatal(err)
	}
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: dir})
	if err != nil || p.Name != "proj" {
		t.Fatalf("%+v %v", p, err)
	}
	if err := Init(dir, ""); pkgsvc.KindOf(err) != pkgsvc.KindUsage {
		t.Fatalf("second init: %v", err)
	}
}

// tp is a playpen under test: its root, and the Playpen value a command
// would open on it.
type tp struct {
	t    *testing.T
	root string
	p    *pkgsvc.Playpen
}

func newTP(t *testing.T, files map[string]string) *tp {
	t.Helper()
	files["etc/project-name"] = "test\n"
	x := &tp{t: t, root: testkit.Tree(t, "/bin/false", files)}
	x.reopen()
	return x
}

// reopen gives a fresh Playpen value, as a new servicectl command would.
func (x *tp) reopen() *pkgsvc.Playpen {
	x.t.Helper()
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: x.root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		x.t.Fatal(err)
	}
	x.p = p
	return p
}
