// Package upgrade is the upgrade engine of SPEC §8: the plan (pure: it
// reads definitions and states, runs no user code), the journal, the
// before- and after-halves with their health gate, rolling restarts and
// rollback, why, and the dry run of an upgrade's hooks. It works on a
// playpen through pkgsvc's exported seam, so an upgrade starts, stops and
// checks services exactly as the command line does.
package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
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
func ParseChanges(p *pkgsvc.Playpen, o PlanOptions) ([]Change, error) {
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

// Journal is what `upgrade pre` leaves for `upgrade post` (SPEC §8.3):
// enough to finish the upgrade even if every servicectl in between died.
type Journal struct {
	Root    string    `json:"playpen_root"`
	Created time.Time `json:"created"`
	Plan    *Plan     `json:"plan"`
	// Rollback is the package manager's way back (`upgrade run
	// --rollback`), run when the health gate fails.
	Rollback []string `json:"rollback,omitempty"`
	// RollingBack is written before the rollback command runs: a post
	// that finds it finishes the rollback.
	RollingBack  bool     `json:"rolling_back,omitempty"`
	GateFailures []string `json:"gate_failures,omitempty"`
	// Failed are the services whose gate failed in a post without a
	// rollback: the next post starts them again even though they were
	// started after the journal was written.
	Failed []string `json:"failed,omitempty"`
}

// JournalPath is where `upgrade pre` records what it did (SPEC §8.3).
func JournalPath(p *pkgsvc.Playpen) string { return filepath.Join(p.LocalVar, "upgrade.journal") }

// JournalPending reports whether an upgrade was begun and not finished.
func JournalPending(p *pkgsvc.Playpen) (bool, error) {
	fi, err := os.Lstat(JournalPath(p))
	if err == nil && !fi.Mode().IsRegular() {
		// Never read or taken for a journal through a planted link.
		return false, &fsio.NotRegular{Path: JournalPath(p), What: "not a regular file (a link or a fifo planted in its place?)"}
	}
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) {
		return false, nil
	}
	return false, err
}

// ReadJournal reads and checks the pending journal; nil, nil when none.
func ReadJournal(p *pkgsvc.Playpen) (*Journal, error) {
	data, err := fsio.ReadRegular(JournalPath(p))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errf(pkgsvc.KindFailed, "", "%v", err)
	}
	return ParseJournal(JournalPath(p), data, p.Root)
}

