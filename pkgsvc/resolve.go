package pkgsvc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"servicectl/internal/fsio"
	"servicectl/internal/par"
	"strings"

	"servicectl/hooks"
)

// Hook steps (SPEC §5.1) and replacement commands (§5.3).
var (
	HookSteps       = []string{"pre-start", "post-start", "pre-stop", "post-stop"}
	ReplacementCmds = []string{"start", "stop", "restart", "ping", "test"}
)

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
	err = Errorf(KindUnknown, full, "unknown service: not in ext/etc/installed-services or etc/project-services (see `servicectl list --all`)")
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
		p.Warnf(s.Name, "%s", w)
	}
}

func (p *Playpen) resolve(ctx context.Context, full string) (*Service, error) {
	base, instance, reg, project, err := p.Lookup(full)
	if err != nil {
		return nil, err
	}
	env, err := p.BaseEnv()
	if err != nil {
		return nil, Wrap(KindConfig, full, err)
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
	err = hooks.SourceVars(hooks.Options{Base: p.baseEnviron(env), Env: over, Dir: p.Root, Stderr: p.ErrOut(), Cache: &p.c().parsed, Ctx: ctx}, s.ConfigFiles, false, func(vars hooks.Vars) error {
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
		return nil, Errorf(KindConfig, full, "no config found (looked for %s); for a package service run `servicectl new-service %s`", filepath.Join(dirs[len(dirs)-1], "config"), base)
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
	l, err := ReadNames(p.Path("ext", "packages", key, key+".services"), "service")
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
	par.For(len(names), 2*runtime.GOMAXPROCS(0), func(i int) { defs[i], fresh[i], errs[i] = p.resolveCached(context.Background(), names[i]) })
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
		Role: p.Role, caller: p.caller, Warn: p.Warn, Stderr: p.Stderr}
}
