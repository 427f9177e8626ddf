package main

import (
	"context"

	"github.com/spf13/cobra"
)

// startOptions are what `start` is asked: its flags and arguments.
type startOptions struct {
	m    manyFlags
	args []string
}

func newStartCmd(g *globals) *cobra.Command {
	var o startOptions
	c := &cobra.Command{
		Use:               "start [SERVICE...]",
		Short:             "Start services (default: the role's set), dependencies first",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runStart(c.Context(), o, g)
		},
	}
	o.m.add(c, true)
	return c
}

// runStart starts the selection, dependencies first (§4.3), and folds the
// results into one exit code.
func runStart(ctx context.Context, o startOptions, g *globals) error {
	pp, names, err := g.selection(o.args)
	if err != nil {
		return err
	}
	if len(o.args) == 0 {
		// The default set: a bare template in it never runs itself.
		names = g.expand(pp, names, "start")
	}
	return g.fold(pp.StartMany(ctx, names, o.m.opts()))
}
