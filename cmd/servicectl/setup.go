package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
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
			if err := pkgsvc.Init(dir, name); err != nil {
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

func newNewService(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "new-service SERVICE...",
		Short:             "Register an installed package's service (run by package managers)",
		ValidArgsFunction: g.completeUnregistered,
		Args:              cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			for _, a := range args {
				reg, err := pp.NewService(a)
				rs = append(rs, pkgsvc.Result{Service: a, Err: err})
				if err == nil && !g.quiet {
					fmt.Fprintf(g.stderr, "servicectl: %s: registered from %s %s\n", a, reg.Package, reg.Version)
				}
			}
			return g.fold(rs)
		},
	}
}

func newList(g *globals) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the role's services (--all: every service)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) (rerr error) {
			pp, err := g.playpen()
			if err != nil {
				return err
			}
			es, err := pp.List(all)
			if err != nil {
				return err
			}
			if all {
				if un, _ := pp.Unregistered(); len(un) > 0 {
					var names []string
					for _, r := range un {
						fmt.Fprintf(g.stderr, "servicectl: %s: provided by installed package %s %s but not registered, so it cannot start\n", r.Service, r.Package, r.Version)
						names = append(names, r.Service)
					}
					fmt.Fprintf(g.stderr, "servicectl: register with: servicectl new-service %s\n", strings.Join(names, " "))
				}
			}
			problems := pp.PackageProblems()
			for _, e := range problems {
				fmt.Fprintf(g.stderr, "servicectl: warning: %v\n", e)
			}
			defer func() {
				if _, err := pp.InstalledPackages(); err != nil && rerr == nil {
					rerr = silentExit(exitConfig) // said above: the list is not the whole truth
				}
			}()
			if g.json {
				return g.printJSON(es)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tPACKAGE\tVERSION\tKIND\tTEMPLATE")
			for _, e := range es {
				pkg, ver := e.Package, e.Version
				if pkg == "" {
					pkg, ver = "-", "-"
				}
				tmpl := "no"
				if e.Template {
					tmpl = "yes"
				}
				if e.Error != "" {
					tmpl = "error: " + e.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Service, pkg, ver, e.Kind, tmpl)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&all, "all", false, "every installed and project service, not only the role's")
	return c
}

func newShow(g *globals) *cobra.Command {
	var commands bool
	c := &cobra.Command{
		Use:               "show SERVICE...",
		Short:             "Show a service's resolved definition",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			if commands {
				return showCommands(g, pp, names)
			}
			var defs []*pkgsvc.Service
			var rs []pkgsvc.Result
			all, errs := pp.ResolveAll(names)
			for i, n := range names {
				rs = append(rs, pkgsvc.Result{Service: n, Err: errs[i]})
				if errs[i] == nil {
					defs = append(defs, all[i])
				}
			}
			if g.json {
				if defs == nil {
					defs = []*pkgsvc.Service{}
				}
				if len(args) == 1 && len(defs) == 1 {
					if err := g.printJSON(defs[0]); err != nil {
						return err
					}
				} else if err := printJSONList(g, defs); err != nil {
					return err
				}
			} else {
				for i, s := range defs {
					if i > 0 {
						fmt.Fprintln(g.stdout)
					}
					printShow(g, pp, s)
				}
			}
			return g.fold(rs)
		},
	}
	c.Flags().BoolVar(&commands, "commands", false, "list the commands each config would run, without running it")
	return c
}

// showCommands prints what `show --commands` promises: the commands the
// configuration of each service may run, read without evaluating it.
func showCommands(g *globals, pp *pkgsvc.Playpen, names []string) error {
	type entry = pkgsvc.ServiceCommandsReport
	var rs []pkgsvc.Result
	list := []entry{}
	for _, n := range names {
		cmds, err := pp.ServiceCommands(n)
		rs = append(rs, pkgsvc.Result{Service: n, Err: err})
		if err != nil {
			continue
		}
		list = append(list, entry{Service: n, Commands: cmds})
	}
	if g.json {
		if err := g.printJSON(list); err != nil {
			return err
		}
		return g.fold(rs)
	}
	for _, e := range list {
		fmt.Fprintf(g.stdout, "%s:\n", e.Service)
		if len(e.Commands) == 0 {
			fmt.Fprintln(g.stdout, "  (nothing: evaluating its configuration runs no command, sends no signal and writes no file)")
		}
		for _, c := range e.Commands {
			var what string
			switch c.Kind {
			case "dynamic":
				what = c.Word + "   (a command named only when it runs)"
			case "source":
				what = c.Name + " " + c.Word + "   (reads another file)"
			case "builtin":
				what = strings.TrimSpace(c.Name+" "+c.Word) + "   (a builtin with an effect outside servicectl)"
			case "write":
				what = c.Name + " " + c.Word + "   (writes a file)"
			default:
				what = c.Name
			}
			fmt.Fprintf(g.stdout, "  %s:%d: %s\n", pp.Rel(c.File), c.Line, what)
		}
	}
	return g.fold(rs)
}

