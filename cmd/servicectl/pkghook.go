package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc/pkghook"
)

// packageHookOptions are what `package-hook` is asked: whose arguments
// they are, what the engine may do, and the script's own arguments.
type packageHookOptions struct {
	manager string
	engine  pkghook.Options
	dash    int // where -- was among args (cobra's ArgsLenAtDash)
	args    []string
}

func newPackageHookCmd(g *globals) *cobra.Command {
	var o packageHookOptions
	c := &cobra.Command{
		Use:   "package-hook SCRIPT PACKAGE VERSION -- ARGS...",
		Short: "Called from a package's maintainer scripts (dpkg, rpm, pacman) with the arguments they get",
		Long: `Called from a package's maintainer scripts, one line per script:

  exec servicectl --root /srv/playpen package-hook postinst hello 1.1.0 -- "$@"

SCRIPT is the script's name (dpkg: preinst postinst prerm postrm; rpm:
pre post preun postun; pacman: pre_install ... post_remove), PACKAGE and
VERSION the package the script belongs to, ARGS what the package manager
passed it. servicectl keeps ext/etc/installed-packages in step, validates
a new version before anything restarts, registers, starts and restarts per
policy, stops and unregisters on removal (README "Packaging services").`,
		RunE: func(c *cobra.Command, args []string) error {
			o.dash, o.args = c.ArgsLenAtDash(), args
			return runPackageHook(c.Context(), o, g)
		},
	}
	c.Flags().StringVar(&o.manager, "manager", "dpkg", "whose arguments these are: "+strings.Join(pkghook.Managers, ", "))
	c.Flags().BoolVar(&o.engine.Start, "start", false, "start the package's services after a fresh install (an upgrade restarts per policy either way)")
	c.Flags().IntVarP(&o.engine.Jobs, "jobs", "j", 8, "services acted on in parallel")
	c.Flags().BoolVar(&o.engine.AllowDowngrade, "allow-downgrade", false, "let the package manager install an older version than the installed one")
	return c
}

// runPackageHook maps a maintainer script's call onto the engine
// (pkgsvc/pkghook) and says what it did; without a playpen, a call that
// needs none does nothing.
func runPackageHook(ctx context.Context, o packageHookOptions, g *globals) error {
	if o.dash != 3 {
		return usageError{errors.New("package-hook needs SCRIPT PACKAGE VERSION -- ARGS... (the package manager's arguments after --)")}
	}
	script, pkg, version := o.args[0], o.args[1], o.args[2]
	if !slices.Contains(pkghook.Managers, o.manager) {
		return usageError{fmt.Errorf("--manager %q: known are %s", o.manager, strings.Join(pkghook.Managers, ", "))}
	}
	call, err := pkghook.Parse(o.manager, script, version, o.args[3:])
	if err != nil {
		return err
	}
	if err := pkghook.CheckPackage(pkg, version); err != nil {
		return err
	}
	pp, err := g.playpen()
	if err != nil {
		if call.NeedsPlaypen() {
			return err
		}
		if !g.quiet {
			fmt.Fprintf(g.stderr, "servicectl: %s %s (%s %s): no playpen (%v); nothing to do\n", pkg, version, script, strings.TrimSpace(strings.Join(o.args[3:], " ")), err)
		}
		return nil
	}
	r, err := pkghook.Run(ctx, pp, call, pkg, version, o.engine)
	if r != nil && r.Did != "" && err == nil && !g.quiet {
		fmt.Fprintf(g.stderr, "servicectl: %s %s (%s %s): %s\n", pkg, version, script, strings.TrimSpace(strings.Join(o.args[3:], " ")), r.Did)
	}
	return err
}
