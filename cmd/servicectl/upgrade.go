package main

import (
	"context"
	"errors"
	"fmt"
	"os"
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

func newUpgrade(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "upgrade",
		Short: "Apply package upgrades to services safely (for package managers)",
	}
	var pf, pre, post upgradeFlags
	var withHooks bool
	plan := &cobra.Command{
		Use:               "plan [PKG=VERSION...]",
		Short:             "Show what an upgrade would do to each service, and why",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			p, err := upgrade.MakePlan(c.Context(), pp, pf.opts(args).PlanOptions)
			if err != nil {
				return err
			}
			_, _, daemon, _ := dashboard.AskStatus(pp.Playpen, nil)
			upgrade.NoteRefusals(pp, p, daemon)
			if withHooks {
				return g.printDryRun(c.Context(), pp, p)
			}
			return g.printPlan(p)
		},
	}
	pf.add(plan, false)
	plan.Flags().BoolVar(&withHooks, "hooks", false, "also run each action's hooks and replacement commands with every command, write and signal recorded instead of done, and show what they would do")
	preC := &cobra.Command{
		Use:               "pre PKG=VERSION...",
		Short:             "Before the package manager changes files: journal the plan and stop what must stop",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			ctx := c.Context()
			p, err := upgrade.Pre(ctx, pp, pre.opts(args))
			if p != nil && !g.quiet && !g.json {
				g.printPlanTo(p, true)
			}
			return err
		},
	}
	pre.add(preC, true)
	postC := &cobra.Command{
		Use:   "post",
		Short: "After the package manager changed files: register new definitions, start and restart",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			ctx := c.Context()
			_, err = upgrade.Post(ctx, pp, post.opts(nil))
			return err
		},
	}
	post.add(postC, true)
	runC := newUpgradeRun(g)
	c.AddCommand(plan, preC, postC, runC)
	return c
}

func newWhy(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "why PACKAGE|FILE",
		Short:             "Which services a change of this package or file would stop or restart, and why",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeWhy,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			p, err := upgrade.Why(c.Context(), pp, args[0])
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
		},
	}
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

// newUpgradeRun is `upgrade run`: pre, the package manager's command,
// post, with --rollback recorded for the health gate.
func newUpgradeRun(g *globals) *cobra.Command {
	var run upgradeFlags
	var rollback string
	runC := &cobra.Command{
		Use:               "run PKG=VERSION... [--rollback 'COMMAND ARG...'] -- COMMAND [ARG...]",
		Short:             "upgrade pre, run COMMAND, upgrade post (post runs even if COMMAND fails)",
		ValidArgsFunction: g.completeVersions,
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			if dash < 0 || dash == len(args) {
				return usageError{errors.New("upgrade run needs `-- COMMAND`")}
			}
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			return upgrade.Run(c.Context(), pp, upgrade.Command{
				Pre: run.opts(args[:dash]), Post: run.opts(nil),
				Argv: args[dash:], Rollback: rollback,
				Stdin: os.Stdin, Output: g.stderr,
				Planned: func(p *upgrade.Plan) {
					if !g.quiet {
						g.printPlanTo(p, true)
					}
				},
			})
		},
	}
	run.add(runC, true)
	runC.Flags().StringVar(&rollback, "rollback", "", "the package manager's way back, one string split into words as sh does (no shell runs it): run when the upgraded services fail their health gate, then post again")
	return runC
}
