package pkgsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"servicectl/hooks"
)

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
