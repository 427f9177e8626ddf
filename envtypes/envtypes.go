// Package envtypes validates the typed environment variables that services
// declare (SPEC §6). It is pure: values come in through a lookup func and
// results go out as values, so the same code serves start, `env --check`,
// the upgrade validator and the dashboard.
package envtypes

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Type is one of the value types of SPEC §6.2.
type Type string

// The types of SPEC §6.2.
const (
	SimpleString   Type = "simple_string"
	String         Type = "string"
	Filename       Type = "filename"
	Int            Type = "int"
	NonnegativeInt Type = "nonnegative_int"
	Real           Type = "real"
	Port           Type = "port"
)

// ParseType accepts a declared type name; an empty name is not a type.
func ParseType(s string) (Type, error) {
	switch t := Type(strings.TrimSpace(s)); t {
	case SimpleString, String, Filename, Int, NonnegativeInt, Real, Port:
		return t, nil
	}
	return "", fmt.Errorf("unknown type %q (one of simple_string, string, filename, int, nonnegative_int, real, port)", s)
}

func (t Type) numeric() bool {
	return t == Int || t == NonnegativeInt || t == Real || t == Port
}

// Spec is one declared variable (SPEC §6.1) as the service config set it.
type Spec struct {
	Name        string
	Required    bool
	Type        Type
	Guessed     bool // type inferred from the name (_PORT) or defaulted to string
	Constraints []Constraint
	RawConstr   string
	Default     string
	HasDefault  bool
	Description string
	// Secret: the value is never shown (SPEC §6.1): ******** wherever
	// servicectl would print it.
	Secret bool
}

// Mask is what servicectl prints in place of a secret's value.
const Mask = "********"

// SecretByName says whether a variable is secret by default: its name
// ends in _PASSWORD, _SECRET, _TOKEN or _KEY (SPEC §6.1).
func SecretByName(name string) bool {
	for _, sfx := range []string{"_PASSWORD", "_SECRET", "_TOKEN", "_KEY"} {
		if strings.HasSuffix(name, sfx) {
			return true
		}
	}
	return false
}

// Shown is v as servicectl prints it: Mask for a secret.
func (sp Spec) Shown(v string) string {
	if sp.Secret {
		return Mask
	}
	return v
}

// Constraint is one entry of a constraint list (SPEC §6.3): a numeric
// inclusive range, or an allowed literal for simple_string.
type Constraint struct {
	Lo, Hi  float64
	Literal string
	IsRange bool
}

