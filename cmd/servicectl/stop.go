package main

import (
	"context"

	"github.com/spf13/cobra"
)

// stopOptions are what `stop` is asked: its flags and arguments.
type stopOptions struct {
	m    manyFlags
	args []string
}

func newStopCmd(g *globals) *cobra.Command {
	var o stopOptions
	c := &cobra.Command{
		Use:               "stop [SERVICE...]",
		Short:             "Stop services, dependants first (no names: every running service and instance; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runStop(c.Context(), o, g)
		},
	}
	o.m.add(c, false)
	return c
}

// runStop stops the selection, dependants first (§4.5); with no names
// every service that has run state.
func runStop(ctx context.Context, o stopOptions, g *globals) error {
	pp, names, err := g.running(o.args, "stop")
	if err != nil {
		return err
	}
	mo := o.m.opts()
	mo.Release = true // for good: the daemon closes their sockets
	return g.fold(pp.StopMany(ctx, names, mo))
}
