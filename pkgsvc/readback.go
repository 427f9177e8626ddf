package pkgsvc

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"servicectl/envtypes"
	"servicectl/hooks"
	"servicectl/linkfarm"
)

// hookVars pairs each hook step with the variable that holds its code.
var hookVars = func() (out []struct{ step, varName string }) {
	for _, step := range append(append([]string{}, HookSteps...), ReplacementCmds...) {
		out = append(out, struct{ step, varName string }{step, "service_" + strings.ReplaceAll(step, "-", "_")})
	}
	return out
}()

// fromVars fills s from what its config left: the definition, the typed
// variables and the service environment.
func (p *Playpen) fromVars(s *Service, dirs []string, svcEnv [][2]string, vars hooks.Vars) error {
	if err := p.readBack(s, dirs, vars); err != nil {
		return &Error{Kind: KindConfig, Service: s.Name, Err: err}
	}
	if !s.Template && s.Instance != "" {
		return Errorf(KindUsage, s.Name, "%s is not a template (service_template=1), so it has no instances; use %s", s.Base, s.Base)
	}
	for _, kv := range svcEnv {
		vars.Set(kv[0], kv[1])
	}
	lookup := func(name string) (string, bool) {
		v, ok := vars.Get(name)
		return v.Value, ok
	}
	s.Typed = envtypes.Resolve(s.EnvSpecs, lookup)
	s.Env = serviceEnv(vars, s.Typed.Values, p.classpath(vars))
	// A bare template's sockets depend on its instance: resolved per
	// instance only.
	if v, ok := vars.Get("service_sockets"); (ok && v.Value != "" || v.IsArray) && !(s.Template && s.Instance == "") {
		r := &reader{vars: vars, files: s.ConfigFiles}
		typed := func(name string) (string, bool) {
			for _, tv := range s.Typed.Values {
				if tv.Spec.Name == name {
					return tv.Value, tv.Value != ""
				}
			}
			return lookup(name)
		}
		var err error
		if s.Sockets, err = parseSockets(r.list("service_sockets"), p.RunVar, typed); err != nil {
			r.bad("service_sockets", v.Value, err.Error())
			var unset *unsetPort
			if errors.As(err, &unset) && s.declares(unset.name) {
				// A typed variable not set yet: the environment check
				// says so, with how to set it (§6); the definition still
				// resolves, and a launch refuses with this.
				s.SocketsPending = r.errs[0]
				return nil
			}
			return &Error{Kind: KindConfig, Service: s.Name, Err: errors.New(r.errs[0])}
		}
	}
	return nil
}

// serviceEnv is the environment a service gets (SPEC §2.4): the exported
// string variables, the typed values as resolved, CLASSPATH when built;
// sorted KEY=VALUE.
func serviceEnv(vars hooks.Vars, typed []envtypes.Value, classpath string) []string {
	over := make(map[string]string, len(typed)+1)
	for _, v := range typed {
		over[v.Spec.Name] = v.Value
	}
	if classpath != "" {
		over["CLASSPATH"] = classpath
	}
	out := make([]string, 0, vars.Len()+len(over))
	vars.Exported(func(k, v string) {
		if _, ok := over[k]; !ok {
			out = append(out, k+"="+v)
		}
	})
	for k, v := range over {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// knownVars are the service_* names of SPEC §3.3; anything else with that
// prefix (but service_envar_*) is a typo until proven otherwise.
var knownVars = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`program run_name flags workdir pre_start post_start pre_stop post_stop
		start stop restart ping test restart_delay hup stop_signal stop_timeout start_secs own_pidfile
		no_pidfile no_symlink depends config_files java_classpath_dirs java_classpath_jars user group nice
		restart_on_dep_upgrade stop_on_dep_upgrade stop_on_upgrade filedeps stop_on_filedep
		restart_on_crash ping_interval log_max_bytes log_keep required_envars optional_envars template
		health_timeout rolling_batch sockets`) {
		knownVars["service_"+n] = true
	}
}

type reader struct {
	vars  hooks.Vars
	files []string
	errs  []string
}

// file names the config files in messages; built only for one.
func (r *reader) file() string { return strings.Join(r.files, ", ") }

func (r *reader) str(name, def string) string {
	if v, ok := r.vars.Get(name); ok {
		return v.Value
	}
	return def
}

