package upgrade

import (
	"fmt"
	"sort"
	"strings"

	"servicectl/hooks"
	"servicectl/pkgsvc"
)

// The health gate and rolling restarts of an upgrade (issue 16): an
// upgrade is done when every service it started or restarted passes its
// health check, and instances of one template are replaced a batch at a
// time so that the others keep serving.

// annotateGates fills in each start-after and restart-after action's
// gate, and numbers the batches of rolling restarts: restart-after
// instances of one template, several of them, in name order,
// service_rolling_batch to a batch. The plan shows the definitions as
// installed now; post gates on the new version's.
func annotateGates(p *pkgsvc.Playpen, plan *Plan) {
	groups := map[string][]int{}
	var bases []string
	newVersion := map[string]string{}
	for _, c := range plan.Changes {
		if c.New != "" {
			newVersion[c.Package] = c.New
		}
	}
	for i := range plan.Actions {
		a := &plan.Actions[i]
		if a.Action != ActStartAfter && a.Action != ActRestartAfter {
			continue
		}
		s, err := p.Resolve(a.Service)
		if err != nil {
			continue
		}
		// The plan is the promise: the gate is the one of the version that
		// will run (the unpacked new one's config), not the installed one's.
		a.Gate, a.HealthTimeout = s.HealthGate(), s.HealthTimeout
		if ver, ok := newVersion[a.Package]; ok && ver != s.Version {
			if ns, _, _, done, err := newDefinition(p, a.Service, a.Package, ver); err == nil {
				a.Gate, a.HealthTimeout = ns.HealthGate(), ns.HealthTimeout
				done()
			}
		}
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
		return nil, errf(pkgsvc.KindUsage, "", "%v", err)
	}
	return w, nil
}

func errf(kind pkgsvc.Kind, service, format string, args ...any) error {
	return pkgsvc.Errorf(kind, service, format, args...)
}
