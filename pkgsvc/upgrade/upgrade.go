// Package upgrade is the upgrade engine of SPEC §8: the plan (pure: it
// reads definitions and states, runs no user code), the journal, the
// before- and after-halves with their health gate, rolling restarts and
// rollback, why, and the dry run of an upgrade's hooks. It reads the
// playpen through pkgsvc, moves services through pkgsvc/lifecycle and
// registers them through pkgsvc/install, as the command line does: an
// upgrade starts, stops and checks services exactly as `start`, `stop`
// and `status` do.
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
	"servicectl/pkgsvc/lifecycle"
)

// Upgrade actions of SPEC §8.1.
const (
	ActStopBefore   = "stop-before"
	ActStartAfter   = "start-after"
	ActRestartAfter = "restart-after"
	ActRemove       = "remove"
	ActNew          = "new"
	ActUntouched    = "untouched"
)

// Change is one package of the upgrade set: Old "" is an install, New ""
// a removal.
type Change struct {
	Package string `json:"package"`
	Old     string `json:"old"`
	New     string `json:"new"`
}

// Action is one step of a plan, with why it is taken (SPEC §8.1).
type Action struct {
	Service string `json:"service"`
	Package string `json:"package"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	Policy  string `json:"policy"`
	Chain   string `json:"chain,omitempty"` // dependency path, for why
	// Gate is the health check that gates a start-after or restart-after
	// (issue 16): "service_ping" or "pid", passed within HealthTimeout
	// seconds.
	Gate          string  `json:"gate,omitempty"`
	HealthTimeout float64 `json:"health_timeout,omitempty"`
	// Roll is the batch (1..RollOf) of a rolling restart this instance is
	// restarted in: batches go one after the other, each healthy before
	// the next goes down.
	Roll   int `json:"roll,omitempty"`
	RollOf int `json:"roll_of,omitempty"`
}

// Plan is what an upgrade will do, computed without touching anything.
type Plan struct {
	Changes []Change `json:"changes"`
	Files   []string `json:"files"`
	Actions []Action `json:"actions"`
	Errors  []string `json:"errors"`
	// Warnings name what the plan could not decide: a service whose
	// config does not evaluate and that the change may or may not touch.
	Warnings []string `json:"warnings"`
	Running  []string `json:"running"` // services running when planned
}

// PlanReport is the JSON shape of a plan (SPEC §8.1), the same for
// `upgrade plan --json` and the supervisor's API.
type PlanReport struct {
	Actions  []Action `json:"actions"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// Report is the plan as `upgrade plan --json` prints it.
func (p *Plan) Report() PlanReport {
	r := PlanReport{Actions: p.Actions, Errors: p.Errors, Warnings: p.Warnings}
	if r.Actions == nil {
		r.Actions = []Action{}
	}
	if r.Errors == nil {
		r.Errors = []string{}
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	return r
}

// PlanOptions select what changes.
type PlanOptions struct {
	Set            []string // PKG=VERSION; empty VERSION removes
	FromFile       string   // an installed-packages style list to compare with
	Files          []string // changed files, relative to the playpen
	AllowDowngrade bool
	// All plans for every service, running or not (for `why`).
	All bool
}

// ParseChanges turns PKG=VERSION arguments and --from-file into changes
// against the installed list.
func ParseChanges(p *lifecycle.Manager, o PlanOptions) ([]Change, error) {
	cur, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	old := map[string]string{}
	for _, pk := range cur {
		old[pk.Name] = pk.Version
	}
	want := map[string]string{}
	var order []string
	if o.FromFile != "" {
		data, err := os.ReadFile(o.FromFile)
		if err != nil {
			return nil, errf(pkgsvc.KindUsage, "", "--from-file: %v", err)
		}
		list, err := pkgsvc.ParsePackages(o.FromFile, data)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, pk := range list {
			want[pk.Name] = pk.Version
			seen[pk.Name] = true
			order = append(order, pk.Name)
		}
		for _, pk := range cur {
			if !seen[pk.Name] {
				want[pk.Name] = ""
				order = append(order, pk.Name)
			}
		}
	}
	given := map[string]string{}
	for _, a := range o.Set {
		name, ver, ok := strings.Cut(a, "=")
		if !ok {
			return nil, errf(pkgsvc.KindUsage, "", "%q: expected PKG=VERSION (an empty VERSION removes the package)", a)
		}
		if err := pkgsvc.ValidName("package", name); err != nil {
			return nil, err
		}
		if ver != "" {
			if _, err := pkgsvc.ParseVersion(ver); err != nil {
				// A version on the command line: a usage mistake (§11).
				return nil, errf(pkgsvc.KindUsage, "", "%s: %v", name, err)
			}
		}
		if prev, dup := given[name]; dup {
			return nil, errf(pkgsvc.KindUsage, "", "%s is given twice (%s=%s and %s); name each package once", name, name, prev, a)
		}
		given[name] = ver
		if _, dup := want[name]; !dup {
			order = append(order, name)
		}
		want[name] = ver
	}
	var out []Change
	for _, name := range order {
		if old[name] == want[name] {
			continue
		}
		if want[name] == "" && old[name] == "" {
			return nil, errf(pkgsvc.KindUsage, "", "%s is not installed, so it cannot be removed", name)
		}
		out = append(out, Change{Package: name, Old: old[name], New: want[name]})
	}
	return out, nil
}

// Options tune pre, post and run.
type Options struct {
	PlanOptions
	Force bool // go on despite dependency constraint errors
	Jobs  int
	// Rollback is recorded in the journal by pre: the command that puts
	// the old version back when the health gate fails (argv, run
	// directly).
	Rollback []string
	// Merge folds a pending journal into the new one instead of refusing:
	// for package managers that run one package's "before" script per
	// package before any "after" script (dpkg unpacks a.deb and b.deb,
	// then configures both) or run a script again (a retry).
	Merge bool
}

// Pre is the before-half (SPEC §8.3): validate, journal, stop.
func Pre(ctx context.Context, p *lifecycle.Manager, o Options) (*Plan, error) {
	unlock, err := lock(p.Playpen)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var prev *Journal
	if pending, _ := JournalPending(p.Playpen); pending {
		if !o.Merge {
			return nil, errf(pkgsvc.KindFailed, "", "an upgrade is already pending (%s); finish it with `servicectl upgrade post` first", JournalPath(p.Playpen))
		}
		if prev, err = ReadJournal(p.Playpen); err != nil {
			return nil, err
		}
	}
	plan, err := MakePlan(ctx, p, o.PlanOptions)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		plan = mergePlans(prev.Plan, plan)
	}
	if len(plan.Errors) > 0 && !o.Force {
		return plan, errf(pkgsvc.KindFailed, "", "the upgrade would break dependencies (nothing was stopped; --force to go on):\n  %s", strings.Join(plan.Errors, "\n  "))
	}
	if err := p.ValidateVersions(newVersions(plan), "nothing was stopped"); err != nil {
		return plan, err
	}
	j := &Journal{Root: p.Root, Created: time.Now().UTC(), Plan: plan, Rollback: o.Rollback}
	if prev != nil {
		j.Created = prev.Created
		if len(j.Rollback) == 0 {
			j.Rollback = prev.Rollback
		}
	}
	if err := writeJournal(p.Playpen, j); err != nil {
		return plan, err
	}
	fault.Point("pre.journal")
	var stops []string
	for _, a := range plan.Actions {
		if a.Action == ActStopBefore || a.Action == ActRemove {
			stops = append(stops, a.Service)
		}
	}
	return plan, lifecycle.FirstError(p.StopMany(ctx, stops, lifecycle.ManyOptions{Jobs: o.Jobs}))
}

// warnUnexpectedVersions says which packages are installed at another
// version than the journal's plan expected: the package manager failed or
// was skipped between pre and post. Services still end on what is
// installed.
func warnUnexpectedVersions(p *lifecycle.Manager, plan *Plan) {
	inst := map[string]string{}
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return
	}
	for _, pk := range pkgs {
		inst[pk.Name] = pk.Version
	}
	for _, c := range plan.Changes {
		got, ok := inst[c.Package]
		switch {
		case c.New == "" && ok:
			p.Warnf(c.Package, "the upgrade was to remove it, but %s is still installed (did the package manager fail?); services end on what is installed", got)
		case c.New != "" && got != c.New:
			if !ok {
				got = "nothing"
			}
			p.Warnf(c.Package, "the upgrade expected version %s, but %s is installed (did the package manager fail or not run?); services end on what is installed", c.New, got)
		}
	}
}

