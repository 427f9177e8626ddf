package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/export"
)

// newExportCmd is `export` and its engines (§10.2).
func newExportCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "export",
		Short: "Hand the services to another engine (SPEC §10.2)",
	}
	c.AddCommand(newExportSystemdCmd(g), newExportSupervisordCmd(g), newExportNomadCmd(g))
	return c
}

// exportOptions are what an export is asked: where to write, systemd's
// --user, and the services.
type exportOptions struct {
	out  string
	user bool
	args []string
}

func newExportSystemdCmd(g *globals) *cobra.Command {
	var o exportOptions
	c := &cobra.Command{
		Use:   "systemd [SERVICE...]",
		Short: "Write a systemd unit per service (NAME@.service for templates) running it through `servicectl run`",
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runExportSystemd(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.out, "out", "", outHelp)
	c.Flags().BoolVar(&o.user, "user", false, "units for a systemd --user manager")
	return c
}

// runExportSystemd writes (or prints) a unit per service, and says how to
// install them.
func runExportSystemd(ctx context.Context, o exportOptions, g *globals) error {
	pp, names, self, err := exportInputs(g, o.args)
	if err != nil {
		return err
	}
	files, warnings, err := export.Systemd(pp, names, export.Options{Servicectl: self, User: o.user})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(g.stderr, "servicectl: warning: %s\n", w)
	}
	if o.out == "" {
		for _, f := range files {
			fmt.Fprintf(g.stdout, "# file: %s\n%s\n", f.Name, f.Content)
		}
		return nil
	}
	if err := outDir(o.out); err != nil {
		return err
	}
	if err := export.Write(o.out, files, func(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }); err != nil {
		return err
	}
	if !g.quiet {
		globs := filepath.Clean(o.out) + "/*.service"
		for _, f := range files {
			if strings.HasSuffix(f.Name, ".socket") {
				globs += " " + filepath.Clean(o.out) + "/*.socket"
				break
			}
		}
		fmt.Fprintf(g.stderr, "servicectl: wrote %d units to %s; install them with: cp %s /etc/systemd/system/ && systemctl daemon-reload\n", len(files), o.out, globs)
	}
	return nil
}

func newExportSupervisordCmd(g *globals) *cobra.Command {
	var o exportOptions
	c := &cobra.Command{
		Use:   "supervisord [SERVICE...]",
		Short: "Write [program:x] sections for supervisord running each service through `servicectl run`",
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runExportSupervisord(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.out, "out", "", outHelp)
	return c
}

// runExportSupervisord writes (or prints) supervisord's program sections.
func runExportSupervisord(ctx context.Context, o exportOptions, g *globals) error {
	pp, names, self, err := exportInputs(g, o.args)
	if err != nil {
		return err
	}
	f, warnings, err := export.Supervisord(pp, names, export.Options{Servicectl: self})
	if err != nil {
		return err
	}
	return writeExport(g, f, warnings, o.out, "include it from supervisord.conf: [include] files =")
}

func newExportNomadCmd(g *globals) *cobra.Command {
	var o exportOptions
	c := &cobra.Command{
		Use:   "nomad [SERVICE...]",
		Short: "Write a Nomad job (JSON) with a group per service running `servicectl run` (raw_exec)",
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runExportNomad(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.out, "out", "", outHelp)
	return c
}

// runExportNomad writes (or prints) a Nomad job for the services.
func runExportNomad(ctx context.Context, o exportOptions, g *globals) error {
	pp, names, self, err := exportInputs(g, o.args)
	if err != nil {
		return err
	}
	f, warnings, err := export.Nomad(pp, names, export.Options{Servicectl: self})
	if err != nil {
		return err
	}
	return writeExport(g, f, warnings, o.out, "run it with: nomad job run -json")
}

// exportInputs is what every export starts from: the playpen, the
// services named (default: all) and the servicectl binary the engine is
// to run.
func exportInputs(g *globals, args []string) (*pkgsvc.Playpen, []string, string, error) {
	pp, err := g.playpen()
	if err != nil {
		return nil, nil, "", err
	}
	names := args
	if len(names) == 0 {
		if names, err = pp.AllServices(); err != nil {
			return nil, nil, "", err
		}
	}
	self, err := os.Executable()
	return pp.Playpen, names, self, err
}

// outHelp is the one rule of --out for every export.
const outHelp = "directory to write into, created if missing; each file keeps its own name (systemd: NAME.service, supervisord: servicectl.conf, nomad: servicectl-PROJECT.nomad.json). Default: print to stdout"

// outDir makes --out's directory, or says why it cannot be one.
func outDir(out string) error {
	if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
		return usageError{fmt.Errorf("--out %s is a file: --out takes a directory (created if missing), and the export writes its file(s) in it under their own names", out)}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", out, err)
	}
	return nil
}

// writeExport prints an exported file, or writes it into the directory
// out.
func writeExport(g *globals, f export.File, warnings []string, out, hint string) error {
	for _, w := range warnings {
		fmt.Fprintf(g.stderr, "servicectl: warning: %s\n", w)
	}
	if out == "" {
		fmt.Fprint(g.stdout, f.Content)
		return nil
	}
	if err := outDir(out); err != nil {
		return err
	}
	path := filepath.Join(out, f.Name)
	if err := os.WriteFile(path, []byte(f.Content), 0o644); err != nil {
		return err
	}
	if !g.quiet {
		fmt.Fprintf(g.stderr, "servicectl: wrote %s; %s %s\n", path, hint, path)
	}
	return nil
}
