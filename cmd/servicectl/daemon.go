package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc/dashboard"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/supervise"
	"servicectl/pkgsvc/upgrade"
)

// daemonOptions are what `daemon` is asked: its flags and arguments.
type daemonOptions struct {
	httpAddr string
	args     []string
}

func newDaemonCmd(g *globals) *cobra.Command {
	var o daemonOptions
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
			o.args = args
			return runDaemon(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.httpAddr, "http", "127.0.0.1:8470", "address of the dashboard and API ('' for none)")
	return c
}

// runDaemon supervises the playpen's services until interrupted: the
// supervisor, the upgrade reactor, daemon.sock and, when asked, the
// dashboard (§9).
func runDaemon(ctx context.Context, o daemonOptions, g *globals) error {
	pp, err := g.playpen()
	if err != nil {
		return err
	}
	// A long-running process: the collector works as usual
	// (main turns it off for one-shot commands).
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(-1)
	events := dashboard.NewEvents(200)
	log := slog.New(events.Handler(slog.NewTextHandler(g.stderr, nil)))
	sup := supervise.New(pp, log)
	pp.Liveness = sup.Alive // the dashboard's status needs no /proc read for what is watched
	pp.KeepFiles()          // nor a read of a state file that did not change
	if err := sup.Lock(); err != nil {
		if errors.Is(err, supervise.ErrRunning) {
			return silentFail(g, err)
		}
		return err
	}
	stop, err := serveAPI(ctx, g, pp, o.httpAddr, log, events, sup.Keeper(),
		dashboard.WithRotations(sup.Rotations), dashboard.WithObserver(sup.Observed), dashboard.WithLogger(log.With("part", "api")), dashboard.WithKnown(sup.Known))
	if err != nil {
		sup.Unlock()
		return err
	}
	defer stop()
	go func() {
		if err := upgrade.NewReactor(pp, log.With("part", "watch")).Run(ctx); err != nil {
			log.Warn("not watching files for changes (§9.3)", "err", err)
		}
	}()
	return sup.Run(ctx)
}

// silentFail prints err and exits 1.
func silentFail(g *globals, err error) error {
	g.stderrf("servicectl: %v\n", err)
	return silentExit(exitFailed)
}

// serveAPI starts the HTTP side (§9.4): the API on daemon.sock (mode
// 0600, no token: the file's mode is the authentication) and, unless
// addr is empty, the dashboard on addr. A new token is made at every
// start; the URL carrying it is printed once, on the daemon's own
// stdout, and masked in every log line and event. The returned func
// shuts both down.
func serveAPI(ctx context.Context, g *globals, pp *lifecycle.Manager, addr string, log *slog.Logger, events *dashboard.Events, keeper dashboard.Keeper, opts ...dashboard.Option) (func(), error) {
	var servers []*http.Server
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for _, srv := range servers {
			srv.Shutdown(sctx)
		}
	}
	sock, closeSock, err := dashboard.ListenSocket(pp.Playpen)
	if err != nil {
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	local := &http.Server{Handler: dashboard.NewLocal(pp, events, opts...), ReadHeaderTimeout: 10 * time.Second}
	servers = append(servers, local)
	go local.Serve(dashboard.Multiplex(sock, keeper)) // and the sockets of §4.11
	log.Info("api", "socket", dashboard.SocketFile(pp.Playpen))
	done := func() { stop(); closeSock() }
	if addr == "" {
		return done, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		done()
		return nil, fmt.Errorf("--http %s: %w (pass --http '' for no dashboard)", addr, err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("the dashboard listens beyond loopback: anyone who can reach it can try the token", "addr", ln.Addr().String())
	}
	tok, err := dashboard.NewToken(pp.Playpen)
	if err != nil {
		ln.Close()
		done()
		return nil, fmt.Errorf("daemon token: %w", err)
	}
	events.Redact(tok)
	srv := &http.Server{Handler: dashboard.New(pp, tok, events, opts...), ReadHeaderTimeout: 10 * time.Second}
	servers = append(servers, srv)
	go srv.Serve(ln)
	fmt.Fprintf(g.rawStdout, "dashboard: http://%s/?token=%s\n", ln.Addr().String(), tok)
	log.Info("dashboard", "addr", ln.Addr().String(), "token_file", dashboard.TokenFile(pp.Playpen))
	return done, nil
}
