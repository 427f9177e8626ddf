package envtypes

import (
	"strings"
	"testing"
)

func spec(t *testing.T, name string, typ Type, constr string) Spec {
	t.Helper()
	d := Declaration{Name: name, Required: true, Type: string(typ), HasType: typ != ""}
	if constr != "" {
		d.Constraints, d.HasConstr = constr, true
	}
	sp, _, err := Declare(d)
	if err != nil {
		t.Fatalf("Declare(%s): %v", name, err)
	}
	return sp
}

func TestCheck(t *testing.T) {
	cases := []struct {
		typ    Type
		constr string
		value  string
		ok     bool
	}{
		{SimpleString, "", "abc", true},
		{SimpleString, "", "a b", false},
		{SimpleString, "", "", false},
		{SimpleString, "red green", "green", true},
		{SimpleString, "red green", "blue", false},
		{String, "", "a b", true},
		{String, "", "", false},
		{Filename, "", "/var/x", true},
		{Filename, "", "", false},
		{Int, "", "-5", true},
		{Int, "", "5.5", false},
		{Int, "", "ten", false},
		{Int, "-10--1", "-5", true},
		{Int, "-10--1", "0", false},
		{Int, "-10--1 5", "5", true},
		{NonnegativeInt, "", "0", true},
		{NonnegativeInt, "", "-1", false},
		{Real, "", "1.5", true},
		{Real, "", "x", false},
		{Real, "0.5-1.5", "1.5", true},
		{Real, "0.5-1.5", "1.51", false},
		{Real, "-1.5--0.5", "-1", true},
		{Port, "", "8080", true},
		{Port, "", "0", false},
		{Port, "", "65536", false},
		{Port, "", "80800", false},
		{Port, "1024-65535", "80", false},
		{Port, "1024-65535", "1024", true},
	}
	for _, c := range cases {
		sp := spec(t, "V", c.typ, c.constr)
		rule := Check(sp, c.value)
		if (rule == "") != c.ok {
			t.Errorf("Check(%s %q, %q) = %q, want ok=%v", c.typ, c.constr, c.value, rule, c.ok)
		}
	}
}

func TestParseConstraintsErrors(t *testing.T) {
	for _, bad := range []string{"a-b", "5-1", "1-", "--", "1-2-3x"} {
		if _, err := ParseConstraints(Int, bad); err == nil {
			t.Errorf("ParseConstraints(%q) accepted", bad)
		}
	}
	cs, err := ParseConstraints(Int, "-10--1 3 100-200")
	if err != nil || len(cs) != 3 || cs[0].Lo != -10 || cs[0].Hi != -1 || cs[1].Lo != 3 || cs[2].Hi != 200 {
		t.Fatalf("got %+v, %v", cs, err)
	}
}

func TestPortGuessAndDefaultType(t *testing.T) {
	sp, warn, err := Declare(Declaration{Name: "WEB_PORT"})
	if err != nil || sp.Type != Port || !sp.Guessed || !strings.Contains(warn, "WEB_PORT") {
		t.Fatalf("WEB_PORT: %+v %q %v", sp, warn, err)
	}
	sp, warn, err = Declare(Declaration{Name: "NAME"})
	if err != nil || sp.Type != String || warn != "" {
		t.Fatalf("NAME: %+v %q %v", sp, warn, err)
	}
	if _, _, err := Declare(Declaration{Name: "X", Type: "integer", HasType: true}); err == nil || !strings.Contains(err.Error(), "service_envar_X_type") {
		t.Fatalf("unknown type accepted or badly named: %v", err)
	}
}

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestResolveOrder(t *testing.T) {
	port := spec(t, "WEB_PORT", Port, "")
	// Environment wins over arithmetic.
	r := Resolve([]Spec{port}, env("WEB_PORT", "9000", "PORT_PREFIX", "8000", "WEB_PORT_OFFSET", "80"))
	if !r.OK() || r.Values[0].Value != "9000" || r.Values[0].Source != FromEnv {
		t.Fatalf("env: %+v", r)
	}
	r = Resolve([]Spec{port}, env("PORT_PREFIX", "8000", "WEB_PORT_OFFSET", "80"))
	if !r.OK() || r.Values[0].Value != "8080" || r.Values[0].Source != FromPort {
		t.Fatalf("arithmetic: %+v", r)
	}
	// The computed value must pass the type.
	r = Resolve([]Spec{port}, env("PORT_PREFIX", "65500", "WEB_PORT_OFFSET", "80"))
	if r.OK() || !strings.Contains(r.Problems[0].Rule, "1–65535") {
		t.Fatalf("overflow: %+v", r)
	}
	// A required variable's default is a suggestion, never applied.
	req := Spec{Name: "DB", Required: true, Type: String, Default: "x", HasDefault: true}
	r = Resolve([]Spec{req}, env())
	if r.OK() || !r.Problems[0].Missing || !strings.Contains(r.Problems[0].Error(), "suggested") {
		t.Fatalf("required default: %+v", r)
	}
	opt := Spec{Name: "LEVEL", Type: Int, Default: "3", HasDefault: true}
	r = Resolve([]Spec{opt}, env())
	if !r.OK() || r.Values[0].Value != "3" || r.Values[0].Source != FromDefault {
		t.Fatalf("optional default: %+v", r)
	}
	r = Resolve([]Spec{{Name: "LEVEL", Type: Int}}, env())
	if !r.OK() || len(r.Values) != 0 {
		t.Fatalf("optional unset: %+v", r)
	}
	// A bad value names the variable, the value and the rule.
	r = Resolve([]Spec{port}, env("WEB_PORT", "80800"))
	msg := r.Problems[0].Error()
	for _, want := range []string{"WEB_PORT", "80800", "port must be 1–65535"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestClashes(t *testing.T) {
	cs := Clashes([]PortUse{
		{"db", "DB_PORT", "5432"}, {"app", "DB_PORT", "5432"}, // shared name: fine
		{"web", "WEB_PORT", "8080"}, {"api", "API_PORT", "8080"},
	})
	if len(cs) != 1 || cs[0].Port != "8080" || !strings.Contains(cs[0].Error(), "WEB_PORT") || !strings.Contains(cs[0].Error(), "API_PORT") {
		t.Fatalf("clashes: %+v", cs)
	}
}

func FuzzConstraints(f *testing.F) {
	for _, s := range []string{"1-2", "-10--1", "0.5-1.5", "5", "a b", "--", "-", "1e5-2e5", "1--", "NaN", "Inf-Inf"} {
		f.Add(s, "3")
	}
	f.Fuzz(func(t *testing.T, constr, value string) {
		for _, ty := range []Type{Int, Real, Port, SimpleString} {
			cs, err := ParseConstraints(ty, constr)
			if err != nil {
				continue
			}
			for _, c := range cs {
				if c.IsRange && c.Lo > c.Hi {
					t.Fatalf("%q: range %v > %v", constr, c.Lo, c.Hi)
				}
			}
			Check(Spec{Name: "V", Type: ty, Constraints: cs}, value)
		}
	})
}
