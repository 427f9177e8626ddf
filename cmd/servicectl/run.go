package main

import (
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

func newRun(g *globals) *cobra.Command {
	var output bool
	c := &cobra.Command{
		Use:   "run [--output] SERVICE",
		Short: "Prepare a service as start does, then exec its program in the foreground (for systemd, s6, runit, containers)",
		Long: `run does what start does up to the launch (typed environment, config rendering,
pre-start), writes the pidfile and state file, and then replaces itself with
the program through the linkfarm: same pid, so the engine that started run
supervises the program and its signals reach it. stdout and stderr stay
run's unless --output sends them to the service's output file. Post-start
and the stop hooks are the engine's to call: servicectl hook SERVICE STEP.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			g.flush() // what was printed must not be lost at exec
			return pp.Exec(c.Context(), args[0], lifecycle.RunOptions{Output: output})
		},
	}
	c.Flags().BoolVar(&output, "output", false, "send the program's stdout and stderr to the service's output file")
	return c
}

func newHook(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "hook SERVICE pre-start|post-start|pre-stop|post-stop",
		Short:             "Run one hook step of a service with its environment (for engines that call hooks themselves)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			ctx := c.Context()
			return pp.Hook(ctx, args[0], args[1])
		},
	}
}