func (c Constraint) String() string {
	if !c.IsRange {
		return c.Literal
	}
	if c.Lo == c.Hi {
		return fmtNum(c.Lo)
	}
	return fmtNum(c.Lo) + "-" + fmtNum(c.Hi)
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// ParseConstraints parses a constraint list for type t. Numeric entries are
// `N` or `START-END`, where either bound may be negative (`-10--1`).
func ParseConstraints(t Type, s string) ([]Constraint, error) {
	var out []Constraint
	for _, f := range strings.Fields(s) {
		if !t.numeric() {
			out = append(out, Constraint{Literal: f})
			continue
		}
		c, err := parseRange(f)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseRange(f string) (Constraint, error) {
	// The separator is the first '-' that follows a digit or '.', so a
	// leading '-' (and the one after the separator) is a sign.
	sep := -1
	for i := 1; i < len(f); i++ {
		if f[i] == '-' && (unicode.IsDigit(rune(f[i-1])) || f[i-1] == '.') {
			sep = i
			break
		}
	}
	if sep < 0 {
		v, err := parseNum(f)
		if err != nil {
			return Constraint{}, fmt.Errorf("constraint %q: not a number or range START-END", f)
		}
		return Constraint{Lo: v, Hi: v, IsRange: true}, nil
	}
	lo, err1 := parseNum(f[:sep])
	hi, err2 := parseNum(f[sep+1:])
	if err1 != nil || err2 != nil {
		return Constraint{}, fmt.Errorf("constraint %q: not a range START-END of numbers", f)
	}
	if lo > hi {
		return Constraint{}, fmt.Errorf("constraint %q: start is above end", f)
	}
	return Constraint{Lo: lo, Hi: hi, IsRange: true}, nil
}

func parseNum(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return v, nil
}

// Check validates a value against the type and constraints of sp and
// returns the rule it breaks, or "" when it passes.
func Check(sp Spec, value string) string {
	switch sp.Type {
	case SimpleString:
		if value == "" || strings.IndexFunc(value, unicode.IsSpace) >= 0 {
			return "simple_string must be non-empty with no white space"
		}
	case String:
		if value == "" {
			return "string must be non-empty"
		}
	case Filename:
		if value == "" || strings.IndexByte(value, 0) >= 0 {
			return "filename must be a non-empty path"
		}
	case Int, NonnegativeInt, Port:
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return string(sp.Type) + " must be an integer"
		}
		if sp.Type == NonnegativeInt && n < 0 {
			return "nonnegative_int must be ≥ 0"
		}
		if sp.Type == Port && (n < 1 || n > 65535) {
			return "port must be 1–65535"
		}
	case Real:
		if _, err := parseNum(value); err != nil {
			return "real must be a number"
		}
	}
	if len(sp.Constraints) == 0 {
		return ""
	}
	for _, c := range sp.Constraints {
		if c.IsRange {
			if v, err := parseNum(value); err == nil && v >= c.Lo && v <= c.Hi {
				return ""
			}
		} else if value == c.Literal {
			return ""
		}
	}
	parts := make([]string, len(sp.Constraints))
	for i, c := range sp.Constraints {
		parts[i] = c.String()
	}
	if sp.Type.numeric() {
		return "must be within " + strings.Join(parts, " or ")
	}
	return "must be one of " + strings.Join(parts, ", ")
}

// Declaration is what a service config said about one variable, before
// parsing: the raw strings of service_envar_V_* (SPEC §6.1).
type Declaration struct {
	Name                                    string
	Required                                bool
	Type, Constraints, Default, Desc        string
	HasType, HasConstr, HasDefault, HasDesc bool
	Secret                                  string // service_envar_V_secret
	HasSecret                               bool
}

// Declare turns a declaration into a Spec. The warning is non-empty when
// the type was guessed from a _PORT suffix (SPEC §6.2).
func Declare(d Declaration) (sp Spec, warning string, err error) {
	sp = Spec{Name: d.Name, Required: d.Required, Default: d.Default, HasDefault: d.HasDefault, Description: d.Desc, RawConstr: d.Constraints,
		Secret: SecretByName(d.Name)}
	if d.HasSecret {
		switch strings.TrimSpace(d.Secret) {
		case "1":
			sp.Secret = true
		case "0", "":
			sp.Secret = false
		default:
			return sp, "", fmt.Errorf("service_envar_%s_secret=%q: must be 1 (never show the value) or 0", d.Name, d.Secret)
		}
	}
	switch {
	case d.HasType && strings.TrimSpace(d.Type) != "":
		t, err := ParseType(d.Type)
		if err != nil {
			return sp, "", fmt.Errorf("service_envar_%s_type: %w", d.Name, err)
		}
		sp.Type = t
	case strings.HasSuffix(d.Name, "_PORT"):
		sp.Type, sp.Guessed = Port, true
		warning = fmt.Sprintf("%s has no service_envar_%s_type; taken as port because of its name", d.Name, d.Name)
	default:
		sp.Type, sp.Guessed = String, true
	}
	if d.HasConstr {
		c, err := ParseConstraints(sp.Type, d.Constraints)
		if err != nil {
			return sp, warning, fmt.Errorf("service_envar_%s_constraints: %w", d.Name, err)
		}
		sp.Constraints = c
	}
	return sp, warning, nil
}

// Source says where a resolved value came from (SPEC §6.5).
type Source string

// The sources of a value, in resolution order.
const (
	FromEnv     Source = "environment"
	FromPort    Source = "PORT_PREFIX+offset"
	FromDefault Source = "default"
)

// Value is one resolved variable.
type Value struct {
	Spec   Spec
	Value  string
	Source Source
}

// Problem is a variable that is missing or breaks its rule.
type Problem struct {
	Spec    Spec
	Value   string
	Rule    string
	Missing bool
}

// Error renders the problem the way an operator can act on it.
func (p Problem) Error() string {
	hint := ""
	if p.Spec.Description != "" {
		hint = " (" + p.Spec.Description + ")"
	}
	if p.Missing {
		where := "set it in etc/project.conf"
		if p.Spec.HasDefault {
			where = fmt.Sprintf("suggested: %s=%q in etc/project.conf (servicectl env --script)", p.Spec.Name, p.Spec.Shown(p.Spec.Default))
			if p.Spec.Secret {
				where = "set it in etc/project.conf.local (it is secret: its default is not shown)"
			}
		}
		if p.Spec.Type == Port {
			where += ", or set PORT_PREFIX and " + p.Spec.Name + "_OFFSET"
		}
		return fmt.Sprintf("%s is required but not set%s; %s", p.Spec.Name, hint, where)
	}
	return fmt.Sprintf("%s=%q: %s%s; fix it in etc/project.conf", p.Spec.Name, p.Spec.Shown(p.Value), p.Rule, hint)
}

// Result is the resolution of every declared variable of one service.
type Result struct {
	Values   []Value
	Problems []Problem
}

// OK reports whether the service may start.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// Resolve computes each variable's value by SPEC §6.5: the environment,
// then port arithmetic, then (optional variables only) the default.
func Resolve(specs []Spec, lookup func(string) (string, bool)) Result {
	var res Result
	for _, sp := range specs {
		v, src, ok := value(sp, lookup)
		if !ok {
			if sp.Required {
				res.Problems = append(res.Problems, Problem{Spec: sp, Missing: true, Rule: "required"})
			}
			continue
		}
		if rule := Check(sp, v); rule != "" {
			if src == FromPort {
				rule += " (computed as PORT_PREFIX + " + sp.Name + "_OFFSET)"
			}
			res.Problems = append(res.Problems, Problem{Spec: sp, Value: v, Rule: rule})
			continue
		}
		res.Values = append(res.Values, Value{Spec: sp, Value: v, Source: src})
	}
	return res
}

func value(sp Spec, lookup func(string) (string, bool)) (string, Source, bool) {
	if v, ok := lookup(sp.Name); ok {
		return v, FromEnv, true
	}
	if sp.Type == Port {
		pre, ok1 := lookup("PORT_PREFIX")
		off, ok2 := lookup(sp.Name + "_OFFSET")
		if ok1 && ok2 {
			a, err1 := strconv.ParseInt(strings.TrimSpace(pre), 10, 64)
			b, err2 := strconv.ParseInt(strings.TrimSpace(off), 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Sprintf("%s+%s", pre, off), FromPort, true
			}
			return strconv.FormatInt(a+b, 10), FromPort, true
		}
	}
	if !sp.Required && sp.HasDefault {
		return sp.Default, FromDefault, true
	}
	return "", "", false
}

// PortUse is one declared port variable's value in one service.
type PortUse struct {
	Service, Name, Value string
}

// Clash is two different variable names resolving to one port (SPEC §6.4).
type Clash struct {
	Port string
	A, B PortUse
}

func (c Clash) Error() string {
	return fmt.Sprintf("port %s is used by both %s (service %s) and %s (service %s); give one of them another value", c.Port, c.A.Name, c.A.Service, c.B.Name, c.B.Service)
}

// Clashes finds ports claimed by two different variable names. One name
// shared by several services (a server and its clients) is not a clash.
func Clashes(uses []PortUse) []Clash {
	byPort := map[string][]PortUse{}
	for _, u := range uses {
		byPort[u.Value] = append(byPort[u.Value], u)
	}
	ports := make([]string, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	var out []Clash
	for _, p := range ports {
		us := byPort[p]
		seen := map[string]PortUse{}
		var names []string
		for _, u := range us {
			if _, ok := seen[u.Name]; !ok {
				seen[u.Name] = u
				names = append(names, u.Name)
			}
		}
		for i := 1; i < len(names); i++ {
			out = append(out, Clash{Port: p, A: seen[names[0]], B: seen[names[i]]})
		}
	}
	return out
}
