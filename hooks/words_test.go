package hooks

import (
	"context"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSplitWordsAsDash: the words SplitWords finds are the arguments dash
// passes for the same line.
func TestSplitWordsAsDash(t *testing.T) {
	if _, err := exec.LookPath("dash"); err != nil {
		t.Fatal("dash is not installed (make tools)")
	}
	for _, line := range []string{
		`pkgmgr undo hello`,
		`pkgmgr   undo  'my pkg'  "a b"`,
		`a\ b 'it'\''s' "say \"hi\"" "\$HOME" 'x\y' "back\\slash" "keep\q"`,
		`x""y '' ""`,
		"line\\\ncont",
		`a=b c`,
	} {
		got, err := SplitWords(line)
		if err != nil {
			if line == `a=b c` {
				continue // an assignment prefix is refused: it would set the environment
			}
			t.Errorf("%q: %v", line, err)
			continue
		}
		out, err := exec.Command("dash", "-c", "printf '%s\\0' "+line).Output()
		if err != nil {
			t.Fatalf("dash %q: %v", line, err)
		}
		want := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, dash %q", line, got, want)
		}
	}
	for _, line := range []string{`rm -rf $HOME`, "a `id`", `a $(id)`, `a; b`, `a && b`, `a | b`, `a > f`, `a *`, `~/bin/x`, `a &`, `"$x"`, ``, `! a`} {
		if w, err := SplitWords(line); err == nil {
			t.Errorf("%q: want refused, got %q", line, w)
		}
	}
}

// TestHookWaitsForBackgroundJobs: a hook is done when what it started in
// the background is done, so its output is complete and nothing it
// started outlives the file it writes to (the interpreter's `&` is a
// goroutine sharing the hook's output).
func TestHookWaitsForBackgroundJobs(t *testing.T) {
	var out strings.Builder
	err := RunCode(context.Background(), "hook", "(sleep 0.1; echo late) &\necho early\nexit 3\n", time.Minute,
		Options{Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &syncWriter{w: &out}, Stderr: &syncWriter{w: &out}})
	if Status(err) != 3 {
		t.Errorf("status %v, want the script's 3", err)
	}
	if got := out.String(); got != "early\nlate\n" {
		t.Errorf("output when the hook returned: %q", got)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
