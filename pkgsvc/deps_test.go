package pkgsvc

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the shape of STYLE.md: cmd → daemon → pkgsvc →
// {hooks, linkfarm, envtypes}, and each third-party module in one home
// (golang.org/x/sys, the system calls the standard library leaves out,
// counts as standard library).
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "servicectl/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string][]string{
		"servicectl/envtypes":       {},
		"servicectl/linkfarm":       {},
		"servicectl/hooks":          {"mvdan.cc/sh/"},
		"servicectl/pkgsvc":         {"servicectl/hooks", "servicectl/linkfarm", "servicectl/envtypes", "github.com/Masterminds/semver/", "golang.org/x/sys/"},
		"servicectl/cmd/servicectl": {"servicectl/pkgsvc", "servicectl/daemon", "github.com/spf13/cobra"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imps, _ := strings.Cut(line, ":")
		rules, ok := allowed[pkg]
		if !ok {
			continue
		}
		for _, imp := range strings.Fields(imps) {
			if !strings.Contains(imp, ".") && !strings.HasPrefix(imp, "servicectl/") || strings.HasPrefix(imp, "golang.org/x/sys/") {
				continue // standard library
			}
			okImp := false
			for _, r := range rules {
				okImp = okImp || strings.HasPrefix(imp, r)
			}
			if !okImp {
				t.Errorf("%s imports %s, which the layering forbids", pkg, imp)
			}
		}
	}
}
