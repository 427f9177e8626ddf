package main

import (
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/upgrade"
)

// completeServices completes service names from the playpen.
func (g *globals) completeServices(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	pp, err := g.playpen()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names, err := pp.AllServices()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	// Instances: those with run state (running or recently stopped) and
	// those the role names (web@blue in playpen_services).
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, n := range names {
		insts, _ := pp.RunningInstances(n)
		for _, in := range insts {
			if !seen[in] {
				names, seen[in] = append(names, in), true
			}
		}
	}
	if role, err := pp.DefaultSet(); err == nil {
		for _, n := range role {
			if strings.Contains(n, "@") && !seen[n] {
				names, seen[n] = append(names, n), true
			}
		}
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeWhy offers installed packages and, for what looks like a path,
// the files packages install (their .files lists).
func (g *globals) completeWhy(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	pp, err := g.playpen()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cands, err := upgrade.WhyTargets(pp)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, toComplete) {
			out = append(out, c)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeVersions completes PKG=VERSION words (upgrade plan, pre, run):
// every installed package with each version unpacked under ext/packages/.
func (g *globals) completeVersions(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	pp, err := g.playpen()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	pkgs, _ := pp.InstalledPackages()
	ents, _ := os.ReadDir(pp.Path("ext", "packages"))
	var out []string
	for _, pk := range pkgs {
		for _, e := range ents {
			if ver, ok := strings.CutPrefix(e.Name(), pk.Name+"-"); ok && e.IsDir() && ver != pk.Version {
				if _, err := pkgsvc.ParseVersion(ver); err == nil {
					out = append(out, pk.Name+"="+ver)
				}
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeUnregistered completes new-service: services that installed
// packages provide and that are not registered yet.
func (g *globals) completeUnregistered(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	pp, err := g.playpen()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	un, _ := pp.Unregistered()
	var out []string
	for _, r := range un {
		out = append(out, r.Service)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
