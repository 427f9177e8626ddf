package pkgsvc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules fences the layering: dependencies point one way,
//
//	cmd → {pkgsvc/supervise, dashboard, pkghook, export} → pkgsvc/upgrade → {pkgsvc/lifecycle, pkgsvc/install} → pkgsvc → {hooks, linkfarm, envtypes} → internal/fsio
//
// with pkgsvc/proc (process identity) under the lifecycle and the
// supervisor, never under the model; pkgsvc/watch a leaf (fsnotify's one
// importer) under the supervisor and the upgrade engine
//
// and each third-party module has one home (golang.org/x/sys, the system
// calls the standard library leaves out, counts as standard library). A
// package missing from the table fails the test: a new package must say
// where it sits.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "servicectl/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string][]string{
		"servicectl/envtypes":                {},
		"servicectl/linkfarm":                {},
		"servicectl/internal/fsio":           {},
		"servicectl/internal/par":            {},
		"servicectl/pkgsvc/internal/testkit": {},
		"servicectl/pkgsvc/internal/fault":   {},
		"servicectl/pkgsvc/proc":             {"servicectl/internal/fsio"},
		"servicectl/hooks":                   {"mvdan.cc/sh/", "servicectl/internal/fsio"},
		"servicectl/pkgsvc":                  {"servicectl/internal/fsio", "servicectl/internal/par", "servicectl/pkgsvc/internal/fault", "servicectl/hooks", "servicectl/linkfarm", "servicectl/envtypes", "github.com/Masterminds/semver/"},
		"servicectl/pkgsvc/lifecycle":        {"servicectl/pkgsvc", "servicectl/pkgsvc/proc", "servicectl/internal/fsio", "servicectl/internal/par", "servicectl/pkgsvc/internal/fault", "servicectl/hooks", "servicectl/linkfarm", "servicectl/envtypes"},
		"servicectl/pkgsvc/install":          {"servicectl/pkgsvc", "servicectl/internal/fsio"},
		"servicectl/pkgsvc/supervise":        {"servicectl/pkgsvc", "servicectl/pkgsvc/lifecycle", "servicectl/pkgsvc/proc", "servicectl/internal/fsio", "servicectl/pkgsvc/watch"},
		"servicectl/pkgsvc/upgrade":          {"servicectl/pkgsvc", "servicectl/pkgsvc/lifecycle", "servicectl/pkgsvc/install", "servicectl/pkgsvc/internal/fault", "servicectl/internal/fsio", "servicectl/hooks", "servicectl/pkgsvc/watch"},
		"servicectl/pkgsvc/dashboard":        {"servicectl/pkgsvc", "servicectl/pkgsvc/lifecycle", "servicectl/pkgsvc/upgrade", "servicectl/pkgsvc/proc", "servicectl/internal/fsio"},
		"servicectl/pkgsvc/export":           {"servicectl/pkgsvc", "github.com/hashicorp/nomad/api"},
		"servicectl/pkgsvc/watch":            {"github.com/fsnotify/fsnotify"},
		"servicectl/pkgsvc/pkghook":          {"servicectl/pkgsvc", "servicectl/pkgsvc/lifecycle", "servicectl/pkgsvc/install", "servicectl/pkgsvc/upgrade"},
		"servicectl/cmd/servicectl":          {"servicectl/pkgsvc", "servicectl/pkgsvc/lifecycle", "servicectl/pkgsvc/install", "servicectl/pkgsvc/supervise", "servicectl/pkgsvc/dashboard", "servicectl/pkgsvc/export", "servicectl/pkgsvc/pkghook", "servicectl/pkgsvc/upgrade", "github.com/spf13/cobra"},
		"servicectl/examples/hello":          {},
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imps, _ := strings.Cut(line, ":")
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("%s is not in the layering table of this test: add it where it belongs", pkg)
			continue
		}
		seen++
		for _, imp := range strings.Fields(imps) {
			if !strings.Contains(imp, ".") && !strings.HasPrefix(imp, "servicectl/") || strings.HasPrefix(imp, "golang.org/x/sys/") {
				continue // standard library
			}
			okImp := false
			for _, r := range rules {
				okImp = okImp || imp == r || strings.HasSuffix(r, "/") && strings.HasPrefix(imp, r)
			}
			if !okImp {
				t.Errorf("%s imports %s, which the layering forbids", pkg, imp)
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list found %d packages", seen)
	}
}

// TestReferenceNamesEveryVariable (issue 28): docs/REFERENCE.md names
// every service_* variable servicectl reads.
func TestReferenceNamesEveryVariable(t *testing.T) {
	data, err := os.ReadFile("../docs/REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	for v := range knownVars {
		if !strings.Contains(string(data), "`"+v+"`") {
			t.Errorf("docs/REFERENCE.md does not name %s", v)
		}
	}
	for _, v := range []string{"service_envar_V_type", "service_envar_V_constraints", "service_envar_V_default", "service_envar_V_description", "service_envar_V_secret"} {
		if !strings.Contains(string(data), v) {
			t.Errorf("docs/REFERENCE.md does not name %s", v)
		}
	}
}