// Post is the after-half (SPEC §8.3): register the new definitions,
// then start, restart or remove per the journal's plan (or, with no
// journal, per what changed since the services were registered). Every
// service it starts or restarts must then pass its health gate; instances
// of a template roll (issue 16). When the gate fails and the journal
// holds a rollback command, that command runs and the after-half runs
// again, so every service ends on the version installed after it.
func Post(ctx context.Context, p *lifecycle.Manager, o Options) (*Plan, error) {
	unlock, err := lock(p.Playpen)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The package manager changed ext/ since anything was read.
	p.Invalidate()
	j, err := ReadJournal(p.Playpen)
	if err != nil {
		return nil, err
	}
	var plan *Plan
	var since time.Time
	if j != nil {
		plan, since = j.Plan, j.Created
		if j.RollingBack {
			// Killed in a rollback: finish it.
			return plan, rollBack(ctx, p, j, o, nil)
		}
		warnUnexpectedVersions(p, plan)
	} else {
		// No pre: what differs between installed-packages and the
		// registered definitions is the upgrade set.
		changes, err := unregisteredChanges(p)
		if err != nil {
			return nil, err
		}
		plan, err = planChanges(ctx, p, changes, o.PlanOptions)
		if err != nil {
			return nil, err
		}
	}
	redo := map[string]bool{}
	if j != nil {
		for _, f := range j.Failed {
			redo[f] = true
		}
	}
	fails, err := afterHalf(ctx, p, plan, since, redo, o, false)
	if err != nil {
		return plan, fmt.Errorf("%w (the journal %s is kept: fix the cause and run `servicectl upgrade post` again)", err, JournalPath(p.Playpen))
	}
	fault.Point("post.done")
	if len(fails) > 0 {
		if j != nil && len(j.Rollback) > 0 {
			return plan, rollBack(ctx, p, j, o, fails)
		}
		if j == nil {
			return plan, errf(pkgsvc.KindFailed, "", "the upgrade did not pass its health gate: %s; fix the cause and restart them", gateText(fails))
		}
		// The next post does these again, whenever they were started.
		j.Failed = nil
		for _, f := range fails {
			j.Failed = append(j.Failed, f.Service)
		}
		if err := writeJournal(p.Playpen, j); err != nil {
			return plan, err
		}
		return plan, errf(pkgsvc.KindFailed, "", "the upgrade did not pass its health gate: %s (the journal %s is kept: fix the package and run `servicectl upgrade post` again, or put the old version back with the package manager and run it then)", gateText(fails), JournalPath(p.Playpen))
	}
	if err := os.Remove(JournalPath(p.Playpen)); err != nil && !os.IsNotExist(err) {
		return plan, err
	}
	return plan, nil
}

