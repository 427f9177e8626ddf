package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// listOptions are what `list` is asked: its flags and arguments.
type listOptions struct {
	all  bool
	args []string
}

func newListCmd(g *globals) *cobra.Command {
	var o listOptions
	c := &cobra.Command{
		Use:   "list",
		Short: "List the role's services (--all: every service)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runList(c.Context(), o, g)
		},
	}
	c.Flags().BoolVar(&o.all, "all", false, "every installed and project service, not only the role's")
	return c
}

// runList prints the services of the role (or all) with their packages; a
// problem with the package lists makes the exit code 6.
func runList(ctx context.Context, o listOptions, g *globals) (rerr error) {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	es, err := pp.List(o.all)
	if err != nil {
		return err
	}
	if o.all {
		if un, _ := pp.Unregistered(); len(un) > 0 {
			var names []string
			for _, r := range un {
				fmt.Fprintf(g.stderr, "servicectl: %s: provided by installed package %s %s but not registered, so it cannot start\n", r.Service, r.Package, r.Version)
				names = append(names, r.Service)
			}
			fmt.Fprintf(g.stderr, "servicectl: register with: servicectl new-service %s\n", strings.Join(names, " "))
		}
	}
	problems := pp.PackageProblems()
	for _, e := range problems {
		fmt.Fprintf(g.stderr, "servicectl: warning: %v\n", e)
	}
	defer func() {
		if _, err := pp.InstalledPackages(); err != nil && rerr == nil {
			rerr = silentExit(exitConfig) // said above: the list is not the whole truth
		}
	}()
	if g.json {
		return g.printJSON(es)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPACKAGE\tVERSION\tKIND\tTEMPLATE")
	for _, e := range es {
		pkg, ver := e.Package, e.Version
		if pkg == "" {
			pkg, ver = "-", "-"
		}
		tmpl := "no"
		if e.Template {
			tmpl = "yes"
		}
		if e.Error != "" {
			tmpl = "error: " + e.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Service, pkg, ver, e.Kind, tmpl)
	}
	return tw.Flush()
}
