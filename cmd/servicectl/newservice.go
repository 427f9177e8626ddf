package main

import (
	"fmt"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

func newNewService(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "new-service SERVICE...",
		Short:             "Register an installed package's service (run by package managers)",
		ValidArgsFunction: g.completeUnregistered,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			var rs []lifecycle.Result
			for _, a := range args {
				reg, err := install.NewService(pp.Playpen, a)
				rs = append(rs, lifecycle.Result{Service: a, Err: err})
				if err == nil && !g.quiet {
					fmt.Fprintf(g.stderr, "servicectl: %s: registered from %s %s\n", a, reg.Package, reg.Version)
				}
			}
			return g.fold(rs)
		},
	}
}
