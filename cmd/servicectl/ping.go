package main

import (
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

func newPing(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "ping SERVICE...",
		Short:             "Exit 0 if the services are alive, 3 if not",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			rs, err := g.eachNamed(c, args, (*lifecycle.Manager).Ping)
			if err != nil {
				return err
			}
			return g.fold(rs)
		},
	}
}
