//go:build gendocs

package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages come from the command tree itself (cobra's doc
// generator), built only with -tags gendocs (`make install`, `make
// man`), so the servicectl binary carries none of it:
//
//	go run -tags gendocs ./cmd/servicectl __gendocs DIR
func init() {
	extraCommands = append(extraCommands, func(g *globals) *cobra.Command {
		return &cobra.Command{
			Use:    "__gendocs DIR",
			Hidden: true,
			Args:   cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				if err := os.MkdirAll(args[0], 0o755); err != nil {
					return err
				}
				root := c.Root()
				root.DisableAutoGenTag = true
				hdr := &doc.GenManHeader{Title: "SERVICECTL", Section: "1", Source: "servicectl " + version, Manual: "servicectl manual"}
				if err := doc.GenManTree(root, hdr, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "man pages written to %s\n", args[0])
				return nil
			},
		}
	})
}
