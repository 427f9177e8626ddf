package upgrade

import (
	"context"
	"path/filepath"
	"sort"
	"strings"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// WhyTargets lists what `why` takes: installed packages, and the files
// their .files lists name, sorted (for shell completion).
func WhyTargets(p *lifecycle.Manager) ([]string, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, pk := range pkgs {
		for _, c := range append([]string{pk.Name}, p.PackageFiles(pk.Name, pk.Version)...) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Why is the blast radius of a change to a package or a file (SPEC §8.6):
// the plan for every service, running or not, if it changed.
func Why(ctx context.Context, p *lifecycle.Manager, target string) (*Plan, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	o := PlanOptions{All: true}
	var changes []Change
	for _, pk := range pkgs {
		if pk.Name == target {
			changes = append(changes, Change{Package: pk.Name, Old: pk.Version, New: pk.Version})
		}
	}
	if changes == nil {
		if strings.ContainsRune(target, '/') || strings.ContainsRune(target, '.') {
			o.Files = []string{target}
			for _, pk := range pkgs {
				for _, f := range p.PackageFiles(pk.Name, pk.Version) {
					if f == filepath.Clean(target) {
						changes = append(changes, Change{Package: pk.Name, Old: pk.Version, New: pk.Version})
					}
				}
			}
		} else {
			return nil, errf(pkgsvc.KindUnknown, "", "%s is neither an installed package nor a file path (see ext/etc/installed-packages)", target)
		}
	}
	plan, err := planChanges(ctx, p, changes, o)
	if err != nil {
		return nil, err
	}
	// A change "to the same version" is how why asks; new/remove do not apply.
	out := plan.Actions[:0]
	for _, a := range plan.Actions {
		if a.Action != ActNew && a.Action != ActRemove {
			out = append(out, a)
		}
	}
	plan.Actions = out
	return plan, nil
}

// newVersions are the packages a plan installs or upgrades, at their new
// versions.
func newVersions(plan *Plan) []pkgsvc.Package {
	var out []pkgsvc.Package
	for _, c := range plan.Changes {
		if c.New != "" {
			out = append(out, pkgsvc.Package{Name: c.Package, Version: c.New})
		}
	}
	return out
}
