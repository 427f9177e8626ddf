package main

import (
	"context"
	"os"
	"os/signal"
	"servicectl/pkgsvc/lifecycle"
	"syscall"

	"github.com/spf13/cobra"
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

func (m *manyFlags) opts() lifecycle.ManyOptions {
	return lifecycle.ManyOptions{Jobs: m.jobs, NoDeps: m.noDeps}
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

// running is the selection of stop and restart (§7): with no names,
// every service and instance that has run state; a bare template stands
// for its running instances.
func (g *globals) running(args []string, verb string) (*lifecycle.Manager, []string, error) {
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
func (g *globals) expand(pp *lifecycle.Manager, names []string, verb string) []string {
	out, notes := pp.ExpandTemplates(names, verb)
	for _, n := range notes {
		g.stderrf("servicectl: %s\n", n)
	}
	return out
}

// eachNamed is the body of the verbs that act on each named service in
// turn (ping, reload, test): the selection, then one result per name.
func (g *globals) eachNamed(ctx context.Context, args []string, act func(pp *lifecycle.Manager, ctx context.Context, name string) error) ([]lifecycle.Result, error) {
	pp, names, err := g.selection(args)
	if err != nil {
		return nil, err
	}
	var rs []lifecycle.Result
	for _, n := range names {
		rs = append(rs, lifecycle.Result{Service: n, Err: act(pp, ctx, n)})
	}
	return rs, nil
}
