package pkgsvc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"servicectl/internal/fsio"
	"strings"
)

// ValidName checks a service, package or instance name (SPEC §1.8):
// [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
func ValidName(kind, name string) error {
	ok := len(name) > 0 && len(name) <= 64
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return Errorf(KindUsage, "", "%s name %q is not valid: use letters, digits, '.', '_' and '-' (at most 64, not starting with '.', '_' or '-')", kind, name)
	}
	return nil
}

// SplitInstance splits `web@blue` into the service and the instance and
// validates both (SPEC §7).
func SplitInstance(full string) (service, instance string, err error) {
	service, instance, has := strings.Cut(full, "@")
	if err := ValidName("service", service); err != nil {
		return "", "", err
	}
	if has {
		if err := ValidName("instance", instance); err != nil {
			return "", "", err
		}
	}
	return service, instance, nil
}

// listLine is one meaningful line of a list file: its fields and where it is.
type listLine struct {
	Fields []string
	Line   int
}

// readList reads a list file (SPEC §1.4: `#` comments, blank lines
// ignored). A missing file is an empty list.
func readList(path string) ([]listLine, error) {
	data, err := fsio.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseList(path, data)
}

func parseList(path string, data []byte) ([]listLine, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, Errorf(KindConfig, "", "%s:%d: binary data in a list file", path, 1+bytes.Count(data[:i], []byte{'\n'}))
	}
	// The file is in memory already: split it in place (one string for
	// the whole file, fields slicing it) rather than through a Scanner
	// and its 64 KiB buffer.
	text := string(data)
	out := make([]listLine, 0, strings.Count(text, "\n")+1)
	for n := 1; text != ""; n++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSuffix(line, "\r")
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, listLine{Fields: f, Line: n})
		}
	}
	return out, nil
}

// Package is one line of installed-packages.
type Package struct {
	Name    string
	Version string
}

// ParsePackages parses `NAME VERSION` lines (SPEC §1.4). A name listed
// twice is an error: a package is installed at one version.
func ParsePackages(path string, data []byte) ([]Package, error) {
	lines, err := parseList(path, data)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	out := make([]Package, 0, len(lines))
	for _, l := range lines {
		if len(l.Fields) != 2 {
			return nil, Errorf(KindConfig, "", "%s:%d: expected `NAME VERSION`, got %d fields", path, l.Line, len(l.Fields))
		}
		if err := ValidName("package", l.Fields[0]); err != nil {
			return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
		}
		if _, err := ParseVersion(l.Fields[1]); err != nil {
			return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
		}
		if prev, dup := seen[l.Fields[0]]; dup {
			return nil, Errorf(KindConfig, "", "%s:%d: package %s is already listed on line %d", path, l.Line, l.Fields[0], prev)
		}
		seen[l.Fields[0]] = l.Line
		out = append(out, Package{Name: l.Fields[0], Version: l.Fields[1]})
	}
	return out, nil
}

// Registered is one line of installed-services: a service, the package
// that provides it and that package's version (SPEC §1.6).
type Registered struct {
	Service, Package, Version string
}

// ParseRegistered parses `SERVICE PACKAGE VERSION` lines.
func ParseRegistered(path string, data []byte) ([]Registered, error) {
	lines, err := parseList(path, data)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(lines))
	okVersions := map[string]bool{}
	out := make([]Registered, 0, len(lines))
	for _, l := range lines {
		if len(l.Fields) != 3 {
			return nil, Errorf(KindConfig, "", "%s:%d: expected `SERVICE PACKAGE VERSION`, got %d fields", path, l.Line, len(l.Fields))
		}
		for i, kind := range []string{"service", "package"} {
			if err := ValidName(kind, l.Fields[i]); err != nil {
				return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
			}
		}
		// The services of a package share its version: check each once.
		if !okVersions[l.Fields[2]] {
			if _, err := ParseVersion(l.Fields[2]); err != nil {
				return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
			}
			okVersions[l.Fields[2]] = true
		}
		if prev, dup := seen[l.Fields[0]]; dup {
			return nil, Errorf(KindConfig, "", "%s:%d: service %s is already registered on line %d", path, l.Line, l.Fields[0], prev)
		}
		seen[l.Fields[0]] = l.Line
		out = append(out, Registered{Service: l.Fields[0], Package: l.Fields[1], Version: l.Fields[2]})
	}
	return out, nil
}

// FormatRegistered renders installed-services back, one line a service.
func FormatRegistered(rs []Registered) []byte {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "%s %s %s\n", r.Service, r.Package, r.Version)
	}
	return b.Bytes()
}

// ReadNames reads a list of names, one a line (project-services,
// .services files), validating each.
func ReadNames(path, kind string) ([]string, error) {
	lines, err := readList(path)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if len(l.Fields) != 1 {
			return nil, Errorf(KindConfig, "", "%s:%d: expected one %s name, got %d fields", path, l.Line, kind, len(l.Fields))
		}
		if err := ValidName(kind, l.Fields[0]); err != nil {
			return nil, Errorf(KindConfig, "", "%s:%d: %v", path, l.Line, err)
		}
		out = append(out, l.Fields[0])
	}
	return out, nil
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
	p.ResolveAll(names)
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
