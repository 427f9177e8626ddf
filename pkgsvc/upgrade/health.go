package upgrade

import (
	"fmt"
	"strings"

	"servicectl/hooks"
	"servicectl/pkgsvc"
)

// The health gate and rolling restarts of an upgrade (issue 16): an
// upgrade is done when every service it started or restarted passes its
// health check, and instances of one template are replaced a batch at a
// time so that the others keep serving.

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
