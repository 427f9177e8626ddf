package pkgsvc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
)

// InstallServiceFiles copies the files a package ships for one service
// into ext/services/SERVICE-VERSION/ (its config and hook files) and its
// package profile into ext/etc/profile/: what new-service installs
// (§1.6), the definition a start then resolves.
func (p *Playpen) InstallServiceFiles(reg Registered) error {
	_, err := p.installServiceFilesFrom(reg, p.Path("ext", "services", reg.Service+"-"+reg.Version))
	return err
}

// installServiceFilesFrom copies a package's files for one service into
// sdir (and its profile into ext/etc/profile unless validating),
// returning which package file each installed file came from (installed
// path → source).
func (p *Playpen) installServiceFilesFrom(reg Registered, sdir string) (map[string]string, error) {
	from := map[string]string{}
	err := p.copyServiceFiles(reg, sdir, from)
	return from, err
}

func (p *Playpen) copyServiceFiles(reg Registered, sdir string, from map[string]string) error {
	pdir := p.PackageDir(reg.Package, reg.Version)
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