// ParseJournal decodes a journal and refuses one of another playpen.
func ParseJournal(path string, data []byte, root string) (*Journal, error) {
	var j Journal
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || j.Plan == nil {
		why := "no plan"
		if err != nil {
			why = err.Error()
		}
		return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt (%s); inspect it, then remove it to start over", path, why)
	}
	if j.Root != root {
		return nil, errf(pkgsvc.KindConfig, "", "%s belongs to the playpen %s, not %s; remove it", path, j.Root, root)
	}
	for _, a := range j.Plan.Actions {
		if _, _, err := pkgsvc.SplitInstance(a.Service); err != nil {
			return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt: %v", path, err)
		}
	}
	for _, n := range append(append([]string(nil), j.Plan.Running...), j.Failed...) {
		if _, _, err := pkgsvc.SplitInstance(n); err != nil {
			return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt: %v", path, err)
		}
	}
	return &j, nil
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

// mergePlans folds a pending plan into a newer one: every service that
// ran before either began is still owed its start, and a package changed
// twice keeps its first old version.
func mergePlans(old, cur *Plan) *Plan {
	m := *cur
	m.Changes = append([]Change(nil), cur.Changes...)
	idx := map[string]int{}
	for i, c := range m.Changes {
		idx[c.Package] = i
	}
	for _, c := range old.Changes {
		if i, ok := idx[c.Package]; ok {
			m.Changes[i].Old = c.Old
		} else {
			m.Changes = append(m.Changes, c)
		}
	}
	m.Files = union(old.Files, cur.Files)
	m.Running = union(old.Running, cur.Running)
	acted := map[string]bool{}
	for _, a := range cur.Actions {
		acted[a.Service] = true
	}
	m.Actions = append([]Action(nil), cur.Actions...)
	for _, a := range old.Actions {
		if !acted[a.Service] {
			m.Actions = append(m.Actions, a)
		}
	}
	return &m
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Pre is the before-half (SPEC §8.3): validate, journal, stop.
func Pre(ctx context.Context, p *pkgsvc.Playpen, o Options) (*Plan, error) {
	unlock, err := p.UpgradeLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var prev *Journal
	if pending, _ := JournalPending(p); pending {
		if !o.Merge {
			return nil, errf(pkgsvc.KindFailed, "", "an upgrade is already pending (%s); finish it with `servicectl upgrade post` first", JournalPath(p))
		}
		if prev, err = ReadJournal(p); err != nil {
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
	if err := writeJournal(p, j); err != nil {
		return plan, err
	}
	fault.Point("pre.journal")
	var stops []string
	for _, a := range plan.Actions {
		if a.Action == ActStopBefore || a.Action == ActRemove {
			stops = append(stops, a.Service)
		}
	}
	return plan, pkgsvc.FirstError(p.StopMany(ctx, stops, pkgsvc.ManyOptions{Jobs: o.Jobs}))
}

// warnUnexpectedVersions says which packages are installed at another
// version than the journal's plan expected: the package manager failed or
// was skipped between pre and post. Services still end on what is
// installed.
func warnUnexpectedVersions(p *pkgsvc.Playpen, plan *Plan) {
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
func Post(ctx context.Context, p *pkgsvc.Playpen, o Options) (*Plan, error) {
	unlock, err := p.UpgradeLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The package manager changed ext/ since anything was read.
	p.Invalidate()
	j, err := ReadJournal(p)
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
		return plan, fmt.Errorf("%w (the journal %s is kept: fix the cause and run `servicectl upgrade post` again)", err, JournalPath(p))
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
		if err := writeJournal(p, j); err != nil {
			return plan, err
		}
		return plan, errf(pkgsvc.KindFailed, "", "the upgrade did not pass its health gate: %s (the journal %s is kept: fix the package and run `servicectl upgrade post` again, or put the old version back with the package manager and run it then)", gateText(fails), JournalPath(p))
	}
	if err := os.Remove(JournalPath(p)); err != nil && !os.IsNotExist(err) {
		return plan, err
	}
	return plan, nil
}

// afterHalf registers what is installed and brings every service that
// ran before the upgrade up on it, then gates each it started or
// restarted on its health. Services done since `since` (an earlier post
// that was killed) are checked, not restarted again. In a rollback only
// what runs other code than installed is restarted. It returns the
// services that failed to start or to pass their gate; err is a failure
// to act at all.
func afterHalf(ctx context.Context, p *pkgsvc.Playpen, plan *Plan, since time.Time, redo map[string]bool, o Options, rollback bool) ([]GateFailure, error) {
	removed, err := registerInstalled(ctx, p, plan, len(redo) > 0)
	if err != nil {
		return nil, err
	}
	fault.Point("post.registered")
	b := &bringer{ctx: ctx, p: p, after: map[string]string{}, redo: redo, since: since, rollback: rollback}
	rolling := map[string]bool{}
	for _, a := range plan.Actions {
		switch a.Action {
		case ActStartAfter, ActRestartAfter:
			b.after[a.Service] = a.Action
			if a.RollOf > 0 && !rollback {
				rolling[a.Service] = true
			}
		}
	}
	// Everything that ran before ends running on the new version: a
	// service a killed pre never stopped is restarted, one it stopped is
	// started.
	var names []string
	for _, n := range plan.Running {
		if !removed[n] && !rolling[n] {
			names = append(names, n)
		}
	}
	names = p.ServiceOrder(names)
	for _, r := range p.RunOrdered(ctx, names, o.Jobs, func(n string, release func()) error {
		b.bring(n, release)
		return nil
	}) {
		if r.Err != nil {
			b.fail(r.Service, r.Err)
		}
	}
	b.roll(rolls(plan, rolling))
	sort.Slice(b.fails, func(i, j int) bool { return b.fails[i].Service < b.fails[j].Service })
	return b.fails, nil
}

// bringer brings services to where the plan leaves them after the
// change (afterHalf), recording the ones that fail.
type bringer struct {
	ctx      context.Context
	p        *pkgsvc.Playpen
	after    map[string]string // service → start-after or restart-after
	redo     map[string]bool
	since    time.Time
	rollback bool

	mu    sync.Mutex
	fails []GateFailure
}

func (b *bringer) fail(n string, err error) {
	b.mu.Lock()
	b.fails = append(b.fails, GateFailure{Service: n, Err: err})
	b.mu.Unlock()
}

// bring acts on one service; ok is false when it failed (recorded).
func (b *bringer) bring(n string, release func()) bool {
	p, ctx := b.p, b.ctx
	s, err := p.Resolve(n)
	if err != nil {
		release()
		b.fail(n, err)
		return false
	}
	st := p.Probe(ctx, s)
	upgraded := b.after[n] == ActRestartAfter
	acted := true
	// The plan is the promise (§8.6): only what it names is started
	// or restarted. A service it leaves untouched keeps running (and
	// shows stale), even though its dependencies changed.
	switch {
	case st.State != pkgsvc.StateRunning:
		err = p.Start(ctx, n, pkgsvc.StartOptions{Upgraded: upgraded, Launched: release})
		p.Progress(n, err, "started")
	case b.rollback && st.Stale:
		err = p.Restart(ctx, n, pkgsvc.RestartOptions{Upgraded: true, NoHUP: true, Launched: release})
		p.Progress(n, err, "restarted on the version installed again")
	case b.rollback:
		release()
		acted = false
	case b.after[n] != "" && !b.redo[n] && !st.Stale && p.StartedSince(s, b.since):
		// An earlier post did it before it was killed.
		release()
	case upgraded || b.after[n] == ActStartAfter:
		// start-after while running: a killed pre never stopped it.
		err = p.Restart(ctx, n, pkgsvc.RestartOptions{Upgraded: upgraded, NoHUP: true, Launched: release})
		p.Progress(n, err, "restarted")
	default:
		release()
		acted = false
	}
	if err == nil && acted {
		fault.Point("post.started")
		err = p.AwaitHealthy(ctx, s)
	}
	if err != nil {
		b.fail(n, err)
		return false
	}
	return true
}

// roll brings the rolling instances a batch at a time: a batch that
// fails stops its roll, and the instances after it keep running the old
// code.
func (b *bringer) roll(all [][][]string) {
	for _, batches := range all {
		for k, batch := range batches {
			var wg sync.WaitGroup
			ok := make([]bool, len(batch))
			for i, n := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok[i] = b.bring(n, func() {})
				}()
			}
			wg.Wait()
			if slices.Contains(ok, false) {
				var rest []string
				for _, bb := range batches[k+1:] {
					rest = append(rest, bb...)
				}
				if len(rest) > 0 {
					b.p.Warnf(batch[0], "the rolling restart stopped here: %s keep running the old code", strings.Join(rest, ", "))
				}
				break
			}
		}
	}
}

// rolls groups the rolling instances of a plan by template, batch by
// batch, in the plan's order.
func rolls(plan *Plan, rolling map[string]bool) [][][]string {
	var order []string
	by := map[string][][]string{}
	for _, a := range plan.Actions {
		if !rolling[a.Service] {
			continue
		}
		base, _, _ := pkgsvc.SplitInstance(a.Service)
		if _, ok := by[base]; !ok {
			order = append(order, base)
		}
		for len(by[base]) < a.Roll {
			by[base] = append(by[base], nil)
		}
		by[base][a.Roll-1] = append(by[base][a.Roll-1], a.Service)
	}
	var out [][][]string
	for _, b := range order {
		out = append(out, by[b])
	}
	return out
}

// rollBack runs the journal's rollback command (the package manager's way
// back), then the after-half again on what it installed. The journal says
// a rollback is under way before the command runs, so a post that was
// killed anywhere in it runs it again and converges.
func rollBack(ctx context.Context, p *pkgsvc.Playpen, j *Journal, o Options, fails []GateFailure) error {
	if !j.RollingBack {
		j.RollingBack = true
		j.GateFailures = nil
		for _, f := range fails {
			j.GateFailures = append(j.GateFailures, headLine(f.Err.Error()))
		}
		if err := writeJournal(p, j); err != nil {
			return err
		}
	}
	fault.Point("rollback.journal")
	fmt.Fprintf(p.ErrOut(), "servicectl: the upgrade did not pass its health gate (%s); rolling back: %s\n", strings.Join(j.GateFailures, "; "), strings.Join(j.Rollback, " "))
	cmd := exec.CommandContext(ctx, j.Rollback[0], j.Rollback[1:]...)
	cmd.Stdout, cmd.Stderr = p.ErrOut(), p.ErrOut()
	if err := cmd.Run(); err != nil {
		return errf(pkgsvc.KindFailed, "", "the rollback command %s failed: %v (the journal %s is kept: put the old version back, then run `servicectl upgrade post`)", j.Rollback[0], err, JournalPath(p))
	}
	fault.Point("rollback.command")
	p.Invalidate()
	fails, err := afterHalf(ctx, p, j.Plan, time.Time{}, nil, o, true)
	if err != nil {
		return fmt.Errorf("rolled back, but: %w (the journal %s is kept: run `servicectl upgrade post` again)", err, JournalPath(p))
	}
	if len(fails) > 0 {
		return errf(pkgsvc.KindFailed, "", "rolled back, but the installed version does not pass its health gate either: %s (the journal %s is kept)", gateText(fails), JournalPath(p))
	}
	if err := os.Remove(JournalPath(p)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return errf(pkgsvc.KindFailed, "", "the upgrade was rolled back: %s; every service runs the version installed again", strings.Join(j.GateFailures, "; "))
}

func writeJournal(p *pkgsvc.Playpen, j *Journal) error {
	data, _ := json.MarshalIndent(j, "", "  ")
	return fsio.WriteAtomic(JournalPath(p), append(data, '\n'), 0o644, true)
}

// unregisteredChanges compares installed-packages with the versions of
// the registered services.
func unregisteredChanges(p *pkgsvc.Playpen) ([]Change, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	regs, err := p.Registered()
	if err != nil {
		return nil, err
	}
	inst := map[string]string{}
	for _, pk := range pkgs {
		inst[pk.Name] = pk.Version
	}
	seen := map[string]bool{}
	var out []Change
	for _, r := range regs {
		if seen[r.Package] || inst[r.Package] == r.Version {
			continue
		}
		seen[r.Package] = true
		out = append(out, Change{Package: r.Package, Old: r.Version, New: inst[r.Package]})
	}
	return out, nil
}

// registerInstalled brings installed-services in line with
// installed-packages: every service a package lists is registered at the
// installed version (§1.6); a service no installed package lists is
// stopped and unregistered. It returns the removed services.
func registerInstalled(ctx context.Context, p *pkgsvc.Playpen, plan *Plan, refresh bool) (map[string]bool, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	provided := map[string]bool{}
	for _, pk := range pkgs {
		svcs, err := p.PackageServices(pk.Name, pk.Version)
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			provided[s] = true
		}
	}
	regs, err := p.Registered()
	if err != nil {
		return nil, err
	}
	removed := map[string]bool{}
	for _, r := range regs {
		if provided[r.Service] {
			continue
		}
		names := []string{r.Service}
		if s, err := p.Resolve(r.Service); err == nil && s.Template {
			names, _ = p.RunningInstances(r.Service)
		}
		for _, n := range names {
			if err := p.Stop(ctx, n); err != nil {
				return nil, err
			}
			removed[n] = true
		}
		if err := p.Unregister(r.Service); err != nil {
			return nil, err
		}
		removed[r.Service] = true
		p.Progress(r.Service, nil, "unregistered: no installed package provides it")
	}
	current := map[string]string{}
	regs, _ = p.Registered()
	for _, r := range regs {
		current[r.Service] = r.Version
	}
	// After a failed health gate, a package of the upgrade set is
	// registered afresh even at the same version: a post run again once
	// its files were fixed takes the fix.
	inSet := map[string]bool{}
	for _, c := range plan.Changes {
		inSet[c.Package] = refresh
	}
	for _, pk := range pkgs {
		svcs, _ := p.PackageServices(pk.Name, pk.Version)
		for _, s := range svcs {
			if current[s] == pk.Version && !inSet[pk.Name] {
				continue
			}
			if _, err := p.NewService(s); err != nil {
				return nil, err
			}
			p.Progress(s, nil, "registered at "+pk.Name+" "+pk.Version)
		}
	}
	return removed, nil
}

// WhyTargets lists what `why` takes: installed packages, and the files
// their .files lists name, sorted (for shell completion).
func WhyTargets(p *pkgsvc.Playpen) ([]string, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, pk := range pkgs {
		for _, c := range append([]string{pk.Name}, p.PackageFiles(pk.Name, pk.Version)...) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Why is the blast radius of a change to a package or a file (SPEC §8.6):
// the plan for every service, running or not, if it changed.
func Why(ctx context.Context, p *pkgsvc.Playpen, target string) (*Plan, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	o := PlanOptions{All: true}
	var changes []Change
	for _, pk := range pkgs {
		if pk.Name == target {
			changes = append(changes, Change{Package: pk.Name, Old: pk.Version, New: pk.Version})
		}
	}
	if changes == nil {
		if strings.ContainsRune(target, '/') || strings.ContainsRune(target, '.') {
			o.Files = []string{target}
			for _, pk := range pkgs {
				for _, f := range p.PackageFiles(pk.Name, pk.Version) {
					if f == filepath.Clean(target) {
						changes = append(changes, Change{Package: pk.Name, Old: pk.Version, New: pk.Version})
					}
				}
			}
		} else {
			return nil, errf(pkgsvc.KindUnknown, "", "%s is neither an installed package nor a file path (see ext/etc/installed-packages)", target)
		}
	}
	plan, err := planChanges(ctx, p, changes, o)
	if err != nil {
		return nil, err
	}
	// A change "to the same version" is how why asks; new/remove do not apply.
	out := plan.Actions[:0]
	for _, a := range plan.Actions {
		if a.Action != ActNew && a.Action != ActRemove {
			out = append(out, a)
		}
	}
	plan.Actions = out
	return plan, nil
}

// newVersions are the packages a plan installs or upgrades, at their new
// versions.
func newVersions(plan *Plan) []pkgsvc.Package {
	var out []pkgsvc.Package
	for _, c := range plan.Changes {
		if c.New != "" {
			out = append(out, pkgsvc.Package{Name: c.Package, Version: c.New})
		}
	}
	return out
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
func NoteRefusals(pp *pkgsvc.Playpen, p *Plan, daemon bool) {
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
