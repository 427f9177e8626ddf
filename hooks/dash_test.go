package hooks

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The differential tests of SPEC §3.2: a config means what dash makes of
// it. Each file is sourced by dash and by the embedded interpreter from the
// same clean environment, and every variable either leaves must agree.

// dashOnly and interpOnly are the shell's own bookkeeping variables, which
// are not a config's values.
var shellOwn = map[string]bool{
	"IFS": true, "OPTIND": true, "PPID": true, "PS1": true, "PS2": true,
	"PS4": true, "PWD": true, "UID": true, "EUID": true, "GID": true,
}

var diffEnv = []string{"PATH=/usr/bin:/bin", "HOME=/home/tester", "LANG=C"}

// dashVars sources file with dash in dir and returns the variables it
// leaves, read back from `set` in an EXIT trap (so `exit` in the file
// still reports them).
func dashVars(t testing.TB, env []string, dir, file string) (map[string]string, error) {
	t.Helper()
	// The file is $0, so that $# and $@ are those of a config: none.
	cmd := exec.Command("dash", "-c", `trap 'set' EXIT; . "$0"`, file)
	cmd.Env = env
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	vars, perr := parseDashSet(string(out))
	if perr != nil {
		t.Fatalf("%s: reading dash's set output: %v\n%s", file, perr, out)
	}
	if err != nil {
		return vars, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return vars, nil
}

// parseDashSet reads dash's `set` listing: NAME= then a value made of
// '...' runs and "'" (or a quote between double quotes, repeated) for quotes.
func parseDashSet(s string) (map[string]string, error) {
	vars := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("no '=' in %q", s)
		}
		name := s[:eq]
		s = s[eq+1:]
		var b strings.Builder
		for len(s) > 0 && s[0] != '\n' {
			switch {
			case s[0] == '\'':
				end := strings.IndexByte(s[1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("%s: unterminated quote", name)
				}
				b.WriteString(s[1 : 1+end])
				s = s[2+end:]
			case s[0] == '"':
				// A run of quotes: "'" or "''"...
				end := strings.IndexByte(s[1:], '"')
				if end < 0 || strings.Trim(s[1:1+end], "'") != "" {
					return nil, fmt.Errorf("%s: unexpected %q", name, s)
				}
				b.WriteString(s[1 : 1+end])
				s = s[2+end:]
			default:
				// dash prints plain words unquoted only when safe.
				end := strings.IndexAny(s, "'\n")
				if end < 0 {
					end = len(s)
				}
				b.WriteString(s[:end])
				s = s[end:]
			}
		}
		if len(s) > 0 {
			s = s[1:]
		}
		vars[name] = b.String()
	}
	return vars, nil
}

func interpVars(env []string, dir, file string) (map[string]string, error) {
	vars, err := SourceOpts(Options{Env: env, Dir: dir}, []string{file}, false)
	out := map[string]string{}
	for k, v := range vars {
		out[k] = v.Value
	}
	return out, err
}

// diffVars lists the variables on which the two shells disagree.
func diffVars(dash, ours map[string]string) []string {
	var out []string
	for k, v := range dash {
		if shellOwn[k] {
			continue
		}
		if w, ok := ours[k]; !ok {
			out = append(out, fmt.Sprintf("%s: dash %q, servicectl unset", k, v))
		} else if w != v {
			out = append(out, fmt.Sprintf("%s: dash %q, servicectl %q", k, v, w))
		}
	}
	for k, w := range ours {
		if _, ok := dash[k]; !ok && !shellOwn[k] {
			out = append(out, fmt.Sprintf("%s: dash unset, servicectl %q", k, w))
		}
	}
	sort.Strings(out)
	return out
}

func needDash(t testing.TB) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Fatal("dash is needed for the conformance tests (apt-get install dash; make test installs it)")
	}
}

// TestIdiomCorpusMatchesDash sources every file of testdata/sh-idioms.
func TestIdiomCorpusMatchesDash(t *testing.T) {
	needDash(t)
	dir, err := filepath.Abs("../testdata/sh-idioms")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.sh"))
	if len(files) < 10 {
		t.Fatalf("idiom corpus has %d files", len(files))
	}
	same := 0
	for _, f := range files {
		want, derr := dashVars(t, diffEnv, dir, f)
		got, ierr := interpVars(diffEnv, dir, f)
		if (derr == nil) != (IgnoreStatus(ierr) == nil) {
			t.Errorf("%s: dash error %v, servicectl error %v", filepath.Base(f), derr, ierr)
			continue
		}
		if d := diffVars(want, got); len(d) > 0 {
			t.Errorf("%s differs from dash:\n  %s", filepath.Base(f), strings.Join(d, "\n  "))
			continue
		}
		same++
	}
	t.Logf("idiom files identical to dash: %d of %d", same, len(files))
}

func TestMain(m *testing.M) {
	Trampoline()
	os.Exit(m.Run())
}
