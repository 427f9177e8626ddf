package main

import (
	"context"
	"errors"
	"os"
	"servicectl/pkgsvc/upgrade"

	"github.com/spf13/cobra"
)

// upgradeRunOptions are what `upgrade run` is asked: the upgrade flags,
// the rollback command, and PKG=VERSION... -- COMMAND ARG....
type upgradeRunOptions struct {
	flags    upgradeFlags
	rollback string
	dash     int // where -- was among args (cobra's ArgsLenAtDash)
	args     []string
}

// newUpgradeRunCmd is `upgrade run`: pre, the package manager's command,
// post, with --rollback recorded for the health gate.
func newUpgradeRunCmd(g *globals) *cobra.Command {
	var o upgradeRunOptions
	c := &cobra.Command{
		Use:               "run PKG=VERSION... [--rollback 'COMMAND ARG...'] -- COMMAND [ARG...]",
		Short:             "upgrade pre, run COMMAND, upgrade post (post runs even if COMMAND fails)",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			o.dash, o.args = c.ArgsLenAtDash(), args
			return runUpgradeRun(c.Context(), o, g)
		},
	}
	o.flags.add(c, true)
	c.Flags().StringVar(&o.rollback, "rollback", "", "the package manager's way back, one string split into words as sh does (no shell runs it): run when the upgraded services fail their health gate, then post again")
	return c
}

// runUpgradeRun runs the whole sequence through the engine (upgrade.Run):
// post runs even when the package manager's command fails.
func runUpgradeRun(ctx context.Context, o upgradeRunOptions, g *globals) error {
	if o.dash < 0 || o.dash == len(o.args) {
		return usageError{errors.New("upgrade run needs `-- COMMAND`")}
	}
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	return upgrade.Run(ctx, pp, upgrade.Command{
		Pre: o.flags.opts(o.args[:o.dash]), Post: o.flags.opts(nil),
		Argv: o.args[o.dash:], Rollback: o.rollback,
		Stdin: os.Stdin, Output: g.stderr,
		Planned: func(p *upgrade.Plan) {
			if !g.quiet {
				g.printPlanTo(p, true)
			}
		},
	})
}
