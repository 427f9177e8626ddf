package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// TestUpstreamStillNeedsConform runs idioms through the bare upstream
// interpreter. Each one it gets wrong is a correction in conform.go; when
// upstream starts reading one as dash does, this test fails, naming the
// correction that can go.
func TestUpstreamStillNeedsConform(t *testing.T) {
	cases := []struct{ src, name, dash, fix string }{
		{`x=a\ b`, "x", "a b", "unquoted backslash escapes (expand.Literal → wordField at quoteNone)"},
		{`x=${U:-a\ b}`, "x", "a b", "escapes in ${x:-w} (paramExp expands the word with Literal)"},
		{`s='a*b'; x=${s%"*b"}`, "x", "a", "quoted pattern characters (paramExp expands the pattern with Literal)"},
		{`x=/a:~/b`, "x", "/a:/h/b", "tilde after ':' in assignments"},
		{`X=1 :; x=$X`, "x", "1", "assignments before special builtins persist"},
		{`eval 'x=a\ b'`, "x", "a b", "eval's text (same escapes)"},
		{`x=$(kill -l 15)`, "x", "TERM", "kill builtin"},
	}
	for _, c := range cases {
		f, err := syntax.NewParser().Parse(strings.NewReader(c.src), "")
		if err != nil {
			t.Fatal(err)
		}
		r, err := interp.New(interp.Env(expand.ListEnviron("HOME=/h", "PATH=/usr/bin:/bin")))
		if err != nil {
			t.Fatal(err)
		}
		r.Run(context.Background(), f)
		if got := r.Vars[c.name].String(); got == c.dash {
			t.Errorf("upstream now reads %q as dash does (%q): the correction for %s in conform.go/session.go can go", c.src, got, c.fix)
		}
	}
}

// sh runs code in the embedded interpreter as a hook and returns its
// stdout and error.
func sh(t *testing.T, dir, code string, env ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := RunCode(context.Background(), "test-code", code, 10*time.Second, Options{
		Env: append([]string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}, env...), Dir: dir, Stdout: &out, Stderr: &errb,
	})
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

// sleeper starts a process for a script to signal (the interpreter's
// `&` runs a goroutine, and its $! is no pid).
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}

func endedBy(t *testing.T, cmd *exec.Cmd, want string) {
	t.Helper()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ProcessState.String() != want {
		t.Errorf("%v ended with %v, want %s", cmd.Args, err, want)
	}
}

func TestKillBuiltin(t *testing.T) {
	d := t.TempDir()
	a, b, c, e := sleeper(t), sleeper(t), sleeper(t), sleeper(t)
	pid := func(c *exec.Cmd) string { return strconv.Itoa(c.Process.Pid) }
	out, err := sh(t, d, `
kill -s TERM $A
kill -KILL "$B"
kill -9 $C; echo "nine=$?"
kill -l 143
kill -l HUP
kill 0; echo "zero=$?"
kill -- -1; echo "all=$?"
kill 2147483000; echo "none=$?"
kill -s NOSUCH $E; echo "bad=$?"
`, "A="+pid(a), "B="+pid(b), "C="+pid(c), "E="+pid(e))
	if err != nil {
		t.Fatal(err)
	}
	want := "nine=0\nTERM\n1\nzero=1\nall=1\nnone=1\nbad=2\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	endedBy(t, a, "signal: terminated")
	endedBy(t, b, "signal: killed")
	endedBy(t, c, "signal: killed")
	// The idiom of the issue: a replacement command signalling the pid in
	// a pidfile.
	pidfile := write(t, d, "svc.pid", pid(e)+"\n", 0o644)
	if _, err := sh(t, d, `kill -HUP $(cat "$SERVICE_PIDFILE")`, "SERVICE_PIDFILE="+pidfile); err != nil {
		t.Fatal(err)
	}
	endedBy(t, e, "signal: hangup")
}

