package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"sort"
	"strings"
)

// The calls a package manager's maintainer scripts need beyond SPEC §8.3's
// upgrade halves (issue 17; pkgsvc/pkghook maps each package manager's
// arguments onto them).

// SetInstalled records PKG at VERSION in ext/etc/installed-packages (an
// empty VERSION removes its line), atomically and under a lock. It exists
// for package managers whose own database is elsewhere (dpkg, rpm): their
// maintainer scripts keep the playpen's list in step through `package-hook`.
func SetInstalled(p *pkgsvc.Playpen, pkg, version string) error {
	if err := pkgsvc.ValidName("package", pkg); err != nil {
		return err
	}
	if version != "" {
		if _, err := pkgsvc.ParseVersion(version); err != nil {
			return pkgsvc.Errorf(pkgsvc.KindUsage, "", "%s: %v", pkg, err)
		}
	}
	return editList(p, p.Path("ext", "etc", "installed-packages"), func(path string, data []byte) ([]byte, error) {
		list, err := pkgsvc.ParsePackages(path, data)
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

// purgeRecord keeps the services of a removed package until it is purged,
// as dpkg keeps a removed package's conffiles: by then its .services file
// is gone with the rest of its files.
func purgeRecord(p *pkgsvc.Playpen, pkg string) string {
	return filepath.Join(p.LocalVar, "removed", pkg+".services")
}

// RememberRemoved records which services PKG provided, so PurgeState can
// find them after the package's files and registrations are gone.
func RememberRemoved(p *pkgsvc.Playpen, pkg string, services []string) error {
	if len(services) == 0 {
		return nil
	}
	path := purgeRecord(p, pkg)
	old, _ := pkgsvc.ReadNames(path, "service")
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
func PurgeState(p *pkgsvc.Playpen, pkg string, services []string) ([]string, error) {
	rec, err := pkgsvc.ReadNames(purgeRecord(p, pkg), "service")
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
	runFiles, _ := fsio.ReadDirNames(p.RunVar)
	copies, _ := fsio.ReadDirNames(p.Path("ext", "services"))
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
			p.Warnf(s, "not purged: it has a state file (%s), so it may still run; stop it, then purge again", filepath.Join(p.RunVar, s+".state"))
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
				if _, err := pkgsvc.ParseVersion(v); err == nil {
					if err := rm(p.Path("ext", "services", d)); err != nil {
						return removed, err
					}
				}
			}
		}
	}
	// Run names the purged services held, and linkfarm links into the
	// package's (now removed) directories.
	holders, _ := fsio.ReadDirNames(filepath.Join(p.RunVar, "runnames"))
	for _, h := range holders {
		path := filepath.Join(p.RunVar, "runnames", h)
		if b, err := fsio.ReadSnapshot(path); err == nil && names[string(b)] && !registered[string(b)] {
			if err := rm(path); err != nil {
				return removed, err
			}
		}
	}
	links, _ := fsio.ReadDirNames(p.LinkDir)
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
	if err := os.Remove(purgeRecord(p, pkg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, err
	}
	return removed, nil
}
