package main

import (
	"context"
	"fmt"
	"path/filepath"
	"servicectl/pkgsvc/install"

	"github.com/spf13/cobra"
)

// initOptions are what `init` is asked: its flags and arguments.
type initOptions struct {
	name string
	args []string
}

func newInitCmd(g *globals) *cobra.Command {
	var o initOptions
	c := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Make a playpen skeleton",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runInit(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.name, "name", "", "project name (default: the directory's name)")
	return c
}

// runInit makes a playpen skeleton and says what to do next.
func runInit(ctx context.Context, o initOptions, g *globals) error {
	dir := "."
	if len(o.args) == 1 {
		dir = o.args[0]
	}
	if err := install.Init(dir, o.name); err != nil {
		return err
	}
	abs, _ := filepath.Abs(dir)
	if o.name == "" {
		o.name = filepath.Base(abs)
	}
	if !g.quiet {
		// Messages go to stderr (§11); stdout is for --json.
		fmt.Fprintf(g.stderr, "servicectl: made a playpen in %s.\nNext: install packages under ext/ (README: \"Write your first package\"), or add a project\nservice to etc/project-services with a services/NAME/config; then `cd %s && servicectl list --all`.\n", abs, abs)
	}
	if g.json {
		return g.printJSON(map[string]string{"playpen": abs, "project_name": o.name})
	}
	return nil
}
