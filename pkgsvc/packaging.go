package pkgsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"servicectl/internal/fsio"
)

// The calls a package manager's maintainer scripts need beyond SPEC §8.3's
// upgrade halves (issue 17; pkgsvc/pkghook maps each package manager's
// arguments onto them).

// SetInstalled records PKG at VERSION in ext/etc/installed-packages (an
// empty VERSION removes its line), atomically and under a lock. It exists
// for package managers whose own database is elsewhere (dpkg, rpm): their
// maintainer scripts keep the playpen's list in step through `package-hook`.
func (p *Playpen) SetInstalled(pkg, version string) error {
	if err := ValidName("package", pkg); err != nil {
		return err
	}
	if version != "" {
		if _, err := ParseVersion(version); err != nil {
			return errf(KindUsage, "", "%s: %v", pkg, err)
		}
	}
	return p.editList(p.Path("ext", "etc", "installed-packages"), func(path string, data []byte) ([]byte, error) {
		list, err := ParsePackages(path, data)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		found := false
		for _, pk := range list {
			if pk.Name == pkg {
				found = true
				if version == "" {
					continue
				}
				pk.Version = version
			}
			fmt.Fprintf(&b, "%s %s\n", pk.Name, pk.Version)
		}
		if !found && version != "" {
			fmt.Fprintf(&b, "%s %s\n", pkg, version)
		}
		return []byte(b.String()), nil
	})
}

// ValidatePackage evaluates the service definitions and typed environment
// of one unpacked package version, as `upgrade pre` does for a version
// unpacked beside the old (§8.3), without registering anything. Package
// managers that unpack before they can call servicectl (dpkg runs preinst
// before the files exist) validate here, before anything is restarted.
func (p *Playpen) ValidatePackage(pkg, version string) error {
	if _, err := os.Stat(p.packageDir(pkg, version)); err != nil {
		return errf(KindConfig, "", "%s is not there: was %s %s unpacked into this playpen (%s)?", p.packageDir(pkg, version), pkg, version, p.Root)
	}
	return p.ValidateVersions([]Package{{Name: pkg, Version: version}}, "nothing was restarted")
}

// PackageServices lists the services PKG VERSION provides (its .services
// file); none when it has no such file.
func (p *Playpen) PackageServices(pkg, version string) ([]string, error) {
	return p.packageServices(pkg, version)
}

// purgeRecord keeps the services of a removed package until it is purged,
// as dpkg keeps a removed package's conffiles: by then its .services file
// is gone with the rest of its files.
func (p *Playpen) purgeRecord(pkg string) string {
	return filepath.Join(p.LocalVar, "removed", pkg+".services")
}

// RememberRemoved records which services PKG provided, so PurgeState can
// find them after the package's files and registrations are gone.
func (p *Playpen) RememberRemoved(pkg string, services []string) error {
	if len(services) == 0 {
		return nil
	}
	path := p.purgeRecord(pkg)
	old, _ := readNames(path, "service")
	seen := map[string]bool{}
	var all []string
	for _, s := range append(old, services...) {
		if !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	sort.Strings(all)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsio.WriteAtomic(path, []byte(strings.Join(all, "\n")+"\n"), 0o644, true)
}

// PurgeState removes what a removed package's services left behind: their
// run-state files (state, pidfile, lock, output and its rotations, the run
// names they held), linkfarm links into the package's removed directories
// and the copies `new-service` made under ext/services/. A service still
// registered or running is left alone: purge never takes a live service's
// files. It returns the paths removed.
func (p *Playpen) PurgeState(pkg string, services []string) ([]string, error) {
	rec, err := readNames(p.purgeRecord(pkg), "service")
	if err != nil {
		return nil, err
	}
	regs, err := p.Registered()
	if err != nil {
		return nil, err
	}
	registered := map[string]bool{}
	for _, r := range regs {
		registered[r.Service] = true
	}
	names := map[string]bool{}
	for _, s := range append(rec, services...) {
		names[s] = true
	}
	var removed []string
	rm := func(path string) error {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		removed = append(removed, path)
		return nil
	}
	runFiles, _ := readDirNames(p.RunVar)
	copies, _ := readDirNames(p.Path("ext", "services"))
	for s := range names {
		if registered[s] {
			continue
		}
		// A state file means started and never stopped (stop removes
		// it): leave the service's files for whoever still runs it.
		live := false
		for _, f := range runFiles {
			if base, ok := strings.CutSuffix(f, ".state"); ok && (base == s || strings.HasPrefix(base, s+"@")) {
				live = true
			}
		}
		if live {
			p.warn(s, "not purged: it has a state file (%s), so it may still run; stop it, then purge again", filepath.Join(p.RunVar, s+".state"))
			continue
		}
		for _, f := range runFiles {
			base, _, _ := strings.Cut(f, ".")
			if base == s || strings.HasPrefix(base, s+"@") {
				if err := rm(filepath.Join(p.RunVar, f)); err != nil {
					return removed, err
				}
			}
		}
		for _, d := range copies {
			if v, ok := strings.CutPrefix(d, s+"-"); ok {
				if _, err := ParseVersion(v); err == nil {
					if err := rm(p.Path("ext", "services", d)); err != nil {
						return removed, err
					}
				}
			}
		}
	}
	// Run names the purged services held, and linkfarm links into the
	// package's (now removed) directories.
	holders, _ := readDirNames(filepath.Join(p.RunVar, "runnames"))
	for _, h := range holders {
		path := filepath.Join(p.RunVar, "runnames", h)
		if b, err := fsio.ReadSnapshot(path); err == nil && names[string(b)] && !registered[string(b)] {
			if err := rm(path); err != nil {
				return removed, err
			}
		}
	}
	links, _ := readDirNames(p.LinkDir)
	pkgDirs := p.Path("ext", "packages", pkg+"-")
	for _, l := range links {
		path := filepath.Join(p.LinkDir, l)
		dst, err := os.Readlink(path)
		rest, ok := strings.CutPrefix(dst, pkgDirs)
		if err != nil || !ok || rest == "" || rest[0] < '0' || rest[0] > '9' {
			continue // not NAME-VERSION/ of this package
		}
		if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
			if err := rm(path); err != nil {
				return removed, err
			}
		}
	}
	sort.Strings(removed)
	if err := os.Remove(p.purgeRecord(pkg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, err
	}
	return removed, nil
}
