package main

import (
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

func newRestart(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "restart [SERVICE...]",
		Short:             "Restart services (SIGHUP, service_restart, or stop and start; no names: every running one; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.running(args, "restart")
			if err != nil {
				return err
			}
			ctx := c.Context()
			return g.fold(pp.RestartMany(ctx, names, m.opts()))
		},
	}
	m.add(c, false)
	return c
}

func newReload(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "reload SERVICE...",
		Short:             "Send SIGHUP to services that take it (service_hup=1)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			rs, err := g.eachNamed(c, args, (*lifecycle.Manager).Reload)
			if err != nil {
				return err
			}
			return g.fold(rs)
		},
	}
}
