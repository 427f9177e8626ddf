package main

import (
	"context"
	"errors"
	"fmt"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

// testOptions are what `test` is asked: its arguments.
type testOptions struct {
	args []string
}

func newTestCmd(g *globals) *cobra.Command {
	var o testOptions
	c := &cobra.Command{
		Use:               "test SERVICE...",
		Short:             "Run services' self-tests",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runTest(c.Context(), o, g)
		},
	}
	return c
}

// runTest runs each named service's self-test; the exit status is the
// first failed test's own.
func runTest(ctx context.Context, o testOptions, g *globals) error {
	rs, err := g.eachNamed(ctx, o.args, func(pp *lifecycle.Manager, ctx context.Context, n string) error {
		err := pp.Test(ctx, n)
		if errors.Is(err, lifecycle.ErrNoTest) {
			if !g.quiet {
				fmt.Fprintf(g.stderr, "servicectl: %s: %v\n", n, err)
			}
			return nil
		} else if err == nil && !g.quiet {
			fmt.Fprintf(g.stderr, "servicectl: %s: test passed\n", n)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := g.fold(rs); err != nil {
		// The exit status is the first failed test's own (§4.9):
		// a test that exits 5 makes `test` exit 5.
		for _, r := range rs {
			if r.Err != nil {
				return &multiErr{code: exitCode(r.Err)}
			}
		}
	}
	return nil
}
