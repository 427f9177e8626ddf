package upgrade

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/internal/fault"
	"servicectl/pkgsvc/lifecycle"
)

// afterHalf registers what is installed and brings every service that
// ran before the upgrade up on it, then gates each it started or
// restarted on its health. Services done since `since` (an earlier post
// that was killed) are checked, not restarted again. In a rollback only
// what runs other code than installed is restarted. It returns the
// services that failed to start or to pass their gate; err is a failure
// to act at all.
func afterHalf(ctx context.Context, p *lifecycle.Manager, plan *Plan, since time.Time, redo map[string]bool, o Options, rollback bool) ([]GateFailure, error) {
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
	p        *lifecycle.Manager
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
		err = p.Start(ctx, n, lifecycle.StartOptions{Upgraded: upgraded, Launched: release})
		p.Progress(n, err, "started")
	case b.rollback && st.Stale:
		err = p.Restart(ctx, n, lifecycle.RestartOptions{Upgraded: true, NoHUP: true, Launched: release})
		p.Progress(n, err, "restarted on the version installed again")
	case b.rollback:
		release()
		acted = false
	case b.after[n] != "" && !b.redo[n] && !st.Stale && p.StartedSince(s, b.since):
		// An earlier post did it before it was killed.
		release()
	case upgraded || b.after[n] == ActStartAfter:
		// start-after while running: a killed pre never stopped it.
		err = p.Restart(ctx, n, lifecycle.RestartOptions{Upgraded: upgraded, NoHUP: true, Launched: release})
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
func rollBack(ctx context.Context, p *lifecycle.Manager, j *Journal, o Options, fails []GateFailure) error {
	if !j.RollingBack {
		j.RollingBack = true
		j.GateFailures = nil
		for _, f := range fails {
			j.GateFailures = append(j.GateFailures, headLine(f.Err.Error()))
		}
		if err := writeJournal(p.Playpen, j); err != nil {
			return err
		}
	}
	fault.Point("rollback.journal")
	fmt.Fprintf(p.ErrOut(), "servicectl: the upgrade did not pass its health gate (%s); rolling back: %s\n", strings.Join(j.GateFailures, "; "), strings.Join(j.Rollback, " "))
	cmd := exec.CommandContext(ctx, j.Rollback[0], j.Rollback[1:]...)
	cmd.Stdout, cmd.Stderr = p.ErrOut(), p.ErrOut()
	if err := cmd.Run(); err != nil {
		return errf(pkgsvc.KindFailed, "", "the rollback command %s failed: %v (the journal %s is kept: put the old version back, then run `servicectl upgrade post`)", j.Rollback[0], err, JournalPath(p.Playpen))
	}
	fault.Point("rollback.command")
	p.Invalidate()
	fails, err := afterHalf(ctx, p, j.Plan, time.Time{}, nil, o, true)
	if err != nil {
		return fmt.Errorf("rolled back, but: %w (the journal %s is kept: run `servicectl upgrade post` again)", err, JournalPath(p.Playpen))
	}
	if len(fails) > 0 {
		return errf(pkgsvc.KindFailed, "", "rolled back, but the installed version does not pass its health gate either: %s (the journal %s is kept)", gateText(fails), JournalPath(p.Playpen))
	}
	if err := os.Remove(JournalPath(p.Playpen)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return errf(pkgsvc.KindFailed, "", "the upgrade was rolled back: %s; every service runs the version installed again", strings.Join(j.GateFailures, "; "))
}

// unregisteredChanges compares installed-packages with the versions of
// the registered services.
func unregisteredChanges(p *lifecycle.Manager) ([]Change, error) {
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
func registerInstalled(ctx context.Context, p *lifecycle.Manager, plan *Plan, refresh bool) (map[string]bool, error) {
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
		if err := install.Unregister(p.Playpen, r.Service); err != nil {
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
			if _, err := install.NewService(p.Playpen, s); err != nil {
				return nil, err
			}
			p.Progress(s, nil, "registered at "+pk.Name+" "+pk.Version)
		}
	}
	return removed, nil
}
