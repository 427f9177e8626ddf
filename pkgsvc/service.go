package pkgsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"servicectl/internal/fsio"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"servicectl/envtypes"
	"servicectl/hooks"
	"servicectl/linkfarm"
)

// Hook steps (SPEC §5.1) and replacement commands (§5.3).
var (
	HookSteps       = []string{"pre-start", "post-start", "pre-stop", "post-stop"}
	ReplacementCmds = []string{"start", "stop", "restart", "ping", "test"}
)

// Hook is what runs at one step: sh code from the config variable, then
// the first hook file found. Either may be empty.
type Hook struct {
	Code string `json:"code,omitempty"`
	File string `json:"file,omitempty"`
}

// Empty reports whether nothing runs at this step.
func (h Hook) Empty() bool { return h.Code == "" && h.File == "" }

// Policies are the upgrade policy variables of SPEC §3.3 / §8.2.
type Policies struct {
	RestartOnDepUpgrade bool     `json:"service_restart_on_dep_upgrade"`
	StopOnDepUpgrade    bool     `json:"service_stop_on_dep_upgrade"`
	StopOnUpgrade       bool     `json:"service_stop_on_upgrade"`
	StopOnFiledep       bool     `json:"service_stop_on_filedep"`
	Filedeps            []string `json:"service_filedeps"`
	RestartOnCrash      bool     `json:"service_restart_on_crash"`
}