func (r *reader) list(name string) []string {
	v, ok := r.vars.Get(name)
	if !ok {
		return nil
	}
	if v.IsArray {
		return append([]string(nil), v.List...)
	}
	return strings.Fields(v.Value)
}

func (r *reader) bad(name, value, rule string) {
	where := r.file()
	if f, l, ok := hooks.AssignedAt(r.files, name); ok {
		where = fmt.Sprintf("%s:%d", f, l) // the line that sets it
	}
	r.errs = append(r.errs, fmt.Sprintf("%s=%q in %s: %s", name, value, where, rule))
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.vars.Get(name)
	if !ok || v.Value == "" {
		return def
	}
	switch v.Value {
	case "1", "true", "yes":
		return true
	case "0", "false", "no":
		return false
	}
	r.bad(name, v.Value, "must be 1 or 0")
	return def
}

func (r *reader) seconds(name string, def float64) float64 {
	v, ok := r.vars.Get(name)
	if !ok || v.Value == "" {
		return def
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || f < 0 || f != f || f > 1e6 {
		r.bad(name, v.Value, "must be a number of seconds ≥ 0")
		return def
	}
	return f
}

func (r *reader) integer(name string, def int64, min, max int64) int64 {
	v, ok := r.vars.Get(name)
	if !ok || v.Value == "" {
		return def
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil || n < min || n > max {
		r.bad(name, v.Value, fmt.Sprintf("must be an integer from %d to %d", min, max))
		return def
	}
	return n
}

// Signals accepted by service_stop_signal, by name without SIG.
var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "HUP": syscall.SIGHUP,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH,
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "PWR": syscall.SIGPWR,
}

func parseSignal(s string) (syscall.Signal, string, bool) {
	u := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if sig, ok := signals[u]; ok {
		return sig, u, true
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), s, true
	}
	return 0, "", false
}

