package pkgsvc

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"servicectl/hooks"
)

// The health gate and rolling restarts of an upgrade (issue 16): an
// upgrade is done when every service it started or restarted passes its
// health check, and instances of one template are replaced a batch at a
// time so that the others keep serving.

// Gates of Action.Gate.
const (
	GatePing = "service_ping" // the service's own check (§5.3)
	GatePid  = "pid"          // the process runs (§4.7)
)

// HealthGate names the check that gates s in an upgrade.
func (s *Service) HealthGate() string {
	if !s.Hooks["ping"].Empty() {
		return GatePing
	}
	return GatePid
}

// annotateGates fills in each start-after and restart-after action's
// gate, and numbers the batches of rolling restarts: restart-after
// instances of one template, several of them, in name order,
// service_rolling_batch to a batch. The plan shows the definitions as
// installed now; post gates on the new version's.
func (p *Playpen) annotateGates(plan *Plan) {
	groups := map[string][]int{}
	var bases []string
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Action != ActStartAfter && a.Action != ActRestartAfter {
			continue
		}
		s, err := p.Resolve(a.Service)
		if err != nil {
			continue
		}
		a.Gate, a.HealthTimeout = s.HealthGate(), s.HealthTimeout
		if a.Action == ActRestartAfter && s.Instance != "" {
			if _, ok := groups[s.Base]; !ok {
				bases = append(bases, s.Base)
			}
			groups[s.Base] = append(groups[s.Base], i)
		}
	}
	for _, b := range bases {
		idx := groups[b]
		if len(idx) < 2 {
			continue
		}
		sort.Slice(idx, func(x, y int) bool { return plan.Actions[idx[x]].Service < plan.Actions[idx[y]].Service })
		batch := 1
		if s, err := p.Resolve(plan.Actions[idx[0]].Service); err == nil {
			batch = s.RollingBatch
		}
		of := (len(idx) + batch - 1) / batch
		for k, i := range idx {
			plan.Actions[i].Roll, plan.Actions[i].RollOf = k/batch+1, of
		}
	}
}

// GateFailure is a service that did not come up healthy in an upgrade.
type GateFailure struct {
	Service string
	Err     error
}

// gateText says in one line which services failed and why (the first
// line of each error: a failed start's output excerpt is printed apart).
func gateText(fs []GateFailure) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, headLine(f.Err.Error()))
	}
	return strings.Join(parts, "; ")
}

func headLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// awaitHealthy waits until s passes its health check, for at most
// s.HealthTimeout: service_ping until it succeeds, or the pid check (a
// process that is gone fails at once: there is nothing to wait for).
func (p *Playpen) awaitHealthy(ctx context.Context, s *Service) error {
	gate := s.HealthGate()
	timeout := time.Duration(s.HealthTimeout * float64(time.Second))
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	var last error // the last check that ran to its end
	for {
		var err error
		if gate == GatePing {
			cctx, cancel := context.WithDeadline(ctx, deadline)
			err = p.runStep(cctx, s, "ping", s.Env)
			if err != nil && (cctx.Err() == nil || last == nil) {
				last = err
			}
			cancel()
		} else {
			st, o := p.probe(ctx, s)
			if o != nil {
				o.Close()
			} else {
				return errf(KindFailed, s.Name, "failed its health check (%s): it is %s", gate, st.State)
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return errf(KindFailed, s.Name, "failed its health check (%s) for %gs (service_health_timeout); the last check: %v", gate, s.HealthTimeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(wait, time.Until(deadline))):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// startedSince says whether the running service was (re)started after t:
// an earlier `upgrade post`, killed, already did its part.
func (p *Playpen) startedSince(s *Service, t time.Time) bool {
	if t.IsZero() {
		return false
	}
	st, err := readState(s.StateFile(p))
	return err == nil && st.StartedAt.After(t)
}

// GateText is how plans print a gate: "service_ping ≤10s, roll 1/4".
func (a Action) GateText() string {
	if a.Gate == "" {
		return "-"
	}
	g := fmt.Sprintf("%s ≤%gs", a.Gate, a.HealthTimeout)
	if a.RollOf > 0 {
		g += fmt.Sprintf(", roll %d/%d", a.Roll, a.RollOf)
	}
	return g
}

// SplitCommand splits a command given as one string (`--rollback`) into
// words as sh would, refusing anything that needs a shell
// (hooks.SplitWords), so it can be run directly.
func SplitCommand(line string) ([]string, error) {
	w, err := hooks.SplitWords(line)
	if err != nil {
		return nil, errf(KindUsage, "", "%v", err)
	}
	return w, nil
}
