package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/dashboard"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// globals are the root flags (SPEC §11), one value per invocation.
type globals struct {
	root      string
	json      bool
	quiet     bool
	verbose   bool
	cmdPath   string    // the command being run, for hints
	stdout    io.Writer // buffered
	rawStdout io.Writer // for output that must appear as it comes (logs -f)
	stderr    io.Writer
	mu        sync.Mutex // serialises progress lines from parallel work
	pp        *lifecycle.Manager
}

// usageError marks a command-line mistake: exit 2.
type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) int {
	// One write per 64 KiB, not per table cell or JSON element (show
	// --json of a thousand services is 3 MB); flushed before exiting.
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	g := &globals{stdout: out, rawStdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signalContext()
	defer stop()
	err := root.ExecuteContext(ctx)
	out.Flush()
	if err == nil {
		return 0
	}
	return g.report(err)
}

// report prints err as `servicectl: SERVICE: message` and returns its exit
// code. A multiErr was already printed line by line.
func (g *globals) report(err error) int {
	var me *multiErr
	if errors.As(err, &me) {
		return me.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(g.stderr, "servicectl: %v\n", ue.error)
		return exitUsage
	}
	var se silentExit
	if errors.As(err, &se) {
		return int(se)
	}
	fmt.Fprintf(g.stderr, "servicectl: %v\n", downgradeHint(g.cmdPath, err))
	return exitCode(err)
}

// downgradeHint says, for a refused downgrade, what the user of this
// command can do: only the upgrade commands and package-hook have
// --allow-downgrade.
func downgradeHint(cmdPath string, err error) error {
	switch {
	case strings.HasPrefix(cmdPath, "servicectl upgrade"):
		return upgrade.WithHint(err, "pass --allow-downgrade if you mean it")
	case strings.HasPrefix(cmdPath, "servicectl package-hook"):
		return upgrade.WithHint(err, "the package manager is installing an older version: add --allow-downgrade to the `servicectl package-hook` line of the package's maintainer scripts to allow it (README \"Packaging services\")")
	}
	return err
}

// silentExit is an exit code whose message was already printed.
type silentExit int

func (e silentExit) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// multiErr is the folded result of a multi-service operation.
type multiErr struct{ code int }

func (e *multiErr) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "servicectl",
		Short:         "Package-aware service manager for playpens",
		Long:          "servicectl starts, stops, supervises and upgrades the services of a playpen: a project tree whose packages live under ext/.",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetVersionTemplate("servicectl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", "", "playpen root (default: $PLAYPEN_ROOT, else the nearest ancestor with etc/project-name)")
	pf.BoolVar(&g.json, "json", false, "print JSON on stdout")
	pf.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "more detail")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newInitCmd(g), newNewServiceCmd(g), newListCmd(g), newShowCmd(g), newEnvCmd(g),
		newStartCmd(g), newStopCmd(g), newRestartCmd(g), newReloadCmd(g), newStatusCmd(g),
		newPingCmd(g), newTestCmd(g), newLogsCmd(g), newUpgradeCmd(g), newWhyCmd(g), newDaemonCmd(g),
		newRunCmd(g), newHookCmd(g), newExportCmd(g), newPackageHookCmd(g),
	)
	for _, c := range root.Commands() {
		c.Flags().SetInterspersed(true)
	}
	for _, mk := range extraCommands {
		root.AddCommand(mk(g))
	}
	usageErrors(root)
	root.PersistentPreRunE = g.checkCounts
	return root
}

// extraCommands are added by files built with tags (gendocs.go).
var extraCommands []func(*globals) *cobra.Command

// usageErrors makes every command-line mistake cobra finds exit 2 (§11):
// a wrong number of arguments, and an unknown command (cobra would print
// the parent's help and exit 0, or exit 1).
func usageErrors(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageError{fmt.Errorf("%s: %w (see `%s --help`)", c.CommandPath(), err, c.CommandPath())}
			}
			return nil
		}
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, a []string) error {
			if len(a) == 0 {
				return c.Help()
			}
			hint := ""
			if s := c.SuggestionsFor(a[0]); len(s) > 0 {
				hint = "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageError{fmt.Errorf("unknown command %q for %q%s (see `%s --help`)", a[0], c.CommandPath(), hint, c.CommandPath())}
		}
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}

