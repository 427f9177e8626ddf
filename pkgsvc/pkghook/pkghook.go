// Package pkghook turns a package manager's maintainer-script calls into
// servicectl's upgrade steps (SPEC §1.6, §8.3), so a packager writes one
// line per script:
//
//	servicectl package-hook postinst hello 1.1.0 -- "$@"
//
// Each package manager calls its scripts at its own moments with its own
// arguments; Parse maps them onto a few steps (Step), Run carries a step
// out. One thing decides where the before-half of an upgrade goes: the new
// version can only be validated once its files exist, and none of dpkg,
// rpm or pacman calls a script between "the new files exist" and "the old
// ones are gone" except dpkg (the old postrm `upgrade`). So with dpkg the
// before-half (validate, journal, stop what stops before) runs there, and a
// failed validation makes dpkg unwind to the old version with every
// service still running it; rpm and pacman validate in their post
// scriptlet, and run the before-half and the after-half back to back.
package pkghook

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

// Step is what one maintainer-script call asks of servicectl.
type Step int

// The steps, in the order an upgrade meets them.
const (
	// Nothing: a call servicectl has no work for (dpkg's old prerm
	// during an upgrade, preinst of a fresh install…).
	Nothing Step = iota
	// Unpacked: the files of the new version (Call.Target) sit beside
	// the old ones: validate them, journal the plan and stop what stops
	// before (upgrade pre, merging a pending journal), then record the
	// new version in installed-packages.
	Unpacked
	// Configure: validate VERSION, do the before-half unless Unpacked did,
	// record it installed, then the after-half (register, start/restart
	// per policy; a fresh install starts only with --start).
	Configure
	// BeforeRemove: the before-half of removing the package.
	BeforeRemove
	// Removed: the files are gone: drop it from installed-packages, then
	// the after-half (stop and unregister its services).
	Removed
	// Purge: Removed, and its services' run-state files go too.
	Purge
	// Abort: a failed step of the package manager; services end on the
	// version installed-packages names (Call.Target, when set) and every
	// one that was running runs again.
	Abort
)

var stepNames = [...]string{"nothing", "unpacked", "configure", "before-remove", "removed", "purge", "abort"}

// String names the step in messages and tests.
func (s Step) String() string { return stepNames[s] }

// Call is one parsed maintainer-script call.
type Call struct {
	Step Step
	// Target is, for Unpacked, the new version; for Abort, the version
	// the package manager says is installed after the failure ("" to
	// leave installed-packages as it is).
	Target string
	// Fresh is a Configure of a package that was not installed before.
	Fresh bool
	// Check asks only that the playpen exist (dpkg's preinst of a fresh
	// install: fail before the files are unpacked into a non-playpen).
	Check bool
}

// NeedsPlaypen says whether the call fails without a playpen. Those that
// undo or remove do not: a package must stay removable after its playpen
// is gone, as Debian Policy asks of postrm.
func (c Call) NeedsPlaypen() bool {
	return c.Check || c.Step == Unpacked || c.Step == Configure
}

// Managers lists the package managers whose arguments Parse knows.
var Managers = []string{"dpkg", "rpm", "pacman"}

// Scripts lists, per manager, the script names Parse takes.
var Scripts = map[string][]string{
	"dpkg":   {"preinst", "postinst", "prerm", "postrm"},
	"rpm":    {"pre", "post", "preun", "postun"},
	"pacman": {"pre_install", "post_install", "pre_upgrade", "post_upgrade", "pre_remove", "post_remove"},
}

func usage(format string, args ...any) error {
	return &pkgsvc.Error{Kind: pkgsvc.KindUsage, Err: fmt.Errorf(format, args...)}
}

// Parse maps the arguments manager gives script (version is the version
// of the package the script belongs to) onto a Call. Anything it does not
// know is a usage error, before anything is touched.
func Parse(manager, script, version string, args []string) (Call, error) {
	switch manager {
	case "dpkg":
		return parseDpkg(script, version, args)
	case "rpm":
		return parseRPM(script, args)
	case "pacman":
		return parsePacman(script, args)
	}
	return Call{}, usage("unknown package manager %q (known: %s)", manager, strings.Join(Managers, ", "))
}

