package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/dashboard"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

// statusOptions are what `status` is asked: its flags and arguments.
type statusOptions struct {
	all  bool
	args []string
}

func newStatusCmd(g *globals) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:               "status [SERVICE...]",
		Short:             "Show services' state (exit 0 all running, 3 some stopped, 1 dead or failed, 4 unknown, 6 config error)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runStatus(c.Context(), o, g)
		},
	}
	c.Flags().BoolVar(&o.all, "all", false, "every installed and project service, not only the role's")
	return c
}

// runStatus prints the state of the selection and folds the states into
// the exit code of §7.
func runStatus(ctx context.Context, o statusOptions, g *globals) error {
	pp, names, err := g.selection(o.args)
	if err != nil {
		return err
	}
	if o.all && len(o.args) == 0 {
		if names, err = pp.AllServices(); err != nil {
			return err
		}
	}
	sts, errs := g.statusOf(ctx, pp, names)
	if g.json {
		if sts == nil {
			sts = []lifecycle.Status{}
		}
		if err := g.printJSON(sts); err != nil {
			return err
		}
	} else {
		printStatus(g, sts)
	}
	for _, e := range pp.MissingPackages() {
		fmt.Fprintf(g.stderr, "servicectl: warning: %v\n", e)
	}
	if pending, _ := upgrade.JournalPending(pp.Playpen); pending {
		fmt.Fprintf(g.stderr, "servicectl: warning: an upgrade is pending (%s); finish it with `servicectl upgrade post`\n", upgrade.JournalPath(pp.Playpen))
	}
	var codes []int
	for _, e := range errs {
		fmt.Fprintf(g.stderr, "servicectl: %v\n", e)
		codes = append(codes, exitCode(e))
	}
	for _, a := range o.args {
		// A template named on its own: its instances, or word that
		// none runs (exit 3, as for a stopped service).
		if pp.IsTemplate(a) && !hasInstance(sts, a) {
			fmt.Fprintf(g.stderr, "servicectl: %s is a template and no instance of it runs (start one: `servicectl start %s@NAME`)\n", a, a)
			codes = append(codes, exitNotRunning)
		}
	}
	for _, st := range sts {
		switch st.State {
		case pkgsvc.StateDead, pkgsvc.StateFailed:
			codes = append(codes, exitFailed)
		case pkgsvc.StateStopped:
			codes = append(codes, exitNotRunning)
		}
	}
	code := statusCode(codes)
	if code != 0 {
		return silentExit(code)
	}
	return nil
}

// statusOf is the status of names: the daemon's when daemon.sock
// answers within 100 ms (SPEC §9.5: it knows every state from its
// pidfds), else the command's own. SERVICECTL_DAEMON=off skips the
// daemon (to compare the two, or to rule the daemon out).
func (g *globals) statusOf(ctx context.Context, pp *lifecycle.Manager, names []string) ([]lifecycle.Status, []error) {
	if os.Getenv("SERVICECTL_DAEMON") != "off" {
		sts, errs, ok, why := dashboard.AskStatus(pp.Playpen, names)
		if ok {
			return sts, errs
		}
		if g.verbose && !errors.Is(why, fs.ErrNotExist) {
			fmt.Fprintf(g.stderr, "servicectl: the daemon did not answer on %s (%v): reading the state files\n", dashboard.SocketFile(pp.Playpen), why)
		}
	}
	return pp.StatusMany(ctx, names)
}

// statusCode is the LSB order of SPEC §4.8: unknown, then dead/failed,
// then stopped.
func statusCode(codes []int) int {
	best := 0
	for _, c := range codes {
		switch {
		case c == exitUnknown:
			return c
		case c == exitNotRunning && best == 0:
			best = c
		case c != exitNotRunning && c != 0:
			if best == 0 || best == exitNotRunning {
				best = c
			}
		}
	}
	return best
}

func printStatus(g *globals, sts []lifecycle.Status) {
	tw := tabwriter.NewWriter(g.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tPACKAGE\tVERSION\tSTATE\tPID\tUPTIME")
	now := time.Now()
	for _, st := range sts {
		pkg, ver := st.Package, st.Version
		if pkg == "" {
			pkg, ver = "-", "-"
		}
		state := st.State
		if st.Stale {
			state += " (stale)"
		}
		if st.ConfigError != "" {
			state += " (config error)"
		}
		pid, up := "-", "-"
		if st.Pid > 0 {
			pid = fmt.Sprint(st.Pid)
		}
		if st.State == pkgsvc.StateRunning && st.StartedAt != nil {
			up = pkgsvc.FormatUptime(now.Sub(*st.StartedAt))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Service, pkg, ver, state, pid, up)
	}
	tw.Flush()
	if g.verbose {
		for _, st := range sts {
			if st.Detail != "" {
				fmt.Fprintf(g.stderr, "servicectl: %s: %s\n", st.Service, st.Detail)
			}
		}
	}
}

// hasInstance says whether sts has a row for an instance of template.
func hasInstance(sts []lifecycle.Status, template string) bool {
	for _, st := range sts {
		if strings.HasPrefix(st.Service, template+"@") {
			return true
		}
	}
	return false
}
