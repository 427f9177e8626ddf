package pkgsvc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"servicectl/hooks"
)

// Playpen is one project tree and what servicectl has read of it. It is
// cheap to open; configuration is read on first use and cached for the
// life of the value (one command).
type Playpen struct {
	Root     string
	Name     string // PROJECT_NAME, first line of etc/project-name
	LocalVar string
	RunVar   string
	LinkDir  string
	Role     string

	caller map[string]string // the caller's environment, for §2.1 and §1.2
	// Warn receives warnings (unknown service_* variables, guessed
	// types); nil drops them.
	Warn func(service, msg string)
	// Stderr receives what configs and load-config files write to their
	// stderr while they are evaluated; nil: the process's stderr. (A
	// config session is reused between services only on the process's
	// stderr, see hooks.SourceVars.)
	Stderr io.Writer

	mu          sync.Mutex // guards the lazy filling of the snapshot's fields
	extServices string     // overrides ext/services (validation of new versions)
	snap        atomic.Pointer[snapshot]
}

// snapshot is everything a Playpen has read from disk: the load-config
// environment, the registries, resolved definitions, listings and parsed
// scripts. It is filled lazily (under Playpen.mu) and never emptied:
// Invalidate puts a fresh one in place atomically, so a goroutine still
// resolving on the old one finishes on a consistent view while new
// calls read the files afresh (a long-running supervisor reloads
// definitions this way while others read them).
type snapshot struct {
	base       []string // load-config environment (§2.2), KEY=VALUE
	baseMap    map[string]string
	baseVars   map[string]hooks.Var
	baseEnv    *hooks.Environ
	parsed     hooks.Cache
	baseErr    error
	baseDone   bool
	registered []Registered
	regIndex   map[string]Registered
	project    []string
	projIndex  map[string]bool
	indexErr   error
	indexDone  bool
	defs       map[string]*Service
	defErrs    map[string]error         // a config that failed fails once per command, not at every look (issue 10)
	resolving  map[string]chan struct{} // configs being evaluated now, closed when done
	dirsDone   bool
	dirs       map[string]map[string]bool // listDir cache; "dir/" keys list subdirectories
	progs      map[string]progFound       // resolveProgram cache
	pkgSvcs    map[string][]string
	installed  map[string]string
	runState   map[string]*State // recordedState: every state file, read once per command
}

// ErrOut is where configs, and the commands servicectl runs for a service (a rollback), write their stderr: Stderr, or the process's.
func (p *Playpen) ErrOut() io.Writer {
	if p.Stderr != nil {
		return p.Stderr
	}
	return os.Stderr
}

// c is the current snapshot.
func (p *Playpen) c() *snapshot {
	if s := p.snap.Load(); s != nil {
		return s
	}
	p.snap.CompareAndSwap(nil, newSnapshot())
	return p.snap.Load()
}

func newSnapshot() *snapshot {
	return &snapshot{parsed: hooks.Cache{ReadFile: fsio.ReadFile}}
}

// OpenOptions say where to look for the playpen.
type OpenOptions struct {
	Root string   // --root; empty: $PLAYPEN_ROOT, then discovery from Cwd
	Env  []string // the caller's environment (os.Environ())
	Cwd  string
}

