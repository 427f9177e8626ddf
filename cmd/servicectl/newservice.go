package main

import (
	"context"
	"fmt"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

// newServiceOptions are what `new-service` is asked: its arguments.
type newServiceOptions struct {
	args []string
}

func newNewServiceCmd(g *globals) *cobra.Command {
	var o newServiceOptions
	c := &cobra.Command{
		Use:               "new-service SERVICE...",
		Short:             "Register an installed package's service (run by package managers)",
		ValidArgsFunction: g.completeUnregistered,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runNewService(c.Context(), o, g)
		},
	}
	return c
}

// runNewService registers each named service from its installed package
// (§1.6).
func runNewService(ctx context.Context, o newServiceOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	var rs []lifecycle.Result
	for _, a := range o.args {
		reg, err := install.NewService(pp.Playpen, a)
		rs = append(rs, lifecycle.Result{Service: a, Err: err})
		if err == nil && !g.quiet {
			fmt.Fprintf(g.stderr, "servicectl: %s: registered from %s %s\n", a, reg.Package, reg.Version)
		}
	}
	return g.fold(rs)
}
