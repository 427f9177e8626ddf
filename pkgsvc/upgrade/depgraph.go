package upgrade

import (
	"sort"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// depGraph is the package dependency graph of one installed set.
type depGraph struct {
	deps map[string][]pkgsvc.Dep // package → its .deps
}

// packageDepsAt reads the deps of the given version of every package in set.
func packageDepsAt(p *lifecycle.Manager, set map[string]string) (*depGraph, []string) {
	g := &depGraph{deps: map[string][]pkgsvc.Dep{}}
	var errs []string
	for name, ver := range set {
		if ver == "" {
			continue
		}
		ds, err := p.PackageDeps(name, ver)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		g.deps[name] = ds
	}
	return g, errs
}

// cycle reports a dependency cycle among packages.
func (g *depGraph) cycle() []string {
	var names []string
	deps := map[string][]string{}
	for n, ds := range g.deps {
		names = append(names, n)
		for _, d := range ds {
			deps[n] = append(deps[n], d.Name)
		}
	}
	sort.Strings(names)
	return lifecycle.FindCycle(names, deps)
}

// reaches returns, for package from, the packages it depends on
// transitively, each with the path that leads there.
func (g *depGraph) reaches(from string) map[string][]string {
	out := map[string][]string{}
	var walk func(n string, path []string)
	walk = func(n string, path []string) {
		for _, d := range g.deps[n] {
			if _, seen := out[d.Name]; seen || d.Name == from {
				continue
			}
			pp := append(append([]string{}, path...), d.Name)
			out[d.Name] = pp
			walk(d.Name, pp)
		}
	}
	walk(from, []string{from})
	return out
}