// DowngradeError is a plan refused because a package would go back to
// an older version. It names no flag: what to do depends on who asked
// (the command line's --allow-downgrade, package-hook's, the dashboard's
// way), so each caller adds its own hint (Hint).
type DowngradeError struct{ Package, Old, New string }

func (e *DowngradeError) Error() string {
	return fmt.Sprintf("%s %s -> %s is a downgrade, refused", e.Package, e.Old, e.New)
}

// WithHint adds to a refused downgrade what the caller's user can do;
// other errors pass unchanged.
func WithHint(err error, hint string) error {
	var d *DowngradeError
	if err == nil || !errors.As(err, &d) {
		return err
	}
	return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Err: fmt.Errorf("%w; %s", d, hint)}
}

// NoteRefusals adds to p's warnings the services that will refuse
// connections during the upgrade (SPEC §4.11): stopped and started again
// (not rolled) with service_sockets while no daemon holds them, or
// binding their own port. daemon says whether a daemon answers on
// daemon.sock (it holds every started service's sockets).
func NoteRefusals(pp *lifecycle.Manager, p *Plan, daemon bool) {
	seen := map[string]bool{}
	for _, a := range p.Actions {
		if a.Roll > 0 || seen[a.Service] || a.Action != ActStopBefore && a.Action != ActRestartAfter {
			continue
		}
		seen[a.Service] = true
		s, err := pp.Resolve(a.Service)
		if err != nil {
			continue
		}
		switch {
		case len(s.Sockets) > 0 && !daemon:
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: refuses connections from its stop to its start: no daemon holds its service_sockets (start `servicectl daemon` first)", a.Service))
		case len(s.Sockets) == 0 && s.HasPort():
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: binds its own port: connections are refused from its stop to its start (service_sockets would keep them waiting)", a.Service))
		}
	}
}
