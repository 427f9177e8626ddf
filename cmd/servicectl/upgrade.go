package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/dashboard"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

// upgradeFlags are shared by plan, pre, post and run (SPEC §8).
type upgradeFlags struct {
	fromFile       string
	files          []string
	allowDowngrade bool
	force          bool
	jobs           int
}

func (u *upgradeFlags) add(c *cobra.Command, act bool) {
	c.Flags().StringVar(&u.fromFile, "from-file", "", "compare this installed-packages style list with the current one")
	c.Flags().StringSliceVar(&u.files, "files", nil, "changed files (relative to the playpen), for service_filedeps")
	c.Flags().BoolVar(&u.allowDowngrade, "allow-downgrade", false, "accept a version older than the installed one")
	if act {
		c.Flags().BoolVar(&u.force, "force", false, "go on although dependency constraints break")
		c.Flags().IntVarP(&u.jobs, "jobs", "j", 8, "services acted on in parallel")
	}
}

func (u *upgradeFlags) opts(set []string) upgrade.Options {
	return upgrade.Options{
		PlanOptions: upgrade.PlanOptions{Set: set, FromFile: u.fromFile, Files: u.files, AllowDowngrade: u.allowDowngrade},
		Force:       u.force, Jobs: u.jobs,
	}
}

// newUpgradeCmd is `upgrade` and its steps (§8.3): plan, pre, post and
// run, which does the three around the package manager's command.
func newUpgradeCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Apply package upgrades to services safely (for package managers)",
	}
	c.AddCommand(newUpgradePlanCmd(g), newUpgradePreCmd(g), newUpgradePostCmd(g), newUpgradeRunCmd(g))
	return c
}

// upgradeOptions are what an upgrade step is asked: the shared flags,
// `plan --hooks`, and the PKG=VERSION arguments.
type upgradeOptions struct {
	flags upgradeFlags
	hooks bool
	args  []string
}

func newUpgradePlanCmd(g *globals) *cobra.Command {
	var o upgradeOptions
	c := &cobra.Command{
		Use:               "plan [PKG=VERSION...]",
		Short:             "Show what an upgrade would do to each service, and why",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runUpgradePlan(c.Context(), o, g)
		},
	}
	o.flags.add(c, false)
	c.Flags().BoolVar(&o.hooks, "hooks", false, "also run each action's hooks and replacement commands with every command, write and signal recorded instead of done, and show what they would do")
	return c
}

// runUpgradePlan prints the plan (§8.2), refusals the running daemon
// would make noted, or with --hooks what each action's hooks would do.
func runUpgradePlan(ctx context.Context, o upgradeOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	p, err := upgrade.MakePlan(ctx, pp, o.flags.opts(o.args).PlanOptions)
	if err != nil {
		return err
	}
	_, _, daemon, _ := dashboard.AskStatus(pp.Playpen, nil)
	upgrade.NoteRefusals(pp, p, daemon)
	if o.hooks {
		return g.printDryRun(ctx, pp, p)
	}
	return g.printPlan(p)
}

func newUpgradePreCmd(g *globals) *cobra.Command {
	var o upgradeOptions
	c := &cobra.Command{
		Use:               "pre PKG=VERSION...",
		Short:             "Before the package manager changes files: journal the plan and stop what must stop",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runUpgradePre(c.Context(), o, g)
		},
	}
	o.flags.add(c, true)
	return c
}

// runUpgradePre journals the plan and stops what must stop before the
// package manager changes files (§8.3), printing the plan to stderr.
func runUpgradePre(ctx context.Context, o upgradeOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	p, err := upgrade.Pre(ctx, pp, o.flags.opts(o.args))
	if p != nil && !g.quiet && !g.json {
		g.printPlanTo(p, true)
	}
	return err
}

func newUpgradePostCmd(g *globals) *cobra.Command {
	var o upgradeOptions
	c := &cobra.Command{
		Use:   "post",
		Short: "After the package manager changed files: register new definitions, start and restart",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runUpgradePost(c.Context(), o, g)
		},
	}
	o.flags.add(c, true)
	return c
}

// runUpgradePost finishes the journaled upgrade (§8.3): registers the new
// definitions, starts and restarts per policy behind the health gate.
func runUpgradePost(ctx context.Context, o upgradeOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	_, err = upgrade.Post(ctx, pp, o.flags.opts(nil))
	return err
}