func printShow(g *globals, pp *pkgsvc.Playpen, s *pkgsvc.Service) {
	w := g.stdout
	kind := "package " + s.Package + " " + s.Version
	if s.Project {
		kind = "project service"
	}
	fmt.Fprintf(w, "service:    %s (%s)\n", s.Name, kind)
	if s.Template {
		fmt.Fprintf(w, "template:   yes (start instances: %s@NAME)\n", s.Base)
	}
	prog := s.Program
	if s.ProgramErr != "" {
		prog += "  [" + s.ProgramErr + "]"
	}
	fmt.Fprintf(w, "program:    %s\n", prog)
	argv0 := s.LinkPath
	if argv0 == "" {
		argv0 = s.Program
	}
	fmt.Fprintf(w, "argv:       %s\n", quoteArgs(append([]string{argv0}, s.Flags...)))
	fmt.Fprintf(w, "run name:   %s\n", s.RunName)
	fmt.Fprintf(w, "workdir:    %s\n", s.Workdir)
	fmt.Fprintf(w, "pidfile:    %s\n", s.Pidfile(pp))
	fmt.Fprintf(w, "output:     %s\n", s.OutputFile(pp))
	fmt.Fprintf(w, "configs:    %s\n", strings.Join(s.ConfigFiles, "\n            "))
	if len(s.Depends) > 0 {
		fmt.Fprintf(w, "depends:    %s\n", strings.Join(s.Depends, " "))
	}
	for i, sk := range s.Sockets {
		label := "sockets:   "
		if i > 0 {
			label = "           "
		}
		fmt.Fprintf(w, "%s fd %d: %s (%s, LISTEN_FDNAMES %s)\n", label, 3+i, sk, sk.Entry, sk.FDName())
	}
	fmt.Fprintf(w, "stop:       SIG%s, SIGKILL after %gs\n", s.StopSigName, s.StopTimeout)
	fmt.Fprintf(w, "start secs: %g\n", s.StartSecs)
	for _, step := range append(append([]string{}, pkgsvc.HookSteps...), pkgsvc.ReplacementCmds...) {
		h, ok := s.Hooks[step]
		if !ok {
			continue
		}
		var parts []string
		if h.Code != "" {
			parts = append(parts, "service_"+strings.ReplaceAll(step, "-", "_"))
		}
		if h.File != "" {
			parts = append(parts, h.File)
		}
		fmt.Fprintf(w, "hook %-10s %s\n", step+":", strings.Join(parts, ", then "))
	}
	pol := s.Policies
	fmt.Fprintf(w, "policies:   stop_on_upgrade=%d stop_on_dep_upgrade=%d restart_on_dep_upgrade=%d stop_on_filedep=%d restart_on_crash=%d\n",
		b2i(pol.StopOnUpgrade), b2i(pol.StopOnDepUpgrade), b2i(pol.RestartOnDepUpgrade), b2i(pol.StopOnFiledep), b2i(pol.RestartOnCrash))
	if len(pol.Filedeps) > 0 {
		fmt.Fprintf(w, "filedeps:   %s\n", strings.Join(pol.Filedeps, " "))
	}
	for _, pr := range s.Typed.Problems {
		fmt.Fprintf(w, "env error:  %s\n", pr.Error())
	}
	fmt.Fprintln(w, "environment:")
	for _, kv := range s.ShownEnv() {
		fmt.Fprintf(w, "  %s\n", kv)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// quoteArgs shows an argv as a reader would type it.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}

func newEnv(g *globals) *cobra.Command {
	var script, check bool
	c := &cobra.Command{
		Use:               "env [SERVICE...]",
		Short:             "Report the typed environment variables services need",
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			pp, names, err := g.selection(args)
			if err != nil {
				return err
			}
			es, err := pp.EnvReport(names)
			if err != nil {
				return err
			}
			var rs []pkgsvc.Result
			bad := false
			var resolved []pkgsvc.EnvEntry
			for _, e := range es {
				rs = append(rs, pkgsvc.Result{Service: e.Service, Err: e.Err})
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
			case script:
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
			if check && bad {
				return silentExit(exitConfig)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&script, "script", false, "print sh lines V=${V=\"default\"} for missing variables with a default")
	c.Flags().BoolVar(&check, "check", false, "validate types, constraints and port clashes; exit 6 on any error")
	return c
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