// checkCounts refuses counts that mean nothing, naming the flag (exit 2):
// --jobs below 1, --lines below 0.
func (g *globals) checkCounts(c *cobra.Command, _ []string) error {
	g.cmdPath = c.CommandPath()
	if f := c.Flags().Lookup("jobs"); f != nil {
		if v, err := strconv.Atoi(f.Value.String()); err == nil && v < 1 {
			return usageError{fmt.Errorf("--jobs %d: must be 1 or more (services acted on in parallel)", v)}
		}
	}
	if f := c.Flags().Lookup("lines"); f != nil {
		if v, err := strconv.Atoi(f.Value.String()); err == nil && v < 0 {
			return usageError{fmt.Errorf("--lines %d: must be 0 (all) or more", v)}
		}
	}
	return nil
}

// playpen opens the playpen once per invocation.
func (g *globals) playpen() (*lifecycle.Manager, error) {
	if g.pp != nil {
		return g.pp, nil
	}
	cwd, _ := os.Getwd()
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: g.root, Env: os.Environ(), Cwd: cwd})
	if err != nil {
		return nil, err
	}
	pp := lifecycle.New(p)
	pp.Warn = func(service, msg string) {
		if g.quiet {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		fmt.Fprintf(g.stderr, "servicectl: %s: warning: %s\n", service, msg)
	}
	if g.stderr != io.Writer(os.Stderr) {
		// Configs evaluated in parallel write here too: one at a time.
		pp.Stderr = lockedWriter{&g.mu, g.stderr}
	}
	pp.Log = func(service, msg string) {
		if g.quiet {
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		fmt.Fprintf(g.stderr, "servicectl: %s: %s\n", service, msg)
	}
	// Sockets of service_sockets come from the daemon when it holds them
	// (§4.11); `servicectl daemon` replaces this with its own holder.
	pp.Sockets = dashboard.SocketClient(pp.Playpen)
	g.pp = pp
	return pp, nil
}

// selection is the services a command acts on: its arguments, else the
// role's default set (SPEC §4.1).
func (g *globals) selection(args []string) (*lifecycle.Manager, []string, error) {
	pp, err := g.playpen()
	if err != nil {
		return nil, nil, err
	}
	if len(args) > 0 {
		for _, a := range args {
			if _, _, err := pkgsvc.SplitInstance(a); err != nil {
				return nil, nil, err
			}
		}
		return pp, args, nil
	}
	names, err := pp.DefaultSet()
	return pp, names, err
}

// fold prints each failure and returns the exit code for the lot.
func (g *globals) fold(rs []lifecycle.Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(g.stderr, "servicectl: %v\n", r.Err)
			errs = append(errs, r.Err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &multiErr{code: worstExit(errs)}
}

func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONList prints items as printJSON would, byte for byte, but
// encodes the elements on every core: indenting a thousand service
// definitions costs more than resolving them.
func printJSONList[T any](g *globals, items []T) error {
	if len(items) < 64 {
		return g.printJSON(items)
	}
	parts := make([][]byte, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(items); i += workers {
				parts[i], errs[i] = json.MarshalIndent(items[i], "  ", "  ")
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	io.WriteString(g.stdout, "[\n  ")
	for i, b := range parts {
		if i > 0 {
			io.WriteString(g.stdout, ",\n  ")
		}
		g.stdout.Write(b)
	}
	_, err := io.WriteString(g.stdout, "\n]\n")
	return err
}

// lockedWriter serialises writes from goroutines that share a writer.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (g *globals) stderrf(format string, a ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fmt.Fprintf(g.stderr, format, a...)
}

// flush writes out what is buffered for stdout (before an exec).
func (g *globals) flush() {
	if f, ok := g.stdout.(interface{ Flush() error }); ok {
		f.Flush()
	}
}
