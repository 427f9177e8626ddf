package pkgsvc

import (
	"fmt"

	"servicectl/envtypes"
	"servicectl/hooks"
)

// EnvMissing is a required variable with no value (SPEC §6.6 JSON).
type EnvMissing struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
	Default     string `json:"default"` // masked when secret
	HasDefault  bool   `json:"-"`
	Secret      bool   `json:"secret,omitempty"`
}

// EnvProblem is a value that breaks its rule, or a port clash.
type EnvProblem struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Rule  string `json:"rule"`
}

// EnvEntry is one service's typed-environment report.
type EnvEntry struct {
	Service  string          `json:"service"`
	Missing  []EnvMissing    `json:"missing"`
	Errors   []EnvProblem    `json:"errors"`
	Values   []EnvValue      `json:"-"`
	Specs    []envtypes.Spec `json:"-"`
	Resolved bool            `json:"-"`
	Err      error           `json:"-"`
}

// EnvValue is a resolved variable, for --verbose; Value is masked when
// the variable is secret (§6.1).
type EnvValue struct {
	Name, Value, Source string
	Secret              bool
}

// EnvReport validates the typed environment of names (SPEC §6.6) and the
// port clashes of the whole playpen (§6.4).
func (p *Playpen) EnvReport(names []string) ([]EnvEntry, error) {
	out := make([]EnvEntry, 0, len(names))
	p.ResolveAll(names)
	for _, n := range names {
		e := EnvEntry{Service: n, Missing: []EnvMissing{}, Errors: []EnvProblem{}}
		s, err := p.Resolve(n)
		if err != nil {
			e.Err = err
			out = append(out, e)
			continue
		}
		e.Resolved, e.Specs = true, s.EnvSpecs
		files := append(p.LoadConfigFiles(), s.ConfigFiles...)
		where := func(name string) string {
			if f, l, ok := hooks.AssignedAt(files, name); ok {
				return fmt.Sprintf("%s:%d", p.Rel(f), l)
			}
			return "the caller's environment"
		}
		for _, v := range s.Typed.Values {
			src := string(v.Source)
			switch v.Source {
			case envtypes.FromEnv:
				src = where(v.Spec.Name)
			case envtypes.FromPort:
				src = fmt.Sprintf("PORT_PREFIX (%s) + %s_OFFSET (%s)", where("PORT_PREFIX"), v.Spec.Name, where(v.Spec.Name+"_OFFSET"))
			case envtypes.FromDefault:
				src = "its default"
			}
			e.Values = append(e.Values, EnvValue{v.Spec.Name, v.Spec.Shown(v.Value), src, v.Spec.Secret})
		}
		for _, pr := range s.Typed.Problems {
			if pr.Missing {
				e.Missing = append(e.Missing, EnvMissing{Name: pr.Spec.Name, Type: string(pr.Spec.Type), Description: pr.Spec.Description,
					Default: pr.Spec.Shown(pr.Spec.Default), HasDefault: pr.Spec.HasDefault, Secret: pr.Spec.Secret})
			} else {
				e.Errors = append(e.Errors, EnvProblem{Name: pr.Spec.Name, Value: pr.Spec.Shown(pr.Value), Rule: pr.Rule})
			}
		}
		out = append(out, e)
	}
	// Clashes among the services reported and with those running (their
	// recorded ports): `env NAME` evaluates no other config (issue 28).
	var uses []envtypes.PortUse
	in := map[string]bool{}
	for _, e := range out {
		in[e.Service] = true
		if !e.Resolved {
			continue
		}
		if s, err := p.Resolve(e.Service); err == nil {
			for k, v := range s.Ports() {
				uses = append(uses, envtypes.PortUse{Service: e.Service, Name: k, Value: v})
			}
		}
	}
	uses = append(uses, p.RunningPorts(in)...)
	clashes := envtypes.Clashes(uses)
	for i := range out {
		for _, c := range clashes {
			for _, u := range []envtypes.PortUse{c.A, c.B} {
				if u.Service == out[i].Service {
					other := c.B
					if u == c.B {
						other = c.A
					}
					out[i].Errors = append(out[i].Errors, EnvProblem{Name: u.Name, Value: u.Value,
						Rule: fmt.Sprintf("port clash: %s of %s is also %s", other.Name, other.Service, c.Port)})
				}
			}
		}
	}
	return out, nil
}
