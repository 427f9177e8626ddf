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
)

// Init makes a playpen skeleton in dir (created when missing) and refuses
// to overwrite an existing playpen.
func Init(dir, name string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return errf(KindUsage, "", "%s: %v", dir, err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	if err := ValidName("project", name); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(abs, "etc", "project-name")); err == nil {
		return errf(KindUsage, "", "%s is already a playpen (etc/project-name exists)", abs)
	}
	for _, d := range []string{"etc", "ext/etc", "ext/packages", "ext/services", "ext/bin", "services", "bin"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return errf(KindFailed, "", "%v", err)
		}
	}
	files := map[string]string{
		"etc/project-name":     name + "\n",
		"etc/project.conf":     "# Project configuration, sourced with `set -a` by every servicectl command (SPEC §2.2).\n# Typed variables that services need go here; `servicectl env --script` prints suggestions.\n",
		"etc/project-services": "# Project services, one name a line; each is defined in services/NAME/config.\n",
		".gitignore":           "/var/\n*.local\n",
	}
	for rel, content := range files {
		p := filepath.Join(abs, rel)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := fsio.WriteAtomic(p, []byte(content), 0o644, true); err != nil {
			return errf(KindFailed, "", "%v", err)
		}
	}
	return nil
}

// NewService registers an installed package's service (SPEC §1.6): copies
// its config and hook files into ext/services/SERVICE-VERSION/, installs
// the package profile, and records it in installed-services. Idempotent.
func (p *Playpen) NewService(name string) (Registered, error) {
	if err := ValidName("service", name); err != nil {
		return Registered{}, err
	}
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return Registered{}, err
	}
	var found *Package
	for i := range pkgs {
		svcs, err := readNames(p.servicesFile(pkgs[i]), "service")
		if err != nil {
			return Registered{}, err
		}
		for _, s := range svcs {
			if s == name {
				if found != nil {
					return Registered{}, errf(KindConfig, name, "listed by two installed packages, %s and %s", found.Name, pkgs[i].Name)
				}
				found = &pkgs[i]
			}
		}
	}
	if found == nil {
		return Registered{}, errf(KindUnknown, name, "no installed package lists it in its .services file (see ext/etc/installed-packages)")
	}
	reg := Registered{Service: name, Package: found.Name, Version: found.Version}
	if err := p.installServiceFiles(reg); err != nil {
		return reg, wrap(KindFailed, name, err)
	}
	return reg, wrap(KindFailed, name, p.register(reg))
}

func (p *Playpen) servicesFile(pk Package) string {
	nv := pk.Name + "-" + pk.Version
	return p.Path("ext", "packages", nv, nv+".services")
}

func (p *Playpen) installServiceFiles(reg Registered) error {
	return p.installServiceFilesInto(reg, p.Path("ext", "services", reg.Service+"-"+reg.Version))
}

// installServiceFilesInto copies a package's files for one service into
// sdir (and its profile into ext/etc/profile unless validating).
func (p *Playpen) installServiceFilesInto(reg Registered, sdir string) error {
	_, err := p.installServiceFilesFrom(reg, sdir)
	return err
}

// installServiceFilesFrom is installServiceFilesInto, returning which
// package file each installed file came from (installed path → source).
func (p *Playpen) installServiceFilesFrom(reg Registered, sdir string) (map[string]string, error) {
	from := map[string]string{}
	err := p.copyServiceFiles(reg, sdir, from)
	return from, err
}

func (p *Playpen) copyServiceFiles(reg Registered, sdir string, from map[string]string) error {
	pdir := p.packageDir(reg.Package, reg.Version)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(pdir, reg.Service+"-"+reg.Version+".config")
	if !isFile(cfg) {
		cfg = filepath.Join(pdir, reg.Package+"-"+reg.Version+".config")
	}
	if !isFile(cfg) {
		return fmt.Errorf("package %s-%s ships no %s-%s.config or %s-%s.config", reg.Package, reg.Version, reg.Service, reg.Version, reg.Package, reg.Version)
	}
	if err := copyFile(cfg, filepath.Join(sdir, "config")); err != nil {
		return err
	}
	from[filepath.Join(sdir, "config")] = cfg
	for _, step := range append(append([]string{}, HookSteps...), ReplacementCmds...) {
		src := filepath.Join(pdir, reg.Service+"-"+reg.Version+"."+step)
		if isFile(src) {
			if err := copyFile(src, filepath.Join(sdir, step)); err != nil {
				return err
			}
			from[filepath.Join(sdir, step)] = src
		}
	}
	prof := filepath.Join(pdir, reg.Package+"-"+reg.Version+".profile")
	if isFile(prof) && p.extServices == "" {
		if err := os.MkdirAll(p.Path("ext", "etc", "profile"), 0o755); err != nil {
			return err
		}
		if err := copyFile(prof, p.Path("ext", "etc", "profile", reg.Package+".profile")); err != nil {
			return err
		}
	}
	return nil
}

