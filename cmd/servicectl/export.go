package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc/export"
	"servicectl/pkgsvc/lifecycle"
)

func newExport(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "export",
		Short: "Hand the services to another engine (SPEC §10.2)",
	}
	var out string
	var user bool
	sd := &cobra.Command{
		Use:   "systemd [SERVICE...]",
		Short: "Write a systemd unit per service (NAME@.service for templates) running it through `servicectl run`",
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, self, err := exportInputs(g, args)
			if err != nil {
				return err
			}
			files, warnings, err := export.Systemd(pp.Playpen, names, export.Options{Servicectl: self, User: user})
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintf(g.stderr, "servicectl: warning: %s\n", w)
			}
			if out == "" {
				for _, f := range files {
					fmt.Fprintf(g.stdout, "# file: %s\n%s\n", f.Name, f.Content)
				}
				return nil
			}
			if err := outDir(out); err != nil {
				return err
			}
			if err := export.Write(out, files, func(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }); err != nil {
				return err
			}
			if !g.quiet {
				globs := filepath.Clean(out) + "/*.service"
				for _, f := range files {
					if strings.HasSuffix(f.Name, ".socket") {
						globs += " " + filepath.Clean(out) + "/*.socket"
						break
					}
				}
				fmt.Fprintf(g.stderr, "servicectl: wrote %d units to %s; install them with: cp %s /etc/systemd/system/ && systemctl daemon-reload\n", len(files), out, globs)
			}
			return nil
		},
	}
	sd.Flags().StringVar(&out, "out", "", outHelp)
	sd.Flags().BoolVar(&user, "user", false, "units for a systemd --user manager")
	var supOut string
	sv := &cobra.Command{
		Use:   "supervisord [SERVICE...]",
		Short: "Write [program:x] sections for supervisord running each service through `servicectl run`",
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, self, err := exportInputs(g, args)
			if err != nil {
				return err
			}
			f, warnings, err := export.Supervisord(pp.Playpen, names, export.Options{Servicectl: self})
			if err != nil {
				return err
			}
			return writeExport(g, f, warnings, supOut, "include it from supervisord.conf: [include] files =")
		},
	}
	sv.Flags().StringVar(&supOut, "out", "", outHelp)
	var nomadOut string
	nm := &cobra.Command{
		Use:   "nomad [SERVICE...]",
		Short: "Write a Nomad job (JSON) with a group per service running `servicectl run` (raw_exec)",
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, self, err := exportInputs(g, args)
			if err != nil {
				return err
			}
			f, warnings, err := export.Nomad(pp.Playpen, names, export.Options{Servicectl: self})
			if err != nil {
				return err
			}
			return writeExport(g, f, warnings, nomadOut, "run it with: nomad job run -json")
		},
	}
	nm.Flags().StringVar(&nomadOut, "out", "", outHelp)
	c.AddCommand(sd, sv, nm)
	return c
}

// exportInputs is what every export starts from: the playpen, the
// services named (default: all) and the servicectl binary the engine is
// to run.
func exportInputs(g *globals, args []string) (*lifecycle.Manager, []string, string, error) {
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
	return pp, names, self, err
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
