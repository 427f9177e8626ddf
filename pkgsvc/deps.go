package pkgsvc

import (
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"servicectl/linkfarm"
)

// Dep is one line of a NAME-VERSION.deps file: a package and an optional
// semver constraint on its UPSTREAM version (SPEC §1.4, §1.5).
type Dep struct {
	Name       string
	Constraint *semver.Constraints
	Raw        string
	Line       int
}

// ParseDeps parses a .deps file.
func ParseDeps(path string, data []byte) ([]Dep, error) {
	lines, err := parseList(path, data)
	if err != nil {
		return nil, err
	}
	var out []Dep
	for _, l := range lines {
		d := Dep{Name: l.Fields[0], Line: l.Line}
		if err := ValidName("package", d.Name); err != nil {
			return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
		}
		if len(l.Fields) > 1 {
			d.Raw = strings.Join(l.Fields[1:], " ")
			c, err := semver.NewConstraint(d.Raw)
			if err != nil {
				return nil, Errorf(KindConfig, "", "%s:%d: constraint %q: %v", path, l.Line, d.Raw, err)
			}
			d.Constraint = c
		}
		out = append(out, d)
	}
	return out, nil
}

// PackageDir is where an installed package's files live.
func (p *Playpen) PackageDir(name, version string) string {
	return p.Path("ext", "packages", name+"-"+version)
}

// PackageDeps reads the .deps of one installed package version; none is
// an empty list.
func (p *Playpen) PackageDeps(name, version string) ([]Dep, error) {
	path := p.Path("ext", "packages", name+"-"+version, name+"-"+version+".deps")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, Errorf(KindConfig, "", "%v", err)
	}
	return ParseDeps(path, data)
}

// DepVersions records, at start, the version of the service's package and
// of every package it depends on transitively, for §8.5.
func (p *Playpen) DepVersions(s *Service) map[string]string {
	if s.Project || s.Package == "" {
		return nil
	}
	inst := p.installedMap()
	out := map[string]string{s.Package: s.Version}
	queue := []string{s.Package}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		deps, _ := p.PackageDeps(n, out[n])
		for _, d := range deps {
			if _, seen := out[d.Name]; seen {
				continue
			}
			if v, ok := inst[d.Name]; ok {
				out[d.Name] = v
				queue = append(queue, d.Name)
			}
		}
	}
	return out
}

// Stale reports whether a running service runs older code than what is
// installed now: its own package or a dependency changed (§8.5).
func (p *Playpen) Stale(s *Service, st *State) bool {
	if s.Project {
		return false
	}
	if st.Version != "" && st.Version != s.Version {
		return true
	}
	return p.StaleDeps(st)
}

// StaleDeps compares the package versions a service started with to
// those installed now.
func (p *Playpen) StaleDeps(st *State) bool {
	if len(st.Deps) == 0 {
		return false
	}
	inst := p.installedMap()
	if inst == nil {
		return false
	}
	for name, v := range st.Deps {
		if inst[name] != v {
			return true
		}
	}
	return false
}

// CheckRunName refuses to start s when another service would share its
// RUNNAME (§4.2), as far as servicectl has recorded them: a service
// that passed the check holds its run name in
// $LOCAL_RUNVAR/runnames/RUNNAME, and its later starts and restarts skip
// the check; any other service that would take the name is refused, so
// two services never run under one name. No other config is evaluated.
func (p *Playpen) CheckRunName(s *Service) error {
	holder := ""
	if s.RunName != "" && !strings.ContainsRune(s.RunName, '/') && s.RunName != "." && s.RunName != ".." {
		holder = filepath.Join(p.RunVar, "runnames", s.RunName)
		if b, err := fsio.ReadRegular(holder); err == nil && string(b) == s.Name {
			return nil
		}
	}
	if err := p.checkRunNameAll(s); err != nil {
		return err
	}
	if holder != "" {
		// Best effort: without the record the next start checks again.
		fsio.WriteAtomicBeneath(p.RunVar, filepath.Join("runnames", s.RunName), func(f *os.File) error {
			_, err := f.WriteString(s.Name)
			return err
		}, 0o644)
	}
	return nil
}

// checkRunNameAll checks s's run name against the run names already
// Recorded — the holders under $LOCAL_RUNVAR/runnames/ that earlier
// starts wrote, and the run names of services with run state — without
// evaluating any other service's config (issue 28: one looping config
// must not make every start wait). Two services can then never run
// under one name: whichever starts second is refused.
func (p *Playpen) checkRunNameAll(s *Service) error {
	mine := map[string]string{s.Name: s.RunName}
	dir := filepath.Join(p.RunVar, "runnames")
	if b, err := fsio.ReadRegular(filepath.Join(dir, s.RunName)); err == nil && string(b) != s.Name && p.known(string(b)) {
		mine[string(b)] = s.RunName
	}
	for n, st := range p.recordedState() {
		if n != s.Name && st.RunName == s.RunName {
			mine[n] = st.RunName
		}
	}
	if err := linkfarm.Collisions(mine); err != nil {
		return Errorf(KindConfig, "", "%v (the other service holds the name; if it no longer does, delete %s)", err, filepath.Join(dir, s.RunName))
	}
	return nil
}

// sortedKeys is a helper for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// installedMap is installed-packages as name → version, read once per
// Playpen (Invalidate drops it).
func (p *Playpen) installedMap() map[string]string {
	sn := p.c()
	p.mu.Lock()
	m := sn.installed
	p.mu.Unlock()
	if m != nil {
		return m
	}
	m = map[string]string{}
	pkgs, err := p.InstalledPackages()
	if err != nil {
		// Unreadable: nothing can be called stale from it (StatusMany
		// reports the file and line); an empty map would call
		// everything stale.
		return nil
	}
	for _, pk := range pkgs {
		m[pk.Name] = pk.Version
	}
	p.mu.Lock()
	sn.installed = m
	p.mu.Unlock()
	return m
}

// known says whether name is a service of the playpen (or an instance of
// one): a holder record naming anything else is not believed.
func (p *Playpen) known(name string) bool {
	_, _, _, _, err := p.Lookup(name)
	return err == nil
}

// PackageFiles reads NAME-VERSION.files (SPEC §1.4); none when missing.
func (p *Playpen) PackageFiles(name, ver string) []string {
	if ver == "" {
		return nil
	}
	lines, err := readList(filepath.Join(p.PackageDir(name, ver), name+"-"+ver+".files"))
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range lines {
		out = append(out, filepath.Clean(l.Fields[0]))
	}
	return out
}
