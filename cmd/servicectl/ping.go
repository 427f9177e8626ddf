package main

import (
	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
)

func newPing(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "ping SERVICE...",
		Short:             "Exit 0 if the services are alive, 3 if not",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			for _, n := range names {
				rs = append(rs, pkgsvc.Result{Service: n, Err: pp.Ping(c.Context(), n)})
			}
			return g.fold(rs)
		},
	}
}