// Open finds the playpen by SPEC §1.1 and sets its directories (§1.2). It
// creates nothing.
func Open(opts OpenOptions) (*Playpen, error) {
	env := map[string]string{}
	for _, kv := range opts.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	root := opts.Root
	if root == "" {
		root = env["PLAYPEN_ROOT"]
	}
	if root == "" {
		dir := opts.Cwd
		for {
			if _, err := os.Stat(filepath.Join(dir, "etc", "project-name")); err == nil {
				root = dir
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return nil, Errorf(KindUsage, "", "no playpen here: no etc/project-name in %s or above it; make one with `servicectl init DIR`, or pass --root DIR", opts.Cwd)
			}
			dir = parent
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, Errorf(KindUsage, "", "playpen root %s: %v", root, err)
	}
	nameFile := filepath.Join(root, "etc", "project-name")
	name, err := firstLine(nameFile)
	if err != nil {
		if ents, rerr := os.ReadDir(root); rerr == nil && len(ents) > 0 {
			// A directory with other things in it (--root /etc): making a
			// playpen there is not what anyone means.
			return nil, Errorf(KindUsage, "", "%s is not a playpen (no etc/project-name in it); pass --root with a playpen's directory, or make a new playpen in an empty directory with `servicectl init DIR`", root)
		}
		return nil, Errorf(KindUsage, "", "%s is not a playpen: %v; make one with `servicectl init %s`", root, err, root)
	}
	p := &Playpen{Root: root, Name: name, caller: env}
	p.LocalVar = env["LOCAL_VAR"]
	if p.LocalVar == "" {
		p.LocalVar = filepath.Join(root, "var")
	}
	p.RunVar = env["LOCAL_RUNVAR"]
	if p.RunVar == "" {
		p.RunVar = filepath.Join(p.LocalVar, "run")
	}
	p.LinkDir = filepath.Join(p.LocalVar, "linkfarm")
	if r, ok := env["PLAYPEN_ROLE"]; ok && r != "" {
		p.Role = r
	} else if r, err := firstLine(filepath.Join(root, "etc", "role")); err == nil {
		p.Role = r
	}
	if p.Role != "" {
		if err := ValidName("role", p.Role); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func firstLine(path string) (string, error) {
	data, err := fsio.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line), nil
}

// Path joins a path relative to the playpen root.
func (p *Playpen) Path(rel ...string) string {
	return filepath.Join(append([]string{p.Root}, rel...)...)
}

// Warnf reports a warning about service to the Warn callback: a
// config's oddity the user should see, which stops nothing.
func (p *Playpen) Warnf(service, format string, args ...any) {
	if p.Warn != nil {
		p.Warn(service, fmt.Sprintf(format, args...))
	}
}

// EnsureDirs creates LOCAL_VAR, LOCAL_RUNVAR and the linkfarm (0755) and
// refuses any that is a symlink or writable by another user (SPEC §1.2):
// a directory where pidfiles live must not be someone else's to edit.
func (p *Playpen) EnsureDirs() error {
	sn := p.c()
	p.mu.Lock()
	defer p.mu.Unlock()
	if sn.dirsDone {
		return nil
	}
	for _, d := range []string{p.LocalVar, p.RunVar, p.LinkDir} {
		if err := ensureSafeDir(d); err != nil {
			return err
		}
	}
	sn.dirsDone = true
	return nil
}

// CheckDirs refuses state directories that EnsureDirs would refuse,
// without creating any: commands that only read state (status, ping,
// logs) must not follow a symlinked var/ that start and stop refuse (§1.2).
func (p *Playpen) CheckDirs() error {
	for _, d := range []string{p.LocalVar, p.RunVar, p.LinkDir} {
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := ensureSafeDir(d); err != nil {
			return err
		}
	}
	return nil
}

func ensureSafeDir(d string) error {
	fi, err := os.Lstat(d)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Errorf(KindFailed, "", "cannot create %s: %v; check LOCAL_VAR/LOCAL_RUNVAR and permissions", d, err)
		}
		fi, err = os.Lstat(d)
	}
	if err != nil {
		return Errorf(KindFailed, "", "%s: %v", d, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return Errorf(KindFailed, "", "%s is a symlink; servicectl keeps pidfiles only in a real directory (replace it with one)", d)
	}
	if !fi.IsDir() {
		return Errorf(KindFailed, "", "%s is not a directory", d)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm()&0o022 != 0 {
		return Errorf(KindFailed, "", "%s is writable by other users (mode %v); run `chmod go-w %s`", d, fi.Mode().Perm(), d)
	}
	if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return Errorf(KindFailed, "", "%s belongs to another user (uid %d); servicectl keeps its state only in its own directories", d, st.Uid)
	}
	return nil
}

// inherited is the caller's environment cut down to SPEC §2.1.
func (p *Playpen) inherited() (map[string]string, error) {
	keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "LANG": true, "TZ": true, "TERM": true}
	names, err := readList(p.Path("etc", "unsanitized"))
	if err != nil {
		return nil, Errorf(KindConfig, "", "%v", err)
	}
	for _, l := range names {
		for _, f := range l.Fields {
			keep[f] = true
		}
	}
	out := map[string]string{}
	for k, v := range p.caller {
		if keep[k] || strings.HasPrefix(k, "LC_") {
			out[k] = v
		}
	}
	path := out["PATH"]
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	out["PATH"] = p.Path("bin") + ":" + p.Path("ext", "bin") + ":" + path
	out["PLAYPEN_ROOT"] = p.Root
	out["PLAYPEN_ROLE"] = p.Role
	if t := p.caller["PLAYPEN_TAG"]; t != "" {
		out["PLAYPEN_TAG"] = t // the caller's wins, as for PLAYPEN_ROLE (§4.2)
	}
	out["PROJECT_NAME"] = p.Name
	out["LOCAL_VAR"] = p.LocalVar
	out["LOCAL_RUNVAR"] = p.RunVar
	return out, nil
}

