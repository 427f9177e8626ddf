package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"servicectl/pkgsvc/pkghook"
)

func newPackageHook(g *globals) *cobra.Command {
	var o pkghook.Options
	var manager string
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
			dash := c.ArgsLenAtDash()
			if dash != 3 {
				return usageError{errors.New("package-hook needs SCRIPT PACKAGE VERSION -- ARGS... (the package manager's arguments after --)")}
			}
			script, pkg, version := args[0], args[1], args[2]
			if !slices.Contains(pkghook.Managers, manager) {
				return usageError{fmt.Errorf("--manager %q: known are %s", manager, strings.Join(pkghook.Managers, ", "))}
			}
			call, err := pkghook.Parse(manager, script, version, args[3:])
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
					fmt.Fprintf(g.stderr, "servicectl: %s %s (%s %s): no playpen (%v); nothing to do\n", pkg, version, script, strings.TrimSpace(strings.Join(args[3:], " ")), err)
				}
				return nil
			}
			ctx := c.Context()
			r, err := pkghook.Run(ctx, pp, call, pkg, version, o)
			if r != nil && r.Did != "" && err == nil && !g.quiet {
				fmt.Fprintf(g.stderr, "servicectl: %s %s (%s %s): %s\n", pkg, version, script, strings.TrimSpace(strings.Join(args[3:], " ")), r.Did)
			}
			return err
		},
	}
	c.Flags().StringVar(&manager, "manager", "dpkg", "whose arguments these are: "+strings.Join(pkghook.Managers, ", "))
	c.Flags().BoolVar(&o.Start, "start", false, "start the package's services after a fresh install (an upgrade restarts per policy either way)")
	c.Flags().IntVarP(&o.Jobs, "jobs", "j", 8, "services acted on in parallel")
	c.Flags().BoolVar(&o.AllowDowngrade, "allow-downgrade", false, "let the package manager install an older version than the installed one")
	return c
}
