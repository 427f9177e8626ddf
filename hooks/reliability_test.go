package hooks

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// assignmentLine is what a sh-style settings file is made of: NAME=value
// (exported or not), comments and blank lines.
var assignmentLine = regexp.MustCompile(`^\s*(#.*|(export\s+)?[A-Za-z_][A-Za-z0-9_]*=.*|)$`)

// shSettingsFiles finds the machine's sh-style settings files: under
// /etc and /usr/share (four levels deep), small text files whose every
// line is an assignment, a comment or blank and that have at least one
// assignment — the files a config reader meets. Only those: sourcing any
// other script of the machine would run it.
func shSettingsFiles() []string {
	var out []string
	for _, top := range []string{"/etc", "/usr/share", "/usr/lib/os-release"} {
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if strings.Count(path, "/") > 5 {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			if fi, err := d.Info(); err != nil || fi.Size() == 0 || fi.Size() > 64<<10 {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return nil
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			assigns, ok := 0, true
			for sc.Scan() {
				line := sc.Text()
				if !assignmentLine.MatchString(line) || strings.ContainsRune(line, 0) {
					ok = false
					break
				}
				if t := strings.TrimSpace(line); t != "" && t[0] != '#' {
					assigns++
				}
			}
			if ok && sc.Err() == nil && assigns > 0 {
				out = append(out, path)
			}
			return nil
		})
	}
	return out
}

// TestReliabilityConfigsVsDash (issue 15): the config reader against
// dash at scale — every sh-style file found on the machine, its own
// configuration files and the project's idiom corpus — counted as read
// identically or differing.
func TestReliabilityConfigsVsDash(t *testing.T) {
	needDash(t)
	seen := map[string]bool{}
	var files []string
	corpus, _ := filepath.Glob("../testdata/sh-idioms/*.sh")
	for _, f := range append(append(realConfigFiles(), shSettingsFiles()...), corpus...) {
		if abs, err := filepath.Abs(f); err == nil && !seen[abs] {
			seen[abs] = true
			files = append(files, abs)
		}
	}
	if os.Getenv("SERVICECTL_RELIABILITY") == "" && len(files) > 300 {
		files = files[:300] // make test: a sample; make reliability: all
	}
	start := time.Now()
	d := t.TempDir()
	same, differ, refused := 0, 0, 0
	for _, f := range files {
		want, derr := dashVars(t, diffEnv, d, f)
		got, ierr := interpVars(diffEnv, d, f)
		if derr != nil {
			refused++ // not a file dash reads cleanly: not a config
			continue
		}
		if IgnoreStatus(ierr) != nil {
			differ++
			t.Errorf("%s: dash reads it, servicectl fails: %v", f, ierr)
			continue
		}
		if dv := diffVars(want, got); len(dv) > 0 {
			differ++
			t.Errorf("%s differs from dash:\n  %s", f, strings.Join(dv, "\n  "))
			continue
		}
		same++
	}
	t.Logf("%d files: %d read identically, %d differ, %d not read cleanly by dash either", len(files), same, differ, refused)
	t.Logf("RELIABILITY|configs read as dash reads them: the machine's sh-style files and the idiom corpus (%d identical, %d differing)|%d|%d|%.1f", same, differ, same+differ, differ, time.Since(start).Seconds())
}
