package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/dashboard"
	"servicectl/pkgsvc/upgrade"
)

// manyFlags are the flags of start/stop/restart (SPEC §4.6).
type manyFlags struct {
	jobs   int
	noDeps bool
}

func (m *manyFlags) add(c *cobra.Command, deps bool) {
	c.Flags().IntVarP(&m.jobs, "jobs", "j", 8, "services acted on in parallel (1 or more)")
	if deps {
		c.Flags().BoolVar(&m.noDeps, "no-deps", false, "do not start dependencies")
	}
}

func (m *manyFlags) opts() pkgsvc.ManyOptions {
	return pkgsvc.ManyOptions{Jobs: m.jobs, NoDeps: m.noDeps}
}

// signalContext is every verb's context (c.Context()): cancelled on the
// first SIGINT or SIGTERM, so a long operation stops taking new work and
// what already runs finishes; a second signal ends the process as usual
// (the handler is gone once the first has come).
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func newStart(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "start [SERVICE...]",
		Short:             "Start services (default: the role's set), dependencies first",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				// The default set: a bare template in it never runs itself.
				names = g.expand(pp, names, "start")
			}
			ctx := c.Context()
			return g.fold(pp.StartMany(ctx, names, m.opts()))
		},
	}
	m.add(c, true)
	return c
}

func newStop(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "stop [SERVICE...]",
		Short:             "Stop services, dependants first (no names: every running service and instance; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.running(args, "stop")
			if err != nil {
				return err
			}
			ctx := c.Context()
			o := m.opts()
			o.Release = true // for good: the daemon closes their sockets
			return g.fold(pp.StopMany(ctx, names, o))
		},
	}
	m.add(c, false)
	return c
}

func newRestart(g *globals) *cobra.Command {
	var m manyFlags
	c := &cobra.Command{
		Use:               "restart [SERVICE...]",
		Short:             "Restart services (SIGHUP, service_restart, or stop and start; no names: every running one; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.running(args, "restart")
			if err != nil {
				return err
			}
			ctx := c.Context()
			return g.fold(pp.RestartMany(ctx, names, m.opts()))
		},
	}
	m.add(c, false)
	return c
}

func newReload(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "reload SERVICE...",
		Short:             "Send SIGHUP to services that take it (service_hup=1)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			for _, n := range names {
				rs = append(rs, pkgsvc.Result{Service: n, Err: pp.Reload(c.Context(), n)})
			}
			return g.fold(rs)
		},
	}
}

func newStatus(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:               "status [SERVICE...]",
		Short:             "Show services' state (exit 0 all running, 3 some stopped, 1 dead or failed, 4 unknown, 6 config error)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			if all && len(args) == 0 {
				if names, err = pp.AllServices(); err != nil {
					return err
				}
			}
			sts, errs := g.statusOf(c.Context(), pp, names)
			if g.json {
				if sts == nil {
					sts = []pkgsvc.Status{}
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
			if pending, _ := upgrade.JournalPending(pp); pending {
				fmt.Fprintf(g.stderr, "servicectl: warning: an upgrade is pending (%s); finish it with `servicectl upgrade post`\n", upgrade.JournalPath(pp))
			}
			var codes []int
			for _, e := range errs {
				fmt.Fprintf(g.stderr, "servicectl: %v\n", e)
				codes = append(codes, exitCode(e))
			}
			for _, a := range args {
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
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every installed and project service, not only the role's")
	return c
}

// statusOf is the status of names: the daemon's when daemon.sock
// answers within 100 ms (SPEC §9.5: it knows every state from its
// pidfds), else the command's own. SERVICECTL_DAEMON=off skips the
// daemon (to compare the two, or to rule the daemon out).
func (g *globals) statusOf(ctx context.Context, pp *pkgsvc.Playpen, names []string) ([]pkgsvc.Status, []error) {
	if os.Getenv("SERVICECTL_DAEMON") != "off" {
		sts, errs, ok, why := dashboard.AskStatus(pp, names)
		if ok {
			return sts, errs
		}
		if g.verbose && !errors.Is(why, fs.ErrNotExist) {
			fmt.Fprintf(g.stderr, "servicectl: the daemon did not answer on %s (%v): reading the state files\n", dashboard.SocketFile(pp), why)
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

func printStatus(g *globals, sts []pkgsvc.Status) {
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

func newPing(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "ping SERVICE...",
		Short:             "Exit 0 if the services are alive, 3 if not",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			for _, n := range names {
				rs = append(rs, pkgsvc.Result{Service: n, Err: pp.Ping(c.Context(), n)})
			}
			return g.fold(rs)
		},
	}
}

func newTest(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "test SERVICE...",
		Short:             "Run services' self-tests",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			for _, n := range names {
				err := pp.Test(c.Context(), n)
				if errors.Is(err, pkgsvc.ErrNoTest) {
					if !g.quiet {
						fmt.Fprintf(g.stderr, "servicectl: %s: %v\n", n, err)
					}
					err = nil
				} else if err == nil && !g.quiet {
					fmt.Fprintf(g.stderr, "servicectl: %s: test passed\n", n)
				}
				rs = append(rs, pkgsvc.Result{Service: n, Err: err})
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
		},
	}
}

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

// running is the selection of stop and restart (§7): with no names,
// every service and instance that has run state; a bare template stands
// for its running instances.
func (g *globals) running(args []string, verb string) (*pkgsvc.Playpen, []string, error) {
	if len(args) == 0 {
		pp, err := g.playpen()
		if err != nil {
			return nil, nil, err
		}
		names, err := pp.StateNames() // every service and instance with run state
		return pp, names, err
	}
	pp, names, err := g.selection(args)
	if err != nil {
		return nil, nil, err
	}
	return pp, g.expand(pp, names, verb), nil
}

// expand applies pkgsvc.ExpandTemplates and prints its notes.
func (g *globals) expand(pp *pkgsvc.Playpen, names []string, verb string) []string {
	out, notes := pp.ExpandTemplates(names, verb)
	for _, n := range notes {
		g.stderrf("servicectl: %s\n", n)
	}
	return out
}

// hasInstance says whether sts has a row for an instance of template.
func hasInstance(sts []pkgsvc.Status, template string) bool {
	for _, st := range sts {
		if strings.HasPrefix(st.Service, template+"@") {
			return true
		}
	}
	return false
}