func (p *Playpen) readBack(s *Service, dirs []string, vars hooks.Vars) error {
	r := &reader{vars: vars, files: s.ConfigFiles}
	var names []string
	for _, k := range vars.Names("service_") {
		if !knownVars[k] && !strings.HasPrefix(k, "service_envar_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		s.Warnings = append(s.Warnings, fmt.Sprintf("unknown variable %s in %s (a typo?)", k, r.file()))
	}

	p.readSettings(r, s)
	s.Hooks = map[string]Hook{}
	for _, st := range hookVars {
		h := Hook{Code: r.str(st.varName, ""), File: p.firstFile(dirs, st.step)}
		if !h.Empty() {
			s.Hooks[st.step] = h
		}
	}

	// Run name (§3.3 default, §4.2 composition).
	runBase := r.str("service_run_name", "")
	if runBase == "" {
		runBase = s.Base
		if !s.Project {
			if svcs, err := p.packageServices(s.Package, s.Version); err == nil && len(svcs) == 1 {
				runBase = s.Package
			}
		}
	}
	if err := ValidName("run", runBase); err != nil {
		r.bad("service_run_name", runBase, "not a valid name")
	}
	s.RunName = linkfarm.RunName(runBase, s.Instance, p.baseValue("PLAYPEN_TAG"))

	p.readProgram(r, s)
	readEnvSpecs(r, s, vars)
	if len(r.errs) > 0 {
		return fmt.Errorf("%s", strings.Join(r.errs, "; "))
	}
	return nil
}

// readSettings reads the scalar settings of §3.3 (SPEC's table order)
// into s, noting bad values in r.
func (p *Playpen) readSettings(r *reader, s *Service) {
	s.Template = r.boolean("service_template", false)
	s.Flags = r.list("service_flags")
	if s.Flags == nil {
		s.Flags = []string{}
	}
	s.Workdir = r.str("service_workdir", p.Root)
	if s.Workdir == "" {
		s.Workdir = p.Root
	} else if !filepath.IsAbs(s.Workdir) {
		s.Workdir = p.Path(s.Workdir)
	}
	s.RestartDelay = r.seconds("service_restart_delay", 0)
	s.HUP = r.boolean("service_hup", false)
	sigName := r.str("service_stop_signal", "TERM")
	if sig, name, ok := parseSignal(sigName); ok {
		s.StopSignal, s.StopSigName = sig, name
	} else {
		r.bad("service_stop_signal", sigName, "must be a signal name (TERM, INT, QUIT, HUP, USR1, ...) or number")
	}
	s.StopTimeout = r.seconds("service_stop_timeout", 10)
	s.StartSecs = r.seconds("service_start_secs", 0.5)
	s.OwnPidfile = r.boolean("service_own_pidfile", false)
	s.NoPidfile = r.boolean("service_no_pidfile", false)
	s.NoSymlink = r.boolean("service_no_symlink", false)
	s.Depends = r.list("service_depends")
	for _, d := range s.Depends {
		if _, _, err := SplitInstance(d); err != nil {
			r.bad("service_depends", d, "not a service name")
		}
	}
	s.RenderFiles = r.list("service_config_files")
	s.User = r.str("service_user", "")
	s.Group = r.str("service_group", "")
	if r.vars.Value("service_nice") != "" {
		n := int(r.integer("service_nice", 0, -20, 19))
		s.Nice = &n
	}
	s.PingInterval = r.seconds("service_ping_interval", 0)
	s.HealthTimeout = r.seconds("service_health_timeout", 10)
	s.RollingBatch = int(r.integer("service_rolling_batch", 1, 1, 1000))
	s.LogMaxBytes = r.integer("service_log_max_bytes", 10485760, 0, 1<<50)
	s.LogKeep = int(r.integer("service_log_keep", 5, 0, 1000))
	s.Policies = Policies{
		RestartOnDepUpgrade: r.boolean("service_restart_on_dep_upgrade", true),
		StopOnDepUpgrade:    r.boolean("service_stop_on_dep_upgrade", true),
		StopOnUpgrade:       r.boolean("service_stop_on_upgrade", true),
		StopOnFiledep:       r.boolean("service_stop_on_filedep", false),
		Filedeps:            r.list("service_filedeps"),
		RestartOnCrash:      r.boolean("service_restart_on_crash", true),
	}
	if s.Policies.Filedeps == nil {
		s.Policies.Filedeps = []string{}
	}
	if s.Depends == nil {
		s.Depends = []string{}
	}

}

// readProgram reads service_program: where it is, and what it needs
// (a pidfile-less service needs ping and stop).
func (p *Playpen) readProgram(r *reader, s *Service) {
	prog := r.str("service_program", "")
	custom := s.Hooks["start"]
	switch {
	case prog == "" && custom.Empty():
		r.errs = append(r.errs, fmt.Sprintf("service_program is not set in %s (and no service_start replaces it)", r.file()))
	case prog != "":
		s.programArg = prog
		path, perr := p.resolveProgram(prog)
		if perr != nil {
			s.ProgramErr = perr.Error()
		}
		s.Program = path
		if filepath.Base(prog) == "java" {
			s.NoSymlink = true
		}
	}
	if s.NoPidfile {
		if s.Hooks["ping"].Empty() {
			r.errs = append(r.errs, "service_no_pidfile=1 needs service_ping (or a ping hook) to tell whether it runs")
		}
		if s.Hooks["stop"].Empty() {
			r.errs = append(r.errs, "service_no_pidfile=1 needs service_stop (or a stop hook) to stop it")
		}
	}
	if !s.NoSymlink && s.Program != "" {
		s.LinkPath = filepath.Join(p.LinkDir, s.RunName)
	}

}

// readEnvSpecs reads the typed variables a service declares (§6.1).
func readEnvSpecs(r *reader, s *Service, vars hooks.Vars) {
	for _, req := range []bool{true, false} {
		listName := "service_optional_envars"
		if req {
			listName = "service_required_envars"
		}
		for _, name := range r.list(listName) {
			d := envtypes.Declaration{Name: name, Required: req}
			pfx := "service_envar_" + name + "_"
			d.Type, d.HasType = get(vars, pfx+"type")
			d.Constraints, d.HasConstr = get(vars, pfx+"constraints")
			d.Default, d.HasDefault = get(vars, pfx+"default")
			d.Desc, d.HasDesc = get(vars, pfx+"description")
			d.Secret, d.HasSecret = get(vars, pfx+"secret")
			sp, warning, err := envtypes.Declare(d)
			if err != nil {
				r.errs = append(r.errs, fmt.Sprintf("%v (in %s)", err, r.file()))
				continue
			}
			if warning != "" {
				s.Warnings = append(s.Warnings, warning)
			}
			s.EnvSpecs = append(s.EnvSpecs, sp)
		}
	}
}

func get(vars hooks.Vars, name string) (string, bool) {
	v, ok := vars.Get(name)
	return v.Value, ok
}
