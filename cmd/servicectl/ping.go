package main

import (
	"context"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

// pingOptions are what `ping` is asked: its arguments.
type pingOptions struct {
	args []string
}

func newPingCmd(g *globals) *cobra.Command {
	var o pingOptions
	c := &cobra.Command{
		Use:               "ping SERVICE...",
		Short:             "Exit 0 if the services are alive, 3 if not",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runPing(c.Context(), o, g)
		},
	}
	return c
}

// runPing checks each named service's liveness (§4.9).
func runPing(ctx context.Context, o pingOptions, g *globals) error {
	rs, err := g.eachNamed(ctx, o.args, (*lifecycle.Manager).Ping)
	if err != nil {
		return err
	}
	return g.fold(rs)
}