// parseDpkg follows Debian Policy §6.5 (the maintainer script arguments).
func parseDpkg(script, version string, args []string) (Call, error) {
	bad := func() (Call, error) {
		return Call{}, usage("dpkg %s %s: not an action dpkg gives %s (Debian Policy §6.5); nothing was done", script, strings.Join(args, " "), script)
	}
	if len(args) == 0 {
		return bad()
	}
	act, rest := args[0], args[1:]
	n := len(rest)
	switch script {
	case "preinst":
		switch {
		case act == "install" && n <= 2:
			// Fresh, or over a removed package's leftover conffiles.
			return Call{Step: Nothing, Check: true}, nil
		case act == "upgrade" && (n == 1 || n == 2):
			// The new files are not there yet: the old postrm does the
			// before-half once they are.
			return Call{Step: Nothing, Check: true}, nil
		case act == "abort-upgrade" && (n == 1 || n == 2):
			// The old preinst, unwinding a failed upgrade.
			return Call{Step: Abort}, nil
		}
	case "postinst":
		switch {
		case act == "configure" && n <= 1:
			return Call{Step: Configure, Fresh: n == 0 || rest[0] == ""}, nil
		case act == "triggered" && n == 1:
			return Call{Step: Nothing}, nil
		case act == "abort-upgrade" && (n == 1 || n == 2):
			// The old postinst: the upgrade to rest[0] failed and this
			// (old) version is installed again.
			return Call{Step: Abort, Target: version}, nil
		case act == "abort-remove" && (n == 0 || (n == 3 && rest[0] == "in-favour")):
			return Call{Step: Abort, Target: version}, nil
		case act == "abort-deconfigure" && n >= 3 && rest[0] == "in-favour":
			return Call{Step: Abort, Target: version}, nil
		}
	case "prerm":
		switch {
		case act == "remove" && (n == 0 || (n == 3 && rest[0] == "in-favour")):
			return Call{Step: BeforeRemove}, nil
		case act == "deconfigure" && n >= 3 && rest[0] == "in-favour":
			return Call{Step: BeforeRemove}, nil
		case act == "upgrade" && n == 1:
			// The old prerm: the new preinst does the work.
			return Call{Step: Nothing}, nil
		case act == "failed-upgrade" && (n == 1 || n == 2):
			return Call{Step: Nothing}, nil
		}
	case "postrm":
		switch {
		case act == "remove" && n == 0:
			return Call{Step: Removed}, nil
		case act == "purge" && n == 0:
			return Call{Step: Purge}, nil
		case act == "disappear" && n == 2:
			return Call{Step: Removed}, nil
		case act == "upgrade" && n == 1:
			// The old postrm, once the new files are unpacked beside the
			// old: the one moment the new version can be validated before
			// anything stops. Failing here makes dpkg unwind.
			return Call{Step: Unpacked, Target: rest[0]}, nil
		case act == "failed-upgrade" && (n == 1 || n == 2):
			// The new postrm, when the old one failed: do its work.
			return Call{Step: Unpacked, Target: version}, nil
		case act == "abort-install" && n <= 2:
			return Call{Step: Abort}, nil
		case act == "abort-upgrade" && (n == 1 || n == 2):
			// The new postrm: the upgrade from rest[0] failed.
			return Call{Step: Abort, Target: rest[0]}, nil
		}
	default:
		return Call{}, usage("dpkg has no maintainer script %q (it has %s)", script, strings.Join(Scripts["dpkg"], ", "))
	}
	return bad()
}

// parseRPM maps scriptlets by their one argument, the number of this
// package's instances installed once the transaction is done. On upgrade
// RPM runs the new %pre and %post before the old %preun and %postun.
func parseRPM(script string, args []string) (Call, error) {
	if len(args) != 1 {
		return Call{}, usage("rpm %%%s takes one argument (the instance count), got %d; nothing was done", script, len(args))
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return Call{}, usage("rpm %%%s: %q is not an instance count; nothing was done", script, args[0])
	}
	switch script {
	case "pre":
		// Before the files: nothing can be validated yet.
		return Call{Step: Nothing, Check: true}, nil
	case "post":
		return Call{Step: Configure, Fresh: n == 1}, nil
	case "preun":
		if n == 0 {
			return Call{Step: BeforeRemove}, nil
		}
		return Call{Step: Nothing}, nil
	case "postun":
		if n == 0 {
			return Call{Step: Removed}, nil
		}
		return Call{Step: Nothing}, nil
	}
	return Call{}, usage("rpm has no scriptlet %q (it has %s)", script, strings.Join(Scripts["rpm"], ", "))
}

