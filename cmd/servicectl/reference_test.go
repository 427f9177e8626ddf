package main

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestReferenceNamesEverything (issue 28): docs/REFERENCE.md, the
// repository's own manual, names every command and every flag of the
// command tree; a new one must be documented there.
func TestReferenceNamesEverything(t *testing.T) {
	data, err := os.ReadFile("../../docs/REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := string(data)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if c.HasParent() {
			path := strings.TrimPrefix(c.CommandPath(), "servicectl ")
			if c.Parent().Name() == "completion" {
				path = c.Name()
			}
			if !strings.Contains(ref, path) {
				t.Errorf("docs/REFERENCE.md does not name the command %q", path)
			}
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(ref, "--"+f.Name) {
				t.Errorf("docs/REFERENCE.md does not name %s's flag --%s", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&globals{}))
}
