package main

import (
	"github.com/spf13/cobra"
)

func newStop(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "stop [SERVICE...]",
		Short:             "Stop services, dependants first (no names: every running service and instance; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.running(args, "stop")
			if err != nil {
				return err
			}
			ctx := c.Context()
			o := m.opts()
			o.Release = true // for good: the daemon closes their sockets
			return g.fold(pp.StopMany(ctx, names, o))
		},
	}
	m.add(c, false)
	return c
}
