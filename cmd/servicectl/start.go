package main

import (
	"github.com/spf13/cobra"
)

func newStart(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "start [SERVICE...]",
		Short:             "Start services (default: the role's set), dependencies first",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				// The default set: a bare template in it never runs itself.
				names = g.expand(pp, names, "start")
			}
			ctx := c.Context()
			return g.fold(pp.StartMany(ctx, names, m.opts()))
		},
	}
	m.add(c, true)
	return c
}
