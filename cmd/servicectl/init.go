package main

import (
	"fmt"
	"path/filepath"
	"servicectl/pkgsvc/install"

	"github.com/spf13/cobra"
)

func newInit(g *globals) *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Make a playpen skeleton",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if err := install.Init(dir, name); err != nil {
				return err
			}
			abs, _ := filepath.Abs(dir)
			if name == "" {
				name = filepath.Base(abs)
			}
			if !g.quiet {
				// Messages go to stderr (§11); stdout is for --json.
				fmt.Fprintf(g.stderr, "servicectl: made a playpen in %s.\nNext: install packages under ext/ (README: \"Write your first package\"), or add a project\nservice to etc/project-services with a services/NAME/config; then `cd %s && servicectl list --all`.\n", abs, abs)
			}
			if g.json {
				return g.printJSON(map[string]string{"playpen": abs, "project_name": name})
			}
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "project name (default: the directory's name)")
	return c
}
