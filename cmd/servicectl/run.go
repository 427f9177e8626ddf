package main

import (
	"context"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

// runOptions are what `run` is asked: its flags and arguments.
type runOptions struct {
	output bool
	args   []string
}

func newRunCmd(g *globals) *cobra.Command {
	var o runOptions
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
			o.args = args
			return runRun(c.Context(), o, g)
		},
	}
	c.Flags().BoolVar(&o.output, "output", false, "send the program's stdout and stderr to the service's output file")
	return c
}

// runRun prepares the service as start does and execs its program in place
// of servicectl.
func runRun(ctx context.Context, o runOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	g.flush() // what was printed must not be lost at exec
	return pp.Exec(ctx, o.args[0], lifecycle.RunOptions{Output: o.output})
}

// hookOptions are what `hook` is asked: its arguments.
type hookOptions struct {
	args []string
}

func newHookCmd(g *globals) *cobra.Command {
	var o hookOptions
	c := &cobra.Command{
		Use:               "hook SERVICE pre-start|post-start|pre-stop|post-stop",
		Short:             "Run one hook step of a service with its environment (for engines that call hooks themselves)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runHook(c.Context(), o, g)
		},
	}
	return c
}

// runHook runs one hook step of a service with its environment.
func runHook(ctx context.Context, o hookOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	return pp.Hook(ctx, o.args[0], o.args[1])
}
