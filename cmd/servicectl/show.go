package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// showOptions are what `show` is asked: its flags and arguments.
type showOptions struct {
	commands bool
	args     []string
}

func newShowCmd(g *globals) *cobra.Command {
	var o showOptions
	c := &cobra.Command{
		Use:               "show SERVICE...",
		Short:             "Show a service's resolved definition",
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: g.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runShow(c.Context(), o, g)
		},
	}
	c.Flags().BoolVar(&o.commands, "commands", false, "list the commands each config would run, without running it")
	return c
}

// runShow prints the resolved definitions of the selection.
func runShow(ctx context.Context, o showOptions, g *globals) error {
	pp, names, err := g.selection(o.args)
	if err != nil {
		return err
	}
	if o.commands {
		return showCommands(g, pp, names)
	}
	var defs []*pkgsvc.Service
	var rs []lifecycle.Result
	all, errs := pp.ResolveAll(names)
	for i, n := range names {
		rs = append(rs, lifecycle.Result{Service: n, Err: errs[i]})
		if errs[i] == nil {
			defs = append(defs, all[i])
		}
	}
	if g.json {
		if defs == nil {
			defs = []*pkgsvc.Service{}
		}
		if len(o.args) == 1 && len(defs) == 1 {
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
}

// showCommands prints what `show --commands` promises: the commands the
// configuration of each service may run, read without evaluating it.
func showCommands(g *globals, pp *lifecycle.Manager, names []string) error {
	type entry = pkgsvc.ServiceCommandsReport
	var rs []lifecycle.Result
	list := []entry{}
	for _, n := range names {
		cmds, err := pp.ServiceCommands(n)
		rs = append(rs, lifecycle.Result{Service: n, Err: err})
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

func printShow(g *globals, pp *lifecycle.Manager, s *pkgsvc.Service) {
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
	fmt.Fprintf(w, "pidfile:    %s\n", s.Pidfile(pp.Playpen))
	fmt.Fprintf(w, "output:     %s\n", s.OutputFile(pp.Playpen))
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