// LoadConfigFiles lists the files load-config sources, in order (§2.2).
func (p *Playpen) LoadConfigFiles() []string {
	var files []string
	add := func(f string) {
		if isFile(f) {
			files = append(files, f)
		}
		if isFile(f + ".local") {
			files = append(files, f+".local")
		}
	}
	profDir := p.Path("ext", "etc", "profile")
	ents, _ := fsio.ReadDir(profDir)
	profiles := make([]string, 0, len(ents))
	for _, e := range ents {
		if strings.HasSuffix(e.Name, ".profile") {
			profiles = append(profiles, e.Name)
		}
	}
	sort.Strings(profiles)
	for _, f := range profiles {
		add(filepath.Join(profDir, f))
	}
	add(p.Path("ext", "etc", "project.defaults"))
	add(p.Path("etc", "project.conf"))
	if p.Role != "" {
		add(p.Path("etc", "roles", p.Role, "config"))
	}
	return files
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// BaseEnv is the load-config environment (SPEC §2.2): the clean caller
// environment plus everything the profiles, defaults, project config and
// role config set, all exported.
func (p *Playpen) BaseEnv() ([]string, error) {
	return p.baseEnvOf(p.c())
}

// baseValue is one variable of the load-config environment (of one
// snapshot: once baseEnvOf returned, its fields are only read).
func (p *Playpen) baseValue(name string) string {
	sn := p.c()
	if _, err := p.baseEnvOf(sn); err != nil {
		return ""
	}
	return sn.baseMap[name]
}

func (p *Playpen) baseEnvOf(sn *snapshot) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sn.baseDone {
		return sn.base, sn.baseErr
	}
	sn.baseDone = true
	inh, err := p.inherited()
	if err != nil {
		sn.baseErr = err
		return nil, err
	}
	// Under the playpen's parse cache: the interpreter session goes back
	// to its pool for the first service's config.
	vars, err := hooks.SourceOpts(hooks.Options{Env: mapEnv(inh), Dir: p.Root, Stderr: p.ErrOut(), Cache: &sn.parsed}, p.LoadConfigFiles(), true)
	if err != nil {
		sn.baseErr = Errorf(KindConfig, "", "load-config: %v", err)
		return nil, sn.baseErr
	}
	sn.baseVars = vars
	sn.baseMap = map[string]string{}
	for k, v := range vars {
		if v.Exported && !v.IsArray {
			sn.baseMap[k] = v.Value
		}
	}
	if t := p.caller["PLAYPEN_TAG"]; t != "" {
		sn.baseMap["PLAYPEN_TAG"] = t // over whatever load-config set (§4.2)
	}
	sn.base = mapEnv(sn.baseMap)
	return sn.base, nil
}

func mapEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// DefaultSet is the services commands act on when given none (SPEC §2.3):
// the role's playpen_services, else every installed and project service.
func (p *Playpen) DefaultSet() ([]string, error) {
	sn := p.c()
	if _, err := p.baseEnvOf(sn); err != nil {
		return nil, err
	}
	if p.Role != "" && !isDir(p.Path("etc", "roles", p.Role)) {
		p.Warnf("role "+p.Role, "no etc/roles/%s/ in this playpen, so the role selects every service (a typo in PLAYPEN_ROLE or etc/role?)", p.Role)
	}
	if p.Role != "" {
		if v, ok := sn.baseVars["playpen_services"]; ok {
			names := v.List
			if !v.IsArray {
				names = strings.Fields(v.Value)
			}
			for _, n := range names {
				if _, _, err := SplitInstance(n); err != nil {
					return nil, Errorf(KindConfig, "", "%s: playpen_services: %v", p.Path("etc", "roles", p.Role, "config"), err)
				}
			}
			return names, nil
		}
	}
	return p.AllServices()
}

// AllServices lists every registered and project service, in name order.
func (p *Playpen) AllServices() ([]string, error) {
	sn := p.c()
	if err := p.loadIndexOf(sn); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range sn.registered {
		out = append(out, r.Service)
	}
	for _, n := range sn.project {
		if _, dup := sn.regIndex[n]; !dup {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (p *Playpen) loadIndex() error { return p.loadIndexOf(p.c()) }

// loadIndexOf fills the registries of one snapshot; once it returned,
// their fields are only read.
func (p *Playpen) loadIndexOf(sn *snapshot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sn.indexDone {
		return sn.indexErr
	}
	sn.indexDone = true
	sn.indexErr = func() error {
		path := p.Path("ext", "etc", "installed-services")
		data, err := fsio.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Errorf(KindConfig, "", "%v", err)
		}
		sn.registered, err = ParseRegistered(path, data)
		if err != nil {
			return err
		}
		sn.regIndex = map[string]Registered{}
		for _, r := range sn.registered {
			sn.regIndex[r.Service] = r
		}
		sn.project, err = ReadNames(p.Path("etc", "project-services"), "service")
		if err != nil {
			return err
		}
		sn.projIndex = map[string]bool{}
		for _, n := range sn.project {
			sn.projIndex[n] = true
		}
		return nil
	}()
	return sn.indexErr
}

// InstalledPackages reads ext/etc/installed-packages.
func (p *Playpen) InstalledPackages() ([]Package, error) {
	path := p.Path("ext", "etc", "installed-packages")
	data, err := fsio.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, Errorf(KindConfig, "", "%v", err)
	}
	return ParsePackages(path, data)
}

// Registered returns the installed-services registry.
func (p *Playpen) Registered() ([]Registered, error) {
	sn := p.c()
	if err := p.loadIndexOf(sn); err != nil {
		return nil, err
	}
	return sn.registered, nil
}

// Invalidate drops everything read from the playpen, so the next call
// reads it afresh: after a package manager changed ext/, or in a
// long-running process.
func (p *Playpen) Invalidate() {
	p.snap.Store(newSnapshot())
}

// CheckPackageDir refuses to start a service of a package that
// installed-packages names but whose directory is gone (§1.5): its
// program and files are missing.
func (p *Playpen) CheckPackageDir(s *Service) error {
	if s.Project || s.Package == "" {
		return nil
	}
	if dir := p.PackageDir(s.Package, s.Version); !isDir(dir) {
		return Errorf(KindConfig, "", "package %s %s is installed (ext/etc/installed-packages) but %s is missing: reinstall it, or remove its line", s.Package, s.Version, dir)
	}
	return nil
}

// PackageProblems are what is wrong with the installed packages as a
// whole: installed-packages does not parse, or names a package whose
// directory is missing. list and status warn with them.
func (p *Playpen) PackageProblems() []error {
	if _, err := p.InstalledPackages(); err != nil {
		return []error{err}
	}
	return p.MissingPackages()
}

// MissingPackages are the installed packages whose directory is gone.
func (p *Playpen) MissingPackages() []error {
	pkgs, _ := p.InstalledPackages()
	var out []error
	for _, pk := range pkgs {
		if dir := p.PackageDir(pk.Name, pk.Version); !isDir(dir) {
			out = append(out, Errorf(KindConfig, "", "package %s %s is installed (ext/etc/installed-packages) but %s is missing: its services cannot start", pk.Name, pk.Version, dir))
		}
	}
	return out
}
