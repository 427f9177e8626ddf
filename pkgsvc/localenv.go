package pkgsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"servicectl/envtypes"
	"servicectl/hooks"
	"servicectl/internal/fsio"
)

// LocalOverride is the project's own local override (SPEC §2.2):
// etc/project.conf.local, sourced after etc/project.conf.
func (p *Playpen) LocalOverride() string { return p.Path("etc", "project.conf.local") }

// SetLocalVar sets name=value in the local override for the services of
// names that declare name (SPEC §9.4 POST /api/env), after the checks of
// `env --check`: a declared name, the value's type and constraints for
// every service declaring it, and no port clash. Refused (KindConfig,
// the rule named) nothing is written; else the file is replaced
// atomically, an earlier assignment of name there replaced. The value is
// written quoted so that sh reads it back as it is (hooks.Quote): data,
// never code.
// It returns the services declaring it: which of them run, and so need
// a restart to see the value, is the lifecycle's to say.
func (p *Playpen) SetLocalVar(names []string, name, value string) ([]string, error) {
	var declaring []*Service
	var spec envtypes.Spec
	for _, n := range names {
		s, err := p.Resolve(n)
		if err != nil {
			continue
		}
		for _, sp := range s.EnvSpecs {
			if sp.Name == name {
				declaring, spec = append(declaring, s), sp
				if rule := envtypes.Check(sp, value); rule != "" {
					return nil, Errorf(KindConfig, "", "%s=%q: %s (declared by %s)", name, sp.Shown(value), rule, s.Name)
				}
			}
		}
	}
	if len(declaring) == 0 {
		return nil, Errorf(KindConfig, "", "%s: no service declares it (service_required_envars or service_optional_envars)", name)
	}
	if spec.Type == envtypes.Port {
		if err := p.clashWith(declaring, name, value); err != nil {
			return nil, err
		}
	}
	quoted, err := hooks.Quote(value)
	if err != nil {
		return nil, Errorf(KindConfig, "", "%s: the value cannot be written to a sh file: %v", name, err)
	}
	old, err := fsio.ReadRegular(p.LocalOverride())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := fsio.WriteAtomic(p.LocalOverride(), []byte(withAssignment(string(old), name, quoted)), 0o644, true); err != nil {
		return nil, err
	}
	p.Invalidate()
	out := make([]string, len(declaring))
	for i, s := range declaring {
		out[i] = s.Name
	}
	return out, nil
}

// withAssignment is text with every line assigning name (`NAME=…`,
// `export NAME=…`) removed and `NAME=quoted` appended.
func withAssignment(text, name, quoted string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		t := strings.TrimLeft(line, " \t")
		t = strings.TrimPrefix(t, "export ")
		if strings.HasPrefix(t, name+"=") {
			continue
		}
		b.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "%s=%s\n", name, quoted)
	return b.String()
}

// clashWith refuses a port value some other service already has (§6.4):
// the playpen's resolved services and the running ones' recorded ports.
func (p *Playpen) clashWith(declaring []*Service, name, value string) error {
	mine := map[string]bool{}
	for _, s := range declaring {
		mine[s.Name] = true
	}
	var uses []envtypes.PortUse
	for _, s := range declaring {
		uses = append(uses, envtypes.PortUse{Service: s.Name, Name: name, Value: value})
	}
	all, _ := p.AllServices()
	for _, n := range all {
		if mine[n] {
			continue
		}
		if s, err := p.Resolve(n); err == nil {
			for k, v := range s.Ports() {
				uses = append(uses, envtypes.PortUse{Service: n, Name: k, Value: v})
			}
		}
	}
	uses = append(uses, p.RunningPorts(mine)...)
	for _, c := range envtypes.Clashes(uses) {
		if c.A.Name == name && mine[c.A.Service] || c.B.Name == name && mine[c.B.Service] {
			other := c.B
			if !(c.A.Name == name && mine[c.A.Service]) {
				other = c.A
			}
			if !slices.ContainsFunc(declaring, func(s *Service) bool { return s.Name == other.Service }) {
				return Errorf(KindConfig, "", "%s=%s: port clash: %s of %s is also %s", name, value, other.Name, other.Service, c.Port)
			}
		}
	}
	return nil
}