// Service is a resolved definition: everything servicectl needs to start,
// stop and judge the service, and nothing started. Resolve builds it.
type Service struct {
	Name     string `json:"service"`  // as addressed: web or web@blue
	Base     string `json:"template"` // the definition's name (web)
	Instance string `json:"instance"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Project  bool   `json:"project"`
	Template bool   `json:"is_template"`

	Program     string   `json:"program"` // resolved absolute path ("" with a custom start)
	ProgramErr  string   `json:"program_error,omitempty"`
	programArg  string   // service_program as written
	Flags       []string `json:"flags"`
	RunName     string   `json:"run_name"`
	LinkPath    string   `json:"link_path,omitempty"`
	NoSymlink   bool     `json:"no_symlink"`
	Workdir     string   `json:"workdir"`
	Env         []string `json:"environment"` // the service environment (§2.4), sorted
	ConfigFiles []string `json:"config_files_sourced"`
	// Sockets are the listening sockets it is handed (service_sockets,
	// §4.11), resolved against its environment.
	Sockets []Socket `json:"sockets,omitempty"`
	// socketsPending is why Sockets could not be resolved: a port
	// variable it declares has no value yet (a launch refuses).
	socketsPending string

	Hooks map[string]Hook `json:"hooks"`

	RestartDelay float64        `json:"restart_delay"`
	HUP          bool           `json:"hup"`
	StopSignal   syscall.Signal `json:"-"`
	StopSigName  string         `json:"stop_signal"`
	StopTimeout  float64        `json:"stop_timeout"`
	StartSecs    float64        `json:"start_secs"`
	OwnPidfile   bool           `json:"own_pidfile"`
	NoPidfile    bool           `json:"no_pidfile"`
	Depends      []string       `json:"depends"`
	RenderFiles  []string       `json:"config_files"`
	User         string         `json:"user,omitempty"`
	Group        string         `json:"group,omitempty"`
	Nice         *int           `json:"nice,omitempty"`
	PingInterval float64        `json:"ping_interval"`
	// HealthTimeout bounds the health gate of an upgrade (issue 16): a
	// service it starts or restarts must pass its check within it.
	HealthTimeout float64 `json:"health_timeout"`
	// RollingBatch is how many instances of a template an upgrade
	// restarts at a time, each batch gated on health before the next.
	RollingBatch int      `json:"rolling_batch"`
	LogMaxBytes  int64    `json:"log_max_bytes"`
	LogKeep      int      `json:"log_keep"`
	Policies     Policies `json:"policies"`

	EnvSpecs []envtypes.Spec `json:"-"`
	Typed    envtypes.Result `json:"-"`
	Warnings []string        `json:"warnings"`
}

// Pidfile, OutputFile, StateFile and LockFile are the per-service files
// of SPEC §1.3.
func (s *Service) Pidfile(p *Playpen) string    { return filepath.Join(p.RunVar, s.Name+".pid") }
func (s *Service) OutputFile(p *Playpen) string { return filepath.Join(p.RunVar, s.Name+".output") }
func (s *Service) StateFile(p *Playpen) string  { return filepath.Join(p.RunVar, s.Name+".state") }
func (s *Service) LockFile(p *Playpen) string   { return filepath.Join(p.RunVar, s.Name+".lock") }

// Lookup finds a service by name without reading its config: its package,
// version and whether it is a project service. An unknown name is exit 4.
func (p *Playpen) Lookup(full string) (base, instance string, reg Registered, project bool, err error) {
	sn := p.c()
	base, instance, err = SplitInstance(full)
	if err != nil {
		return
	}
	if err = p.loadIndexOf(sn); err != nil {
		return
	}
	if r, ok := sn.regIndex[base]; ok {
		return base, instance, r, false, nil
	}
	if sn.projIndex[base] {
		return base, instance, Registered{Service: base}, true, nil
	}
	err = errf(KindUnknown, full, "unknown service: not in ext/etc/installed-services or etc/project-services (see `servicectl list --all`)")
	return
}

// configDirs are the directories searched for config passes and hook
// files, most specific first (SPEC §3.1, §5.1).
func (p *Playpen) configDirs(base, version string, project bool) []string {
	if project {
		return []string{p.Path("services", base)}
	}
	sv := base + "-" + version
	return []string{p.Path("services", sv), p.Path("services", base), filepath.Join(p.extServicesDir(), sv)}
}

// firstFile returns the first dirs/name that is a file. Directory
// listings are read once per Playpen: resolving a service must not cost a
// stat per candidate file (SPEC §3.1 and §5.1 name a dozen of them).
func (p *Playpen) firstFile(dirs []string, name string) string {
	for _, d := range dirs {
		if p.listDir(d)[name] {
			return filepath.Join(d, name)
		}
	}
	return ""
}

// hookVars pairs each hook step with the variable that holds its code.
var hookVars = func() (out []struct{ step, varName string }) {
	for _, step := range append(append([]string{}, HookSteps...), ReplacementCmds...) {
		out = append(out, struct{ step, varName string }{step, "service_" + strings.ReplaceAll(step, "-", "_")})
	}
	return out
}()

// listDir returns the regular files (or links) of dir by name, cached.
func (p *Playpen) listDir(dir string) map[string]bool {
	sn := p.c()
	p.mu.Lock()
	if m, ok := sn.dirs[dir]; ok {
		p.mu.Unlock()
		return m
	}
	if sn.dirs == nil {
		sn.dirs = map[string]map[string]bool{}
	}
	// Only look inside directories that the parent lists: most of the
	// candidate directories do not exist.
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if pm, ok := sn.dirs[parent+"/"]; ok && !pm[base] {
		sn.dirs[dir] = nil
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	// Read without the lock: resolving in parallel is mostly this.
	var m map[string]bool
	if ents, err := fsio.ReadDir(dir); err == nil {
		m = make(map[string]bool, len(ents))
		for _, e := range ents {
			if e.Type == 0 || e.Type == os.ModeSymlink {
				m[e.Name] = true
			}
		}
	}
	p.mu.Lock()
	sn.dirs[dir] = m
	p.mu.Unlock()
	return m
}

// primeDirs lists the parents of the per-service config directories once,
// before resolving many services: then a candidate directory the parent
// does not list costs nothing. One service is cheaper without it (its
// few candidates fail to open faster than a parent of 1,000 is listed).
func (p *Playpen) primeDirs() {
	sn := p.c()
	p.mu.Lock()
	defer p.mu.Unlock()
	if sn.dirs == nil {
		sn.dirs = map[string]map[string]bool{}
	}
	for _, parent := range []string{p.Path("services"), p.extServicesDir()} {
		if _, ok := sn.dirs[parent+"/"]; ok {
			continue
		}
		m := map[string]bool{}
		if ents, err := fsio.ReadDir(parent); err == nil {
			for _, e := range ents {
				m[e.Name] = true
			}
		}
		sn.dirs[parent+"/"] = m
	}
}

// Resolve reads a service's definition (SPEC §3) and its typed environment
// (§6). It starts nothing; results are cached for the Playpen's life.
func (p *Playpen) Resolve(full string) (*Service, error) {
	return p.ResolveContext(context.Background(), full)
}

// ResolveContext is Resolve whose config evaluation ends when ctx does
// (a supervisor shutting down, an HTTP client gone).
func (p *Playpen) ResolveContext(ctx context.Context, full string) (*Service, error) {
	s, fresh, err := p.resolveCached(ctx, full)
	if fresh {
		p.warnAll(s)
	}
	return s, err
}

// resolveCached is Resolve without the warnings, which the caller prints
// (in name order when resolving in parallel); fresh says this call did
// the work.
func (p *Playpen) resolveCached(ctx context.Context, full string) (*Service, bool, error) {
	sn := p.c()
	p.mu.Lock()
	if s, ok := sn.defs[full]; ok {
		p.mu.Unlock()
		return s, false, nil
	}
	if err, ok := sn.defErrs[full]; ok {
		p.mu.Unlock()
		return nil, false, err
	}
	if c, ok := sn.resolving[full]; ok {
		// Another goroutine is evaluating this config: wait for it, so
		// that a config runs once per command (issue 10).
		p.mu.Unlock()
		<-c
		return p.resolveCached(ctx, full)
	}
	if sn.resolving == nil {
		sn.resolving = map[string]chan struct{}{}
	}
	done := make(chan struct{})
	sn.resolving[full] = done
	p.mu.Unlock()

	s, err := p.resolve(ctx, full)

	p.mu.Lock()
	defer func() {
		delete(sn.resolving, full)
		p.mu.Unlock()
		close(done)
	}()
	if err != nil {
		// Kept, so a config is evaluated once per command even when it
		// fails: a slow or side-effecting one must not run again.
		if sn.defErrs == nil {
			sn.defErrs = map[string]error{}
		}
		sn.defErrs[full] = err
		return nil, false, err
	}
	if sn.defs == nil {
		sn.defs = map[string]*Service{}
	}
	sn.defs[full] = s
	return s, true, nil
}

func (p *Playpen) warnAll(s *Service) {
	for _, w := range s.Warnings {
		p.warn(s.Name, "%s", w)
	}
}

func (p *Playpen) resolve(ctx context.Context, full string) (*Service, error) {
	base, instance, reg, project, err := p.Lookup(full)
	if err != nil {
		return nil, err
	}
	env, err := p.BaseEnv()
	if err != nil {
		return nil, wrap(KindConfig, full, err)
	}
	s := &Service{Name: full, Base: base, Instance: instance, Package: reg.Package, Version: reg.Version, Project: project}
	dirs := p.configDirs(base, reg.Version, project)
	if s.ConfigFiles, err = p.configFiles(full, base, dirs); err != nil {
		return nil, err
	}
	svcEnv := [...][2]string{
		{"SERVICE_NAME", base},
		{"SERVICE_VERSION", reg.Version},
		{"SERVICE_PACKAGE", reg.Package},
		{"SERVICE_INSTANCE", instance},
		{"SERVICE_PIDFILE", s.Pidfile(p)},
		{"SERVICE_OUTPUT_FILE", s.OutputFile(p)},
		{"SERVICE_UPGRADED", "0"},
	}
	over := make([]string, 0, len(svcEnv))
	for _, kv := range svcEnv {
		over = append(over, kv[0]+"="+kv[1])
	}
	var readErr error
	err = hooks.SourceVars(hooks.Options{Base: p.baseEnviron(env), Env: over, Dir: p.Root, Stderr: p.configStderr(), Cache: &p.c().parsed, Ctx: ctx}, s.ConfigFiles, false, func(vars hooks.Vars) error {
		readErr = p.fromVars(s, dirs, svcEnv[:], vars)
		return nil
	})
	if err != nil {
		return nil, &Error{Kind: KindConfig, Service: full, Err: fmt.Errorf("config: %w", err)}
	}
	if readErr != nil {
		return nil, readErr
	}
	return s, nil
}

// configFiles are the files of the three passes of SPEC §3.1.
func (p *Playpen) configFiles(full, base string, dirs []string) ([]string, error) {
	var files []string
	for _, pass := range []string{"config.pre", "config", "config.post"} {
		if f := p.firstFile(dirs, pass); f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, errf(KindConfig, full, "no config found (looked for %s); for a package service run `servicectl new-service %s`", filepath.Join(dirs[len(dirs)-1], "config"), base)
	}
	return files, nil
}

// ConfigCommand is a command a configuration file may run (hooks.Command).
type ConfigCommand = hooks.Command

// ServiceCommandsReport is the JSON shape of `show --commands`.
type ServiceCommandsReport struct {
	Service  string          `json:"service"`
	Commands []ConfigCommand `json:"commands"`
}

// Rel shows a path inside the playpen relative to its root.
func (p *Playpen) Rel(path string) string {
	if r, err := filepath.Rel(p.Root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// ServiceCommands lists the commands a service's configuration would run
// (load-config files first, then the service's config passes) without
// evaluating anything: a config runs whenever servicectl reads it, so it
// must not have side effects, and this is how to check.
func (p *Playpen) ServiceCommands(full string) ([]ConfigCommand, error) {
	base, _, reg, project, err := p.Lookup(full)
	if err != nil {
		return nil, err
	}
	files := p.LoadConfigFiles()
	own, err := p.configFiles(full, base, p.configDirs(base, reg.Version, project))
	if err != nil {
		return nil, err
	}
	out := []ConfigCommand{}
	for _, f := range append(files, own...) {
		cmds, err := hooks.Commands(f)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Service: full, Err: fmt.Errorf("config: %w", err)}
		}
		out = append(out, cmds...)
	}
	return out, nil
}

// fromVars fills s from what its config left: the definition, the typed
// variables and the service environment.
func (p *Playpen) fromVars(s *Service, dirs []string, svcEnv [][2]string, vars hooks.Vars) error {
	if err := p.readBack(s, dirs, vars); err != nil {
		return &Error{Kind: KindConfig, Service: s.Name, Err: err}
	}
	if !s.Template && s.Instance != "" {
		return errf(KindUsage, s.Name, "%s is not a template (service_template=1), so it has no instances; use %s", s.Base, s.Base)
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
				s.socketsPending = r.errs[0]
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

type progFound struct {
	path string
	err  error
}

// resolveProgram finds prog once per Playpen: many services run the same
// program.
func (p *Playpen) resolveProgram(prog string) (string, error) {
	sn := p.c()
	p.mu.Lock()
	f, ok := sn.progs[prog]
	p.mu.Unlock()
	if ok {
		return f.path, f.err
	}
	path, err := p.findProgram(prog)
	p.mu.Lock()
	if sn.progs == nil {
		sn.progs = map[string]progFound{}
	}
	sn.progs[prog] = progFound{path, err}
	p.mu.Unlock()
	return path, err
}

// findProgram applies SPEC §3.3: a bare name is looked up in bin/, then
// ext/bin/, then (our choice, for system programs such as sleep or java)
// $PATH; a path is relative to ext/ unless absolute.
func (p *Playpen) findProgram(prog string) (string, error) {
	var path string
	if !strings.ContainsRune(prog, '/') {
		for _, d := range []string{p.Path("bin"), p.Path("ext", "bin")} {
			if c := filepath.Join(d, prog); isFile(c) {
				path = c
				break
			}
		}
		if path == "" {
			found, err := exec.LookPath(prog)
			if err != nil {
				return p.Path("ext", "bin", prog), fmt.Errorf("program %s not found in bin/, ext/bin/ or $PATH", prog)
			}
			path, _ = filepath.Abs(found)
		}
	} else if filepath.IsAbs(prog) {
		path = prog
	} else {
		path = p.Path("ext", prog)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return path, fmt.Errorf("program %s does not exist", path)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return path, fmt.Errorf("program %s is not executable (chmod +x it)", path)
	}
	return path, nil
}

func (p *Playpen) classpath(vars hooks.Vars) string {
	r := &reader{vars: vars}
	var parts []string
	for _, d := range r.list("service_java_classpath_dirs") {
		dir := d
		if !filepath.IsAbs(dir) {
			dir = p.Path("ext", d)
		}
		jars, _ := filepath.Glob(filepath.Join(dir, "*.jar"))
		sort.Strings(jars)
		parts = append(parts, jars...)
	}
	for _, j := range r.list("service_java_classpath_jars") {
		if !filepath.IsAbs(j) {
			j = p.Path("ext", j)
		}
		parts = append(parts, j)
	}
	return strings.Join(parts, ":")
}

// packageServices reads a package's .services list, once per Playpen.
func (p *Playpen) packageServices(pkg, version string) ([]string, error) {
	sn := p.c()
	key := pkg + "-" + version
	p.mu.Lock()
	if l, ok := sn.pkgSvcs[key]; ok {
		p.mu.Unlock()
		return l, nil
	}
	p.mu.Unlock()
	l, err := readNames(p.Path("ext", "packages", key, key+".services"), "service")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if sn.pkgSvcs == nil {
		sn.pkgSvcs = map[string][]string{}
	}
	sn.pkgSvcs[key] = l
	p.mu.Unlock()
	return l, nil
}

// baseEnviron prepares the load-config environment once for all configs.
func (p *Playpen) baseEnviron(env []string) *hooks.Environ {
	sn := p.c()
	p.mu.Lock()
	defer p.mu.Unlock()
	if sn.baseEnv == nil {
		sn.baseEnv = hooks.NewEnviron(env)
	}
	return sn.baseEnv
}

// warm resolves names in parallel into the cache, so that a loop calling
// Resolve one name at a time afterwards finds each definition ready.
func (p *Playpen) warm(names []string) { p.ResolveAll(names) }

// ResolveAll resolves names on every core; errors come back per name.
func (p *Playpen) ResolveAll(names []string) ([]*Service, []error) {
	defs := make([]*Service, len(names))
	errs := make([]error, len(names))
	if _, err := p.BaseEnv(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return defs, errs
	}
	p.loadIndex()
	if len(names) > 16 {
		p.primeDirs()
	}
	fresh := make([]bool, len(names))
	// Twice the cores: a cold resolve waits on reading its directory and
	// files about as long as it computes.
	parallelFor(len(names), 2*runtime.GOMAXPROCS(0), func(i int) { defs[i], fresh[i], errs[i] = p.resolveCached(context.Background(), names[i]) })
	for i, s := range defs {
		if fresh[i] {
			p.warnAll(s)
		}
	}
	return defs, errs
}

// extServicesDir is ext/services, or a scratch copy while validating a
// new version before an upgrade.
func (p *Playpen) extServicesDir() string {
	if p.extServices != "" {
		return p.extServices
	}
	return p.Path("ext", "services")
}

// shallow copies the playpen's settings into a fresh value with empty
// caches, for evaluating a variant (a new package version) in isolation.
func (p *Playpen) shallow() *Playpen {
	return &Playpen{Root: p.Root, Name: p.Name, LocalVar: p.LocalVar, RunVar: p.RunVar, LinkDir: p.LinkDir,
		Role: p.Role, caller: p.caller, Warn: p.Warn, Log: p.Log, Stderr: p.Stderr}
}

// Secret says whether the value of the service's variable name is never
// shown (SPEC §6.1): declared with service_envar_V_secret=1, or named
// like a secret (…_PASSWORD, _SECRET, _TOKEN, _KEY) and not declared
// with service_envar_V_secret=0.
func (s *Service) Secret(name string) bool {
	for _, sp := range s.EnvSpecs {
		if sp.Name == name {
			return sp.Secret
		}
	}
	return envtypes.SecretByName(name)
}

// ShownEnv is the service environment as servicectl prints it (show,
// its JSON, the dashboard): secrets' values masked.
func (s *Service) ShownEnv() []string {
	out := make([]string, len(s.Env))
	for i, kv := range s.Env {
		k, _, _ := strings.Cut(kv, "=")
		if s.Secret(k) {
			kv = k + "=" + envtypes.Mask
		}
		out[i] = kv
	}
	return out
}

// MarshalJSON is the definition as `show --json` prints it: every field,
// with secrets masked in the environment (§6.1).
func (s *Service) MarshalJSON() ([]byte, error) {
	type plain Service
	c := plain(*s)
	c.Env = s.ShownEnv()
	return json.Marshal(c)
}