// register records reg in installed-services, replacing an older line
// for the same service.
func (p *Playpen) register(reg Registered) error {
	return p.editRegistry(func(rs []Registered) []Registered {
		for i := range rs {
			if rs[i].Service == reg.Service {
				rs[i] = reg
				return rs
			}
		}
		return append(rs, reg)
	})
}

// unregister removes a service from installed-services.
func (p *Playpen) unregister(name string) error {
	return p.editRegistry(func(rs []Registered) []Registered {
		out := rs[:0]
		for _, r := range rs {
			if r.Service != name {
				out = append(out, r)
			}
		}
		return out
	})
}

func (p *Playpen) editRegistry(edit func([]Registered) []Registered) error {
	return p.editList(p.Path("ext", "etc", "installed-services"), func(path string, data []byte) ([]byte, error) {
		rs, err := ParseRegistered(path, data)
		if err != nil {
			return nil, err
		}
		rs = edit(rs)
		sort.Slice(rs, func(i, j int) bool { return rs[i].Service < rs[j].Service })
		return FormatRegistered(rs), nil
	})
}

// editList rewrites one of the playpen's list files (installed-services,
// installed-packages) under its lock — package managers may run several
// maintainer scripts at once — and replaces it atomically and durably.
// edit gets the current content (none when missing) and returns the new.
func (p *Playpen) editList(path string, edit func(path string, data []byte) ([]byte, error)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	lf, err := fsio.Lock(path + ".lock")
	if err != nil {
		return err
	}
	defer lf.Close()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := edit(path, data)
	if err != nil {
		return err
	}
	if string(out) == string(data) {
		return nil
	}
	if err := fsio.WriteAtomic(path, out, 0o644, true); err != nil {
		return err
	}
	p.Invalidate()
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	// Keep the run bits: a hook file that is a program stays one.
	return fsio.WriteAtomic(dst, data, fi.Mode().Perm(), true)
}

// Entry is one line of `list`.
type Entry struct {
	Service  string `json:"service"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Kind     string `json:"kind"` // project or package
	Template bool   `json:"template"`
	Error    string `json:"error,omitempty"`
}

// List describes services: the role's default set, or all with all.
func (p *Playpen) List(all bool) ([]Entry, error) {
	var names []string
	var err error
	if all {
		names, err = p.AllServices()
	} else {
		names, err = p.DefaultSet()
	}
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(names))
	p.warm(names)
	for _, n := range names {
		base, _, reg, project, err := p.Lookup(n)
		e := Entry{Service: n, Package: reg.Package, Version: reg.Version, Kind: "package"}
		if project {
			e.Kind = "project"
		}
		if err != nil {
			e.Error = err.Error()
			out = append(out, e)
			continue
		}
		if s, err := p.Resolve(base); err == nil {
			e.Template = s.Template
		} else {
			e.Error = err.Error()
		}
		out = append(out, e)
	}
	return out, nil
}

// Unregistered lists the services that installed packages provide but
// that are not registered (§1.6): installed by hand or by a package
// manager that did not run `servicectl new-service`. They cannot start
// until registered.
func (p *Playpen) Unregistered() ([]Registered, error) {
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return nil, err
	}
	regs, err := p.Registered()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, r := range regs {
		known[r.Service] = true
	}
	var out []Registered
	for _, pk := range pkgs {
		svcs, err := p.packageServices(pk.Name, pk.Version)
		if err != nil {
			continue // a package without services, or unpacked elsewhere
		}
		for _, s := range svcs {
			if !known[s] {
				out = append(out, Registered{Service: s, Package: pk.Name, Version: pk.Version})
			}
		}
	}
	return out, nil
}
