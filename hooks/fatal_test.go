package hooks

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFatalErrorsAsInDash: what stops a sourced file in dash (exit 2)
// stops a config in servicectl, with file and line, and what dash only
// reports goes on.
func TestFatalErrorsAsInDash(t *testing.T) {
	needDash(t)
	d := t.TempDir()
	for _, src := range []string{
		": ${UNSET?missing}",
		"set -u; x=$UNSET2",
		"shift 3",
		"readonly R=1; R=2",
		"cd /nonexistent",
		"unset -v 1x",
		"set -o bogus",
		"x=$((1/0))",
		"export 1x=2",
		"exec 3</nonexistent",
		": < /nonexistent",
		"false",
		"nosuchcommand-xyz",
		"x=$(exit 3)",
	} {
		p := write(t, d, "cfg", "A=1\n"+src+"\nB=2\n", 0o644)
		_, derr := dashVars(t, diffEnv, d, p)
		_, ierr := interpVars(diffEnv, d, p)
		ierr = IgnoreStatus(ierr)
		if (derr != nil) != (ierr != nil) {
			t.Errorf("%q: dash error %v; servicectl error %v", src, derr, ierr)
			continue
		}
		if ierr != nil {
			var want = filepath.Join(d, "cfg") + ":2"
			if got := ierr.Error(); len(got) < len(want) || got[:len(want)] != want {
				t.Errorf("%q: error %q does not start with %s", src, got, want)
			}
		}
	}
}

func TestFatalErrorMessages(t *testing.T) {
	d := t.TempDir()
	for src, want := range map[string]string{
		"A=1\nx=$((4/0))\nB=2\n":                       "cfg:2: division by zero",
		"A=1\nreadonly R=1\nR=2\n":                     "cfg:3: R: readonly variable",
		"A=1\n: ${UNSET?set it in etc/project.conf}\n": "cfg:2: UNSET: set it in etc/project.conf",
		"A=1\n: < /nonexistent\n":                      "cfg:2: open /nonexistent: no such file or directory",
		"A=1\nshift\n":                                 "cfg:2: shift: can't shift that many",
	} {
		p := write(t, d, "cfg", src, 0o644)
		_, err := interpVars(diffEnv, d, p)
		if err == nil || !strings.Contains(err.Error(), p[:len(p)-3]+want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

// TestReadonlyAcrossFiles: a variable made read-only in one config and
// assigned in a later one stops the second at its line, as dash stops
// (exit 2), found from the variable's attribute, whatever stderr is.
func TestReadonlyAcrossFiles(t *testing.T) {
	d := t.TempDir()
	a := write(t, d, "project.conf", "readonly PORT_PREFIX=80\n", 0o644)
	b := write(t, d, "service.conf", "exec 2>/dev/null\nA=1\nPORT_PREFIX=90\nB=2\n", 0o644)
	_, err := SourceOpts(Options{Env: []string{"PATH=/usr/bin:/bin"}, Dir: d}, []string{a, b}, false)
	if err == nil || !strings.Contains(err.Error(), b+":3: PORT_PREFIX: readonly variable") || Status(err) != 2 {
		t.Fatalf("error %v (status %d), want %s:3: PORT_PREFIX: readonly variable, status 2", err, Status(err), b)
	}
}
