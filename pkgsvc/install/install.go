package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"sort"
)

// Init makes a playpen skeleton in dir (created when missing) and refuses
// to overwrite an existing playpen.
func Init(dir, name string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return pkgsvc.Errorf(pkgsvc.KindUsage, "", "%s: %v", dir, err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	if err := pkgsvc.ValidName("project", name); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(abs, "etc", "project-name")); err == nil {
		return pkgsvc.Errorf(pkgsvc.KindUsage, "", "%s is already a playpen (etc/project-name exists)", abs)
	}
	for _, d := range []string{"etc", "ext/etc", "ext/packages", "ext/services", "ext/bin", "services", "bin"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return pkgsvc.Errorf(pkgsvc.KindFailed, "", "%v", err)
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
			return pkgsvc.Errorf(pkgsvc.KindFailed, "", "%v", err)
		}
	}
	return nil
}

// NewService registers an installed package's service (SPEC §1.6): copies
// its config and hook files into ext/services/SERVICE-VERSION/, installs
// the package profile, and records it in installed-services. Idempotent.
func NewService(p *pkgsvc.Playpen, name string) (pkgsvc.Registered, error) {
	if err := pkgsvc.ValidName("service", name); err != nil {
		return pkgsvc.Registered{}, err
	}
	pkgs, err := p.InstalledPackages()
	if err != nil {
		return pkgsvc.Registered{}, err
	}
	var found *pkgsvc.Package
	for i := range pkgs {
		svcs, err := p.PackageServices(pkgs[i].Name, pkgs[i].Version)
		if err != nil {
			return pkgsvc.Registered{}, err
		}
		for _, s := range svcs {
			if s == name {
				if found != nil {
					return pkgsvc.Registered{}, pkgsvc.Errorf(pkgsvc.KindConfig, name, "listed by two installed packages, %s and %s", found.Name, pkgs[i].Name)
				}
				found = &pkgs[i]
			}
		}
	}
	if found == nil {
		return pkgsvc.Registered{}, pkgsvc.Errorf(pkgsvc.KindUnknown, name, "no installed package lists it in its .services file (see ext/etc/installed-packages)")
	}
	reg := pkgsvc.Registered{Service: name, Package: found.Name, Version: found.Version}
	if err := p.InstallServiceFiles(reg); err != nil {
		return reg, pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	return reg, pkgsvc.Wrap(pkgsvc.KindFailed, name, register(p, reg))
}

// register records reg in installed-services, replacing an older line
// for the same service.
func register(p *pkgsvc.Playpen, reg pkgsvc.Registered) error {
	return editRegistry(p, func(rs []pkgsvc.Registered) []pkgsvc.Registered {
		for i := range rs {
			if rs[i].Service == reg.Service {
				rs[i] = reg
				return rs
			}
		}
		return append(rs, reg)
	})
}

// Unregister removes a service from installed-services.
func Unregister(p *pkgsvc.Playpen, name string) error {
	return editRegistry(p, func(rs []pkgsvc.Registered) []pkgsvc.Registered {
		out := rs[:0]
		for _, r := range rs {
			if r.Service != name {
				out = append(out, r)
			}
		}
		return out
	})
}

func editRegistry(p *pkgsvc.Playpen, edit func([]pkgsvc.Registered) []pkgsvc.Registered) error {
	return editList(p, p.Path("ext", "etc", "installed-services"), func(path string, data []byte) ([]byte, error) {
		rs, err := pkgsvc.ParseRegistered(path, data)
		if err != nil {
			return nil, err
		}
		rs = edit(rs)
		sort.Slice(rs, func(i, j int) bool { return rs[i].Service < rs[j].Service })
		return pkgsvc.FormatRegistered(rs), nil
	})
}

// editList rewrites one of the playpen's list files (installed-services,
// installed-packages) under its lock — package managers may run several
// maintainer scripts at once — and replaces it atomically and durably.
// edit gets the current content (none when missing) and returns the new.
func editList(p *pkgsvc.Playpen, path string, edit func(path string, data []byte) ([]byte, error)) error {
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