func TestUmaskBuiltin(t *testing.T) {
	d := t.TempDir()
	out, err := sh(t, d, `
umask 027
umask
umask -S
: > redirected
touch touched
mkdir dir
umask u=rwx,g=rwx,o=
umask
umask 0
: > open
`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0027\nu=rwx,g=rx,o=\n0007\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	for name, want := range map[string]os.FileMode{"redirected": 0o640, "touched": 0o640, "dir": 0o750 | os.ModeDir, "open": 0o666} {
		fi, err := os.Stat(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	// servicectl's own umask is untouched.
	if u := processUmask(); u != 0o022 {
		t.Logf("process umask %04o", u)
	}
	if out, _ := sh(t, d, "umask"); strings.TrimSpace(out) != fmt.Sprintf("%04o", processUmask()) {
		t.Errorf("a new script sees umask %q, want servicectl's %04o", out, processUmask())
	}
}

func TestUlimitBuiltin(t *testing.T) {
	d := t.TempDir()
	out, err := sh(t, d, `
ulimit -n 64
ulimit -n
grep 'Max open files' /proc/self/limits
ulimit -S -n 32
ulimit -Sn
ulimit -Hn
grep 'Max open files' /proc/self/limits
ulimit -c 0
ulimit -c
ulimit -a | grep nofiles
ulimit -n 1000000000 || echo refused
`)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\s+`)
	got := re.ReplaceAllString(out, " ")
	want := "64 Max open files 64 64 files 32 64 Max open files 32 64 files 0 nofiles 32 refused "
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTimesAndLackingBuiltins(t *testing.T) {
	d := t.TempDir()
	out, err := sh(t, d, "times")
	if err != nil || !regexp.MustCompile(`^\d+m\d+\.\d{6}s \d+m\d+\.\d{6}s\n\d+m\d+\.\d{6}s \d+m\d+\.\d{6}s\n$`).MatchString(out) {
		t.Errorf("times: %q %v", out, err)
	}
	_, err = sh(t, d, "A=1\njobs\nA=2\n")
	var se *ScriptError
	if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(se.Error(), "jobs: not a builtin") {
		t.Errorf("jobs: %v, want an error at line 2", err)
	}
	// A function of that name is the script's own and runs.
	if out, err := sh(t, d, "jobs() { echo mine; }\njobs\n"); err != nil || out != "mine\n" {
		t.Errorf("function jobs: %q %v", out, err)
	}
}

// TestDotIsFatalAsInDash: `.` of a missing file, or of one that does not
// parse, ends the config with an error naming both files, where dash
// exits 2; and a name without a slash is searched in PATH only.
func TestDotIsFatalAsInDash(t *testing.T) {
	needDash(t)
	d := t.TempDir()
	bin := filepath.Join(d, "bin")
	write(t, bin, "lib.sh", "FROM=path\n", 0o644)
	write(t, d, "lib.sh", "FROM=cwd\n", 0o644)
	write(t, d, "broken.sh", "A=1\nif then\n", 0o644)
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=/h"}
	for _, c := range []struct {
		src, wantErr string
	}{
		{"B=1\n. lib.sh\nC=2\n", ""},
		{"B=1\n. ./lib.sh\nC=2\n", ""},
		{"B=1\n. ./missing.sh\nC=2\n", "cfg:2: .: ./missing.sh: no such file"},
		{"B=1\n. ./broken.sh\nC=2\n", "broken.sh:2: syntax error"},
		{"B=1\n. nowhere.sh\nC=2\n", "cfg:2: .: nowhere.sh: not found"},
	} {
		p := write(t, d, "cfg", c.src, 0o644)
		want, derr := dashVars(t, env, d, p)
		got, ierr := interpVars(env, d, p)
		if c.wantErr == "" {
			if derr != nil || ierr != nil {
				t.Errorf("%q: dash %v, servicectl %v", c.src, derr, ierr)
			}
			if dv := diffVars(want, got); len(dv) > 0 {
				t.Errorf("%q: %v", c.src, dv)
			}
			continue
		}
		if derr == nil {
			t.Errorf("%q: dash did not fail", c.src)
		}
		if ierr == nil || !strings.Contains(strings.ToLower(ierr.Error()), c.wantErr) {
			t.Errorf("%q: error %v, want it to contain %q", c.src, ierr, c.wantErr)
		}
		if strings.Contains(c.src, "broken") && !strings.Contains(ierr.Error(), "included by "+p+":2") {
			t.Errorf("%q: error %v does not name the including file", c.src, ierr)
		}
	}
}

func TestHomeIsNotInvented(t *testing.T) {
	needDash(t)
	d := t.TempDir()
	p := write(t, d, "cfg", "h=${HOME-unset}\nt=~/x\n", 0o644)
	env := []string{"PATH=/usr/bin:/bin"}
	want, derr := dashVars(t, env, d, p)
	got, ierr := interpVars(env, d, p)
	if derr != nil || ierr != nil {
		t.Fatal(derr, ierr)
	}
	if dv := diffVars(want, got); len(dv) > 0 {
		t.Error(dv)
	}
	// A pooled session reused for a caller with HOME, then without.
	c := &Cache{}
	for _, env := range [][]string{{"HOME=/h"}, nil, {"HOME=/g"}} {
		vars, err := SourceOpts(Options{Env: env, Dir: d, Cache: c}, []string{p}, false)
		if err != nil {
			t.Fatal(err)
		}
		wantH := "unset"
		if env != nil {
			wantH = env[0][5:]
		}
		if vars["h"].Value != wantH {
			t.Errorf("env %v: h=%q, want %q", env, vars["h"].Value, wantH)
		}
	}
}

// realConfigFiles are the sh-style configuration files a Debian machine
// has, read in place.
func realConfigFiles() []string {
	var files []string
	for _, g := range []string{"/etc/default/*", "/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release", "/etc/environment", "/etc/profile", "/etc/profile.d/*.sh"} {
		m, _ := filepath.Glob(g)
		for _, f := range m {
			if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
				files = append(files, f)
			}
		}
	}
	return files
}

// TestRealConfigFilesMatchDash sources every sh-style configuration file
// found on the machine with dash and with servicectl.
func TestRealConfigFilesMatchDash(t *testing.T) {
	needDash(t)
	files := realConfigFiles()
	if len(files) == 0 {
		t.Fatal("no configuration files found under /etc")
	}
	d := t.TempDir()
	same, compared := 0, 0
	for _, f := range files {
		want, derr := dashVars(t, diffEnv, d, f)
		got, ierr := interpVars(diffEnv, d, f)
		if derr != nil {
			// Not a file dash reads cleanly (bash syntax, say): both must
			// refuse it or servicectl must at least not read it silently
			// otherwise; counted apart.
			t.Logf("%s: dash fails (%v); servicectl: %v", f, derr, ierr)
			continue
		}
		compared++
		if IgnoreStatus(ierr) != nil {
			t.Errorf("%s: dash reads it, servicectl fails: %v", f, ierr)
			continue
		}
		if dv := diffVars(want, got); len(dv) > 0 {
			t.Errorf("%s differs from dash:\n  %s", f, strings.Join(dv, "\n  "))
			continue
		}
		same++
	}
	t.Logf("real configuration files identical to dash: %d of %d compared (%d found)", same, compared, len(files))
}

// genWord builds a random sh word: literals, escapes, single and double
// quotes, parameter expansions with nested words and patterns,
// arithmetic and command substitution. nested is true inside ${…}, where
// an unquoted '}' would end the expansion.
func genWord(r *rand.Rand, depth int, nested, dq bool, vars int) string {
	const lit = "abcXYZ019._-/:,@%+="
	const escs = " '\"$`\\*?[]#~;&|<>(){}=abc:"
	sq := "ab $\"`\\*?#~;{}"
	if dq {
		// Inside "${x:-…}" dash takes quotes for plain characters, so a
		// backquote or double quote there would end something else.
		sq = "ab \\*?#~;{" // no $: '$$' there is the shell's pid
	}
	const dql = "ab '*?#~;{}-:"
	var b strings.Builder
	n := 1 + r.IntN(4)
	varRef := func() string {
		if vars == 0 || r.IntN(4) == 0 {
			return "UNSET"
		}
		return "v" + strconv.Itoa(r.IntN(vars))
	}
	for i := 0; i < n; i++ {
		k := r.IntN(10)
		if depth <= 0 && k >= 6 {
			k = r.IntN(6)
		}
		switch k {
		case 0, 1:
			for j := 1 + r.IntN(3); j > 0; j-- {
				b.WriteByte(lit[r.IntN(len(lit))])
			}
			if i == 0 && r.IntN(8) == 0 {
				// A tilde prefix, or one after ':'.
				b.WriteString(":~/t")
			}
		case 2:
			b.WriteByte('\\')
			b.WriteByte(escs[r.IntN(len(escs))])
		case 3:
			b.WriteByte('\'')
			for j := r.IntN(4); j > 0; j-- {
				b.WriteByte(sq[r.IntN(len(sq))])
			}
			b.WriteByte('\'')
		case 4:
			b.WriteByte('"')
			for j := r.IntN(4); j > 0; j-- {
				switch r.IntN(5) {
				case 0:
					b.WriteByte('\\')
					b.WriteByte("$`\"\\xn}"[r.IntN(7)])
				case 1:
					b.WriteString("${" + varRef() + "}")
				case 2:
					if depth > 0 {
						b.WriteString("${" + varRef() + ":-" + genWord(r, depth-1, true, true, vars) + "}")
						continue
					}
					fallthrough
				default:
					b.WriteByte(dql[r.IntN(len(dql))])
				}
			}
			b.WriteByte('"')
		case 5:
			b.WriteString("${" + varRef() + "}")
		case 6:
			op := []string{":-", "-", ":+", "+", ":=UNUSED"}[r.IntN(4)]
			b.WriteString("${" + varRef() + op + genWord(r, depth-1, true, dq, vars) + "}")
		case 7:
			op := []string{"#", "##", "%", "%%"}[r.IntN(4)]
			pat := []string{"*", "?", `"*"`, `'?'`, `\*`, "a", `"a*"`, "*b", `"$v0"`, `[ab]`, `"[ab]"`}
			b.WriteString("${" + varRef() + op + pat[r.IntN(len(pat))] + pat[r.IntN(len(pat))] + "}")
		case 8:
			b.WriteString("$((" + strconv.Itoa(r.IntN(100)) + []string{"+", "-", "*", "%"}[r.IntN(4)] + strconv.Itoa(1+r.IntN(9)) + "))")
		case 9:
			// Depth 0: in a command's arguments, upstream splits the
			// quoted part of an unquoted ${x:-'a b'} (README, known
			// differences); in assignments it does not matter.
			b.WriteString("$(printf %s " + genWord(r, 0, false, false, vars) + ")")
		}
	}
	s := b.String()
	if nested {
		// An unquoted '}' from a literal or an escape would be fine, but
		// a bare one from the literal set would end ${…}: the set has none.
		return s
	}
	return s
}

// randomAssignments writes files of n assignments in total and compares
// dash and servicectl on them; it returns the number of variables that
// differ, and the first few differences.
func randomAssignments(t testing.TB, seed uint64, n int) (differ int, samples []string) {
	needDash(t)
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	d := t.TempDir()
	const perFile = 250
	for start := 0; start < n; start += perFile {
		var b strings.Builder
		for i := 0; i < perFile && start+i < n; i++ {
			fmt.Fprintf(&b, "v%d=%s\n", i, genWord(r, 2, false, false, i))
		}
		p := write(t, d, fmt.Sprintf("gen%d.sh", start), b.String(), 0o644)
		want, derr := dashVars(t, diffEnv, d, p)
		got, ierr := interpVars(diffEnv, d, p)
		if derr != nil || IgnoreStatus(ierr) != nil {
			var se *ScriptError
			if errors.As(ierr, &se) && se.Line > 0 {
				t.Logf("line %d: %s", se.Line, strings.Split(b.String(), "\n")[se.Line-1])
			}
			t.Fatalf("%s: dash %v, servicectl %v (the generator must make valid sh)", p, derr, ierr)
		}
		for _, dv := range diffVars(want, got) {
			differ++
			if len(samples) < 10 {
				name, _, _ := strings.Cut(dv, ":")
				line := ""
				for _, l := range strings.Split(b.String(), "\n") {
					if strings.HasPrefix(l, name+"=") {
						line = l
					}
				}
				samples = append(samples, line+"\n    "+dv)
			}
		}
	}
	return differ, samples
}

// TestRandomAssignmentsMatchDash: a few hundred generated assignments
// (make conformance runs tens of thousands).
func TestRandomAssignmentsMatchDash(t *testing.T) {
	began := time.Now()
	n := 500
	if v, err := strconv.Atoi(os.Getenv("SERVICECTL_SHDIFF_N")); err == nil {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	differ, samples := randomAssignments(t, seed, n)
	t.Logf("random assignments: %d generated (seed %d), %d differ from dash", n, seed, differ)
	t.Logf("RELIABILITY|random sh assignments (quotes, escapes, expansions, patterns) read as dash reads them; differing|%d|%d|%.1f", n, differ, time.Since(began).Seconds())
	if differ > 0 {
		t.Errorf("%d of %d assignments differ from dash (seed %d):\n  %s", differ, n, seed, strings.Join(samples, "\n  "))
	}
}

func TestCommandsListsWithoutRunning(t *testing.T) {
	d := t.TempDir()
	marker := filepath.Join(d, "ran")
	p := write(t, d, "config", `host=$(hostname)
f() { id -u; }
. ./lib.sh
$CMD arg
touch `+marker+`
command -v curl >/dev/null && have_curl=1
exec_it=$(command cat /etc/hostname)
echo builtin
`, 0o644)
	cmds, err := Commands(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, fmt.Sprintf("%d:%s:%s%s", c.Line, c.Kind, c.Name, c.Word))
	}
	want := "1:external:hostname 2:external:id 3:source:../lib.sh 4:dynamic:$CMD 5:external:touch 7:external:cat"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("listing the commands ran the config")
	}
}

// FuzzConform: whatever the interpreter parses, the corrected text parses
// too, with the same number of lines (errors keep naming the author's
// lines), and correcting twice changes nothing more than once.
func FuzzConform(f *testing.F) {
	for _, s := range []string{
		`x=a\ b`, `x=${U:-a\ b}`, `s='a*b'; x=${s%"*b"}`, `x=/a:~/b`, `X=1 :`, `x=$'q'`,
		`x="${U:-'$HOME'}"`, `: < /x`, "f() { return 1; }\nreturn 0", `x=${s#"$p"}`, `x="${U-"\}a"}"`,
		"cat <<EOF\n$x \\$y\nEOF", `case a\*b in a\*) :;; esac`, `eval 'a=b\ c'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if _, _, err := parseBytes("f", []byte(src)); err != nil {
			return
		}
		c, err := conform("f", []byte(src))
		if err != nil {
			var se *ScriptError
			if errors.As(err, &se) && strings.Contains(se.Msg, "as sh reads") {
				// The correction did not parse: right only where dash
				// cannot parse the source either (bash's $'…', a quote
				// inside "${x:-…}" that dash takes literally…). dash -n
				// parses without running anything.
				if strings.Contains(se.Msg, "unclosed here-document") {
					// A delimiter upstream does not find even on a line of
					// its own (`<<'$'0`: README's known differences; the
					// canary in TestUpstreamStillNeedsHookFixes).
					return
				}
				if exec.Command("dash", "-n", "-c", src).Run() == nil {
					t.Fatalf("%q: dash parses it, servicectl does not: %v", src, err)
				}
				return
			}
			if errors.As(err, &se) && (strings.Contains(se.Msg, "is bash's, and dash cannot read it") || strings.Contains(se.Msg, "CR LF") || strings.Contains(se.Msg, "here-document delimiter with bash's")) {
				return // refused on purpose (bashisms.go, parseBytes), naming the line
			}
			t.Fatalf("%q: %v", src, err)
		}
		if strings.Count(string(c.src), "\n")-c.closed != strings.Count(src, "\n") {
			t.Fatalf("%q: the correction changed the number of lines:\n%s", src, c.src)
		}
	})
}
