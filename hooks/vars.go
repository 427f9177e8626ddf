package hooks

import (
	"context"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/expand"
)

// Vars returns every variable of the session, set or exported.
func (s *Session) Vars() map[string]Var { return Vars{m: s.rawVars()}.Map() }

// rawVars is the interpreter's view of every variable: after a Run, its
// Vars map holds every visible variable, the environment's too; before
// any, only the environment exists.
func (s *Session) rawVars() map[string]expand.Variable {
	if s.ran {
		return s.r.Vars
	}
	out := map[string]expand.Variable{}
	s.r.Env.Each(func(name string, v expand.Variable) bool {
		if v.IsSet() {
			out[name] = v
		}
		return true
	})
	return out
}

// view is convert without copying an indexed array's elements.
func view(v expand.Variable) Var {
	switch v.Kind {
	case expand.Indexed:
		return Var{Value: strings.Join(v.List, " "), List: v.List, IsArray: true, Exported: v.Exported}
	case expand.Associative:
		return convert(v)
	}
	return Var{Value: v.Str, Exported: v.Exported}
}

func convert(v expand.Variable) Var {
	switch v.Kind {
	case expand.Indexed:
		return Var{Value: strings.Join(v.List, " "), List: append([]string(nil), v.List...), IsArray: true, Exported: v.Exported}
	case expand.Associative:
		keys := make([]string, 0, len(v.Map))
		for k := range v.Map {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = v.Map[k]
		}
		return Var{Value: strings.Join(vals, " "), List: vals, IsArray: true, Exported: v.Exported}
	}
	return Var{Value: v.Str, Exported: v.Exported}
}

// Environ returns the exported variables as KEY=VALUE, sorted: what a
// process started from this session would inherit.
func (s *Session) Environ() []string {
	vars := s.Vars()
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		if v.Exported && !v.IsArray {
			out = append(out, k+"="+v.Value)
		}
	}
	sort.Strings(out)
	return out
}

// SourceOpts sources files in a fresh session made from opts and returns
// every variable as a map.
func SourceOpts(opts Options, files []string, allExport bool) (map[string]Var, error) {
	var out map[string]Var
	err := SourceVars(opts, files, allExport, func(v Vars) error {
		out = v.Map()
		return nil
	})
	return out, err
}

// SourceVars sources files in a fresh session made from opts, bounded as
// a whole by ConfigTimeout, and hands the variables to fn, which must not keep v past its return (values
// taken from it are the caller's). With a Cache, and no stdout or
// arguments (a config, not a hook), the session is a reused one reset to
// opts.Env: a Reset keeps the interpreter's maps and handlers, and clears
// every variable, function and option. Nothing is copied: fn reads the
// interpreter's own map.
func SourceVars(opts Options, files []string, allExport bool, fn func(v Vars) error) error {
	var s *Session
	key, pooled := poolKey(opts)
	if pooled {
		if v, ok := opts.Cache.pool(key).Get().(*Session); ok {
			s = v
			s.r.Env = environ(opts)
			s.r.Reset()
			s.reset()
		}
	}
	if s == nil {
		var err error
		if s, err = NewSession(opts); err != nil {
			return err
		}
	}
	parent := opts.Ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, ConfigTimeout)
	defer cancel()
	s.config = true
	s.adoptContext(ctx, cancel)
	// Done before the session goes back to the pool: another command
	// may take it at once (deferred, this raced with its reset).
	cleanup := func() {
		s.closeFds()
		s.adoptContext(nil, nil)
	}
	for _, f := range files {
		if err := IgnoreStatus(s.source(ctx, f, allExport, false)); err != nil {
			cleanup()
			return err
		}
	}
	err := fn(Vars{m: s.rawVars()})
	cleanup()
	if pooled {
		// Only a session that finished cleanly goes back for reuse.
		opts.Cache.pool(key).Put(s)
	}
	return err
}

// Vars are the variables a sourced config left, environment included:
// a view of the interpreter's map, valid during a SourceVars callback.
// List slices are shared, not copied; do not modify them.
type Vars struct{ m map[string]expand.Variable }

// Get reads one variable as the config left it. A name declared but never
// given a value is absent, as `${X+set}` would say in sh.
func (v Vars) Get(name string) (Var, bool) {
	x, ok := v.m[name]
	if !ok || !x.IsSet() {
		return Var{}, false
	}
	return view(x), true
}

// Value is Get for callers to whom unset and empty mean the same.
func (v Vars) Value(name string) string {
	x, _ := v.Get(name)
	return x.Value
}

// Len bounds the number of variables, for sizing what is built from them.
func (v Vars) Len() int { return len(v.m) }

// Exported walks what a process started from the session would inherit:
// exported string variables (sh cannot export an array).
func (v Vars) Exported(fn func(name, value string)) {
	for name, x := range v.m {
		if x.IsSet() && x.Exported && x.Kind != expand.Indexed && x.Kind != expand.Associative {
			fn(name, view(x).Value)
		}
	}
}

// Names lists the set variables under a prefix (service_*, to catch
// misspelt settings) without converting any value.
func (v Vars) Names(prefix string) []string {
	var out []string
	for name, x := range v.m {
		if strings.HasPrefix(name, prefix) && x.IsSet() {
			out = append(out, name)
		}
	}
	return out
}

// Set puts an exported string variable over whatever the config left:
// values servicectl owns (SERVICE_NAME, ...) win over a config's.
func (v Vars) Set(name, value string) {
	v.m[name] = expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: value}
}

// Map copies the variables out, for a caller that keeps them past the
// SourceVars callback.
func (v Vars) Map() map[string]Var {
	out := make(map[string]Var, len(v.m))
	for name, x := range v.m {
		if x.IsSet() {
			out[name] = convert(x)
		}
	}
	return out
}
