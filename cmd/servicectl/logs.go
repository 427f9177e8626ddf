package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

// logsOptions are what `logs` is asked: its flags and arguments.
type logsOptions struct {
	n      int
	follow bool
	args   []string
}

func newLogsCmd(g *globals) *cobra.Command {
	var o logsOptions
	c := &cobra.Command{
		Use:               "logs SERVICE",
		Short:             "Print (and follow) a service's output file",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runLogs(c.Context(), o, g)
		},
	}
	c.Flags().IntVarP(&o.n, "lines", "n", 20, "lines to print from the end (0: all)")
	c.Flags().BoolVarP(&o.follow, "follow", "f", false, "keep printing new output, across rotations")
	return c
}

// runLogs prints the service's output file, and follows it until the
// command is interrupted.
func runLogs(ctx context.Context, o logsOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	err = pp.Logs(ctx, o.args[0], o.n, o.follow, g.rawStdout)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