// parsePacman maps the functions of a pacman .install file, which get the
// new version (and, on upgrade, the old one).
func parsePacman(script string, args []string) (Call, error) {
	want := map[string]int{"pre_install": 1, "post_install": 1, "pre_upgrade": 2, "post_upgrade": 2, "pre_remove": 1, "post_remove": 1}
	n, ok := want[script]
	if !ok {
		return Call{}, usage("pacman has no install function %q (it has %s)", script, strings.Join(Scripts["pacman"], ", "))
	}
	if len(args) != n {
		return Call{}, usage("pacman %s takes %d arguments, got %d; nothing was done", script, n, len(args))
	}
	switch script {
	case "pre_install":
		return Call{Step: Nothing, Check: true}, nil
	case "post_install":
		return Call{Step: Configure, Fresh: true}, nil
	case "post_upgrade":
		return Call{Step: Configure}, nil
	case "pre_remove":
		return Call{Step: BeforeRemove}, nil
	case "post_remove":
		return Call{Step: Removed}, nil
	}
	return Call{Step: Nothing}, nil
}

// CheckPackage refuses a package name or version servicectl cannot take
// (SPEC §1.5, §1.8), before anything is touched.
func CheckPackage(pkg, version string) error {
	if err := pkgsvc.ValidName("package", pkg); err != nil {
		return err
	}
	if _, err := pkgsvc.ParseVersion(version); err != nil {
		return usage("%s %s: %v (servicectl versions are UPSTREAM or UPSTREAM-RELEASE, SPEC §1.5)", pkg, version, err)
	}
	return nil
}

// Options tune Run.
type Options struct {
	// Start starts the package's services after a fresh install (as
	// dh_installsystemd does unless --no-start); an upgrade restarts per
	// policy either way and never starts a stopped service.
	Start bool
	Jobs  int
	// AllowDowngrade lets the package manager install an older version
	// (`package-hook --allow-downgrade`); refused otherwise.
	AllowDowngrade bool
}

// Result says what Run did, for the caller to print.
type Result struct {
	Plan    *upgrade.Plan
	Started []string // services started because of Options.Start
	Purged  []string // files a purge removed
	Did     string   // one line: what happened
}

// Run carries out call for package pkg at version (the version of the
// package the script belongs to).
func Run(ctx context.Context, p *lifecycle.Manager, c Call, pkg, version string, o Options) (*Result, error) {
	if err := CheckPackage(pkg, version); err != nil {
		return nil, err
	}
	uo := upgrade.Options{Jobs: o.Jobs, Merge: true}
	uo.AllowDowngrade = o.AllowDowngrade
	r := &Result{}
	var err error
	switch c.Step {
	case Nothing:
		r.Did = "nothing to do at this step"
	case Unpacked:
		uo.Set = []string{pkg + "=" + c.Target}
		if r.Plan, err = upgrade.Pre(ctx, p, uo); err != nil {
			break
		}
		err = install.SetInstalled(p.Playpen, pkg, c.Target)
		r.Did = "validated " + c.Target + ", journaled the upgrade, stopped what stops before it"
	case Configure:
		r, err = configure(ctx, p, c, pkg, version, o, uo)
	case BeforeRemove:
		if cur := installedVersion(p.Playpen, pkg); cur == "" {
			r.Did = pkg + " is not installed in the playpen; nothing to stop"
			break
		}
		uo.Set = []string{pkg + "="}
		r.Plan, err = upgrade.Pre(ctx, p, uo)
		r.Did = "journaled the removal; stopped the package's services"
	case Removed, Purge:
		svcs := registeredOf(p.Playpen, pkg)
		if err = install.RememberRemoved(p.Playpen, pkg, svcs); err != nil {
			break
		}
		if err = install.SetInstalled(p.Playpen, pkg, ""); err != nil {
			break
		}
		if r.Plan, err = upgrade.Post(ctx, p, uo); err != nil {
			break
		}
		r.Did = "removed " + pkg + " from the playpen; its services are stopped and unregistered"
		if c.Step == Purge {
			r.Purged, err = install.PurgeState(p.Playpen, pkg, svcs)
			r.Did = "purged " + pkg + ": its services are unregistered and their run-state files removed"
		}
	case Abort:
		if c.Target != "" {
			if err = install.SetInstalled(p.Playpen, pkg, c.Target); err != nil {
				break
			}
		}
		pending, _ := upgrade.JournalPending(p.Playpen)
		if !pending {
			r.Did = "nothing was pending; services are as they were"
			break
		}
		r.Plan, err = upgrade.Post(ctx, p, uo)
		r.Did = "back on what is installed; every service that ran runs again"
	}
	return r, err
}

