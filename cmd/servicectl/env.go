package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// envOptions are what `env` is asked: its flags and arguments.
type envOptions struct {
	script bool
	check  bool
	args   []string
}

func newEnvCmd(g *globals) *cobra.Command {
	var o envOptions
	c := &cobra.Command{
		Use:               "env [SERVICE...]",
		Short:             "Report the typed environment variables services need",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runEnv(c.Context(), o, g)
		},
	}
	c.Flags().BoolVar(&o.script, "script", false, "print sh lines V=${V=\"default\"} for missing variables with a default")
	c.Flags().BoolVar(&o.check, "check", false, "validate types, constraints and port clashes; exit 6 on any error")
	return c
}

// runEnv reports the typed environment the selection needs (§6).
func runEnv(ctx context.Context, o envOptions, g *globals) error {
	pp, names, err := g.selection(o.args)
	if err != nil {
		return err
	}
	es, err := pp.EnvReport(names)
	if err != nil {
		return err
	}
	var rs []lifecycle.Result
	bad := false
	var resolved []pkgsvc.EnvEntry
	for _, e := range es {
		rs = append(rs, lifecycle.Result{Service: e.Service, Err: e.Err})
		if e.Err == nil {
			resolved = append(resolved, e)
			if len(e.Missing) > 0 || len(e.Errors) > 0 {
				bad = true
			}
		}
	}
	if resolved == nil {
		resolved = []pkgsvc.EnvEntry{}
	}
	switch {
	case g.json:
		if err := g.printJSON(resolved); err != nil {
			return err
		}
	case o.script:
		seen := map[string]bool{}
		for _, e := range resolved {
			for _, m := range e.Missing {
				if m.HasDefault && !seen[m.Name] {
					seen[m.Name] = true
					if m.Secret {
						// A secret's default is never printed (§6.1).
						fmt.Fprintf(g.stdout, "# %s is secret: set it yourself in etc/project.conf.local (its default is not printed)\n", m.Name)
						continue
					}
					fmt.Fprintf(g.stdout, "%s=${%s=%s}\n", m.Name, m.Name, shellDQ(m.Default))
				}
			}
		}
	default:
		printEnv(g, resolved)
	}
	if err := g.fold(rs); err != nil {
		return err
	}
	if o.check && bad {
		return silentExit(exitConfig)
	}
	return nil
}

// shellDQ quotes s in double quotes for sh, escaping what is special there.
func shellDQ(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(s) + `"`
}

func printEnv(g *globals, es []pkgsvc.EnvEntry) {
	w := g.stdout
	for _, e := range es {
		if len(e.Missing) == 0 && len(e.Errors) == 0 && (!g.verbose || len(e.Specs) == 0) {
			continue
		}
		fmt.Fprintf(w, "%s:\n", e.Service)
		for _, m := range e.Missing {
			if g.verbose {
				break // each variable is listed once, below, marked MISSING
			}
			fmt.Fprintf(w, "  missing %s", m.Name)
			if g.verbose {
				fmt.Fprintf(w, " (%s)", m.Type)
				if m.Description != "" {
					fmt.Fprintf(w, ": %s", m.Description)
				}
				if m.HasDefault && !m.Secret {
					fmt.Fprintf(w, " [suggested: %s]", m.Default)
				}
			}
			fmt.Fprintln(w)
		}
		for _, p := range e.Errors {
			fmt.Fprintf(w, "  error   %s=%q: %s\n", p.Name, p.Value, p.Rule)
		}
		if g.verbose {
			for _, sp := range e.Specs {
				req := "optional"
				if sp.Required {
					req = "required"
				}
				val := "(unset)"
				for _, m := range e.Missing {
					if m.Name == sp.Name {
						val = "MISSING"
						if m.Secret {
							val += " (secret: set it in etc/project.conf.local)"
						} else if m.HasDefault {
							val += fmt.Sprintf(" [suggested: %s; `servicectl env --script` prints it]", m.Default)
						}
					}
				}
				for _, v := range e.Values {
					if v.Name == sp.Name {
						val = fmt.Sprintf("%s (from %s)", v.Value, v.Source)
					}
				}
				fmt.Fprintf(w, "  %-8s %s %s = %s", req, sp.Type, sp.Name, val)
				if sp.RawConstr != "" {
					fmt.Fprintf(w, " constraints: %s", sp.RawConstr)
				}
				if sp.Description != "" {
					fmt.Fprintf(w, " — %s", sp.Description)
				}
				fmt.Fprintln(w)
			}
		}
	}
}
