package main

import (
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc/supervise"
)

func newDaemon(g *globals) *cobra.Command {
	var httpAddr string
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Supervise the playpen's services in the foreground: restart crashed ones (SPEC §9)",
		Long: `servicectl daemon watches every started service and restarts one that dies
without a stop being asked: at once after a run of 1 s or more, else after
100 ms doubling up to 30 s; more than 5 crashes in 60 s mark it failed until
a start. It adopts running services from their state files, and restarts
those that died while no daemon ran. Killing it leaves the services running.
One daemon per playpen. Logs go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			// A long-running process: the collector works as usual
			// (main turns it off for one-shot commands).
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(-1)
			log := slog.New(slog.NewTextHandler(g.stderr, nil))
			if httpAddr != "" {
				log.Warn("the HTTP API and dashboard (§9.4) are not built yet: serving none", "http", httpAddr)
			}
			ctx, cancel := signalContext()
			defer cancel()
			err = supervise.New(pp, log).Run(ctx)
			if errors.Is(err, supervise.ErrRunning) {
				return silentFail(g, err)
			}
			return err
		},
	}
	c.Flags().StringVar(&httpAddr, "http", "127.0.0.1:8470", "address of the dashboard and API ('' for none)")
	return c
}

// silentFail prints err and exits 1.
func silentFail(g *globals, err error) error {
	g.stderrf("servicectl: %v\n", err)
	return silentExit(exitFailed)
}
