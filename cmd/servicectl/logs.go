package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

func newLogs(g *globals) *cobra.Command {
	var n int
	var follow bool
	c := &cobra.Command{
		Use:               "logs SERVICE",
		Short:             "Print (and follow) a service's output file",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			ctx := c.Context()
			err = pp.Logs(ctx, args[0], n, follow, g.rawStdout)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	c.Flags().IntVarP(&n, "lines", "n", 20, "lines to print from the end (0: all)")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output, across rotations")
	return c
}