// whyOptions are what `why` is asked: its arguments.
type whyOptions struct {
	args []string
}

func newWhyCmd(g *globals) *cobra.Command {
	var o whyOptions
	c := &cobra.Command{
		Use:               "why PACKAGE|FILE",
		Short:             "Which services a change of this package or file would stop or restart, and why",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeWhy,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runWhy(c.Context(), o, g)
		},
	}
	return c
}

// runWhy explains why a service would be restarted, stopped or left alone
// by an upgrade.
func runWhy(ctx context.Context, o whyOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	p, err := upgrade.Why(ctx, pp, o.args[0])
	if err != nil {
		return err
	}
	g.printWarnings(p)
	if g.json {
		return g.printJSON(p.Actions)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTION\tBECAUSE\tPOLICY\tGATE")
	for _, a := range p.Actions {
		if a.Action == upgrade.ActStartAfter {
			continue // the stop-before line says it
		}
		act := a.Action
		if act == upgrade.ActStopBefore {
			act = "stop, start after"
		}
		gate := a.GateText()
		if a.Action == upgrade.ActStopBefore {
			gate = startAfterGate(p, a.Service)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Service, act, a.Chain, a.Policy, gate)
	}
	return tw.Flush()
}

// printDryRun prints the plan with what each action's hooks would do
// (`upgrade plan --hooks`); nothing on the machine changes.
func (g *globals) printDryRun(ctx context.Context, pp *lifecycle.Manager, p *upgrade.Plan) error {
	g.printWarnings(p)
	runs, err := upgrade.DryRunHooks(ctx, pp, p)
	if err != nil {
		return err
	}
	if g.json {
		r := p.Report()
		if runs == nil {
			runs = []upgrade.ActionRun{}
		}
		return g.printJSON(struct {
			upgrade.PlanReport
			Hooks []upgrade.ActionRun `json:"hooks"`
		}{r, runs})
	}
	g.printPlanTo(p, false)
	failed := 0
	for _, r := range runs {
		text, fails := r.Text()
		fmt.Fprint(g.stdout, "\n"+text)
		failed += fails
	}
	if failed > 0 {
		return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Err: fmt.Errorf("%d hook(s) of this upgrade would fail even with every command succeeding (FAILS above)", failed)}
	}
	return nil
}

// startAfterGate is the gate of the start-after that follows a
// stop-before, which why prints on the stop's line.
func startAfterGate(p *upgrade.Plan, service string) string {
	for _, a := range p.Actions {
		if a.Service == service && a.Action == upgrade.ActStartAfter {
			return a.GateText()
		}
	}
	return "-"
}

// printPlan prints a plan; a plan whose dependency constraints break
// (its errors) ends the command with exit 6 once printed, as `upgrade
// pre` would refuse it.
func (g *globals) printPlan(p *upgrade.Plan) error {
	g.printWarnings(p)
	if g.json {
		if err := g.printJSON(p.Report()); err != nil {
			return err
		}
	} else {
		g.printPlanTo(p, false)
	}
	if len(p.Errors) > 0 {
		return &pkgsvc.Error{Kind: pkgsvc.KindConfig, Err: fmt.Errorf("the plan breaks %d dependency constraint(s) (listed above); change the versions or the .deps files", len(p.Errors))}
	}
	return nil
}

// printWarnings says on stderr what a plan could not decide.
func (g *globals) printWarnings(p *upgrade.Plan) {
	for _, w := range p.Warnings {
		fmt.Fprintf(g.stderr, "servicectl: warning: %s\n", w)
	}
}

func (g *globals) printPlanTo(p *upgrade.Plan, toStderr bool) {
	w := g.stdout
	if toStderr {
		w = g.stderr
	}
	for _, c := range p.Changes {
		switch {
		case c.Old == "":
			fmt.Fprintf(w, "install %s %s\n", c.Package, c.New)
		case c.New == "":
			fmt.Fprintf(w, "remove  %s %s\n", c.Package, c.Old)
		default:
			fmt.Fprintf(w, "upgrade %s %s -> %s\n", c.Package, c.Old, c.New)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTION\tREASON\tPOLICY\tGATE")
	for _, a := range p.Actions {
		pol := a.Policy
		if pol == "" {
			pol = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Service, a.Action, a.Reason, pol, a.GateText())
	}
	tw.Flush()
	for _, e := range p.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
