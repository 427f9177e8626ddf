package main

import (
	"context"
	"servicectl/pkgsvc/lifecycle"

	"github.com/spf13/cobra"
)

// restartOptions are what `restart` is asked: its flags and arguments.
type restartOptions struct {
	m    manyFlags
	args []string
}

func newRestartCmd(g *globals) *cobra.Command {
	var o restartOptions
	c := &cobra.Command{
		Use:               "restart [SERVICE...]",
		Short:             "Restart services (SIGHUP, service_restart, or stop and start; no names: every running one; a template: its instances)",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runRestart(c.Context(), o, g)
		},
	}
	o.m.add(c, false)
	return c
}

// runRestart restarts the selection as each service prefers (§4.6).
func runRestart(ctx context.Context, o restartOptions, g *globals) error {
	pp, names, err := g.running(o.args, "restart")
	if err != nil {
		return err
	}
	return g.fold(pp.RestartMany(ctx, names, o.m.opts()))
}

// reloadOptions are what `reload` is asked: its arguments.
type reloadOptions struct {
	args []string
}

func newReloadCmd(g *globals) *cobra.Command {
	var o reloadOptions
	c := &cobra.Command{
		Use:               "reload SERVICE...",
		Short:             "Send SIGHUP to services that take it (service_hup=1)",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runReload(c.Context(), o, g)
		},
	}
	return c
}

// runReload sends SIGHUP to each named service that takes it.
func runReload(ctx context.Context, o reloadOptions, g *globals) error {
	rs, err := g.eachNamed(ctx, o.args, (*lifecycle.Manager).Reload)
	if err != nil {
		return err
	}
	return g.fold(rs)
}