func configure(ctx context.Context, p *lifecycle.Manager, c Call, pkg, version string, o Options, uo upgrade.Options) (*Result, error) {
	r := &Result{}
	// Validate before anything is recorded or restarted: the old
	// version's services keep running if the new one does not hold.
	if err := p.ValidatePackage(pkg, version); err != nil {
		msg := "the running services keep the old version (status shows them stale); install a version that validates"
		if len(registeredOf(p.Playpen, pkg)) == 0 {
			msg = "nothing was registered; fix the cause and configure the package again (dpkg --configure -a)"
		}
		if pending, _ := upgrade.JournalPending(p.Playpen); pending {
			msg += fmt.Sprintf(". The journal %s is kept: services stopped before the upgrade stay stopped until a version that validates is configured, or this one is fixed and `servicectl upgrade post` runs", upgrade.JournalPath(p.Playpen))
		}
		return r, fmt.Errorf("%w\n%s %s: %s", err, pkg, version, msg)
	}
	fresh := c.Fresh || len(registeredOf(p.Playpen, pkg)) == 0
	if !fresh && !journaled(p.Playpen, pkg) && !registeredAt(p.Playpen, pkg, version) {
		// No Unpacked step ran (rpm, pacman, or an old package's postrm
		// that does not call servicectl): the before-half now.
		uo.Set = []string{pkg + "=" + version}
		if _, err := upgrade.Pre(ctx, p, uo); err != nil {
			return r, err
		}
	}
	if err := install.SetInstalled(p.Playpen, pkg, version); err != nil {
		return r, err
	}
	var err error
	if r.Plan, err = upgrade.Post(ctx, p, uo); err != nil {
		return r, err
	}
	r.Did = "configured " + pkg + " " + version
	if !fresh || !o.Start {
		if fresh {
			r.Did += "; its services are registered, not started (--start starts them)"
		}
		return r, nil
	}
	svcs, err := p.PackageServices(pkg, version)
	if err != nil {
		return r, err
	}
	var names []string
	for _, s := range svcs {
		if sv, err := p.Resolve(s); err == nil && sv.Template {
			continue // a template has no process; its instances are started by name
		}
		names = append(names, s)
	}
	res := p.StartMany(ctx, names, lifecycle.ManyOptions{Jobs: o.Jobs})
	r.Started = names
	r.Did += "; started " + strings.Join(names, ", ")
	return r, lifecycle.FirstError(res)
}

// journaled says whether the pending journal already holds pkg's change.
func journaled(p *pkgsvc.Playpen, pkg string) bool {
	j, err := upgrade.ReadJournal(p)
	if err != nil || j == nil {
		return false
	}
	for _, c := range j.Plan.Changes {
		if c.Package == pkg {
			return true
		}
	}
	return false
}

// registeredAt says whether every registered service of pkg is at version.
func registeredAt(p *pkgsvc.Playpen, pkg, version string) bool {
	regs, _ := p.Registered()
	for _, r := range regs {
		if r.Package == pkg && r.Version != version {
			return false
		}
	}
	return true
}

func installedVersion(p *pkgsvc.Playpen, pkg string) string {
	pkgs, _ := p.InstalledPackages()
	for _, pk := range pkgs {
		if pk.Name == pkg {
			return pk.Version
		}
	}
	return ""
}

func registeredOf(p *pkgsvc.Playpen, pkg string) []string {
	regs, _ := p.Registered()
	var out []string
	for _, r := range regs {
		if r.Package == pkg {
			out = append(out, r.Service)
		}
	}
	return out
}
