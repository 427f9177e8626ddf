package hooks

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRandomHooksMatchDash (issue 30): generated hook scripts, each a
// few statements drawn from the families of testdata/sh-hooks (printf,
// echo, read with any IFS, getopts, traps, descriptors, parameter
// expansion, arithmetic, loops, functions, cd, here-documents), run by
// dash and as a hook; stdout and status must be identical. make test
// runs 150; make conformance (SERVICECTL_HOOKDIFF_N) thousands. The
// generator keeps away from the differences README lists.
func TestRandomHooksMatchDash(t *testing.T) {
	needDash(t)
	began := time.Now()
	n := 150
	if v, err := strconv.Atoi(os.Getenv("SERVICECTL_HOOKDIFF_N")); err == nil {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, seed^0x400c))
	dir := t.TempDir()
	env := []string{"PATH=/usr/bin:/bin", "HOME=/home/tester", "LANG=C"}
	differ := 0
	for i := 0; i < n; i++ {
		script := genHook(r)
		want, wantCode := runDash(t, dir, env, script)
		var got, stderr bytes.Buffer
		err := RunCode(context.Background(), "gen", script, 10*time.Second, Options{Env: env, Dir: dir, Stdout: &got, Stderr: &stderr})
		if got.String() != want || Status(err) != wantCode {
			differ++
			if differ <= 5 {
				t.Errorf("generated hook differs (seed %d):\n%s\ndash: %q status %d\nhook: %q status %d (%v; stderr %q)", seed, script, want, wantCode, got.String(), Status(err), err, stderr.String())
			}
		}
	}
	t.Logf("random hooks: %d generated (seed %d), %d differ from dash", n, seed, differ)
	t.Logf("RELIABILITY|random hook scripts (printf, read, getopts, trap, descriptors, expansions, loops) run as dash runs them; differing|%d|%d|%.1f", n, differ, time.Since(began).Seconds())
}

func runDash(t *testing.T, dir string, env []string, script string) (string, int) {
	cmd := exec.Command("dash", "-c", script)
	cmd.Env, cmd.Dir = env, dir
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// sq quotes s for sh in single quotes.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// genToken is a short word of letters, digits and a few punctuation
// characters, sometimes empty.
func genToken(r *rand.Rand) string {
	const chars = "abcxyz019-_.+/"
	var b strings.Builder
	for k := r.IntN(5); k > 0; k-- {
		b.WriteByte(chars[r.IntN(len(chars))])
	}
	return b.String()
}

func genHook(r *rand.Rand) string {
	gens := []func(*rand.Rand) string{
		genPrintf, genEcho, genRead, genGetopts, genTrap, genFds,
		genParam, genArith, genLoop, genFunc, genCd, genHeredoc, genCase,
	}
	var b strings.Builder
	for k := 1 + r.IntN(5); k > 0; k-- {
		b.WriteString(pick(r, gens...)(r))
		b.WriteString("\n")
		if r.IntN(3) == 0 {
			b.WriteString("echo \"s=$?\"\n")
		}
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(&b, "exit %d\n", r.IntN(4))
	}
	return b.String()
}

func genPrintf(r *rand.Rand) string {
	var f strings.Builder
	var args []string
	for k := 1 + r.IntN(4); k > 0; k-- {
		switch r.IntN(9) {
		case 0:
			f.WriteString("%s")
			args = append(args, sq(genToken(r)))
		case 1:
			fmt.Fprintf(&f, "%%%s%dd", pick(r, "", "-", "0", "+"), r.IntN(6))
			args = append(args, strconv.Itoa(r.IntN(2000)-1000))
		case 2:
			f.WriteString(pick(r, "%x", "%X", "%o", "%#x"))
			args = append(args, strconv.Itoa(r.IntN(5000)))
		case 3:
			fmt.Fprintf(&f, "%%.%df", r.IntN(4))
			args = append(args, fmt.Sprintf("%d.%d", r.IntN(100), r.IntN(1000)))
		case 4:
			f.WriteString("%c")
			args = append(args, sq(genToken(r)))
		case 5:
			f.WriteString("%b")
			args = append(args, sq(pick(r, `a\tb`, `x\ny`, `\0101`, `q\\r`)))
		case 6:
			fmt.Fprintf(&f, "%%%d.%ds", r.IntN(8), r.IntN(4))
			args = append(args, sq(genToken(r)))
		case 7:
			f.WriteString(pick(r, `\t`, `\\`, `|`, `%%`, ` `))
		default:
			f.WriteString(genToken(r))
		}
	}
	f.WriteString(`\n`)
	if r.IntN(4) == 0 {
		args = append(args, args...) // the format is reused
	}
	return "printf " + sq(f.String()) + " " + strings.Join(args, " ")
}

func genEcho(r *rand.Rand) string {
	var args []string
	for k := r.IntN(4); k > 0; k-- {
		args = append(args, sq(pick(r, genToken(r), `a\tb`, `c\\d`, `x\cy`, `-n`, "")))
	}
	return "echo " + strings.Join(args, " ")
}

func genRead(r *rand.Rand) string {
	seps := pick(r, ":", " ", ",", ": ", " \t")
	var line strings.Builder
	for k := r.IntN(5); k > 0; k-- {
		if k < 4 {
			line.WriteByte(seps[r.IntN(len(seps))])
		}
		line.WriteString(genToken(r))
		if r.IntN(5) == 0 {
			line.WriteByte(seps[r.IntN(len(seps))])
		}
	}
	vars := pick(r, "a", "a b", "a b c")
	ifs := pick(r, "", "IFS=: ", "IFS=', ' ", "IFS=' :' ", "IFS= ")
	raw := pick(r, "-r ", "")
	return fmt.Sprintf("printf '%%s\\n' %s | { %sread %s%s; printf '[%%s]' \"$a\" \"${b-}\" \"${c-}\"; echo \" $?\"; }", sq(line.String()), ifs, raw, vars)
}

func genGetopts(r *rand.Rand) string {
	optstr := pick(r, "ab", "a:b", ":ab:", "xy:z", ":x")
	var args []string
	for k := r.IntN(5); k > 0; k-- {
		args = append(args, pick(r, "-a", "-b", "-ab", "-ba", "-x", "-y1", "-z", "--", "val", "-q", "-a1"))
	}
	return fmt.Sprintf("set -- %s; while getopts %s o; do echo \"$o ${OPTARG-unset} $OPTIND\"; done 2>/dev/null; echo \"end $OPTIND\"", strings.Join(args, " "), sq(optstr))
}

func genTrap(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("trap 'echo \"trap $?\"' EXIT")
	case 1:
		return fmt.Sprintf("trap %s %s; trap", sq("echo "+genToken(r)), pick(r, "INT", "TERM", "HUP", "USR1", "0"))
	case 2:
		return "trap 'echo caught' USR1; kill -USR1 $$; echo \"after $?\""
	}
	return fmt.Sprintf("trap 'exit %d' EXIT", r.IntN(5))
}

func genFds(r *rand.Rand) string {
	n := 3 + r.IntN(7)
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("exec %d>&1; echo %s >&%d; exec %d>&-", n, sq(genToken(r)), n, n)
	case 1:
		return fmt.Sprintf("{ echo out; echo err >&2; } %d>&1 1>&2 2>&%d 2>/dev/null", n, n)
	case 2:
		return fmt.Sprintf("printf 'l1\\nl2\\n' > fd%d.txt; exec %d<fd%d.txt; read x <&%d; read y <&%d; echo \"$x $y\"; exec %d<&-; rm fd%d.txt", n, n, n, n, n, n, n)
	}
	return fmt.Sprintf("cat %d<<EOF <&%d\n%s\nEOF", n, n, genToken(r))
}

func genParam(r *rand.Rand) string {
	v := genToken(r) + pick(r, "", ".tar.gz", "/x/y")
	ops := []string{"${v#*.}", "${v##*.}", "${v%.*}", "${v%%/*}", "${#v}", "${v:-dflt}", "${u-unset}", "${v:+set}", "${u:=new}$u", "\"${v#\"" + genToken(r) + "\"}\""}
	return fmt.Sprintf("v=%s; unset u; echo %s %s", sq(v), pick(r, ops...), pick(r, ops...))
}

func genArith(r *rand.Rand) string {
	a, b := r.IntN(200)-100, r.IntN(50)+1
	op := pick(r, "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "<", ">=", "==", "!=", "&&", "||")
	if r.IntN(8) == 0 {
		return fmt.Sprintf("a=%d; echo $((a / 0)); echo after", a) // stops, as in dash
	}
	return fmt.Sprintf("a=%d; b=%d; echo $((a %s b)) $((a > b ? a : b)) $((-a)) $(( (a+b) * 2 ))", a, b, op)
}

func genLoop(r *rand.Rand) string {
	n := r.IntN(4)
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("i=0; while [ $i -lt %d ]; do i=$((i+1)); [ $i -eq %d ] && continue; echo $i; done; echo \"loop $?\"", n, r.IntN(4))
	case 1:
		return fmt.Sprintf("for w in %s %s %s; do [ \"$w\" = %s ] && break; printf '%%s.' \"$w\"; done; echo", sq(genToken(r)), sq(genToken(r)), sq(genToken(r)), sq(genToken(r)))
	case 2:
		return fmt.Sprintf("i=0; until [ $i -ge %d ]; do i=$((i+1)); done; echo $i", n)
	}
	return fmt.Sprintf("n=0; printf 'a\\nb\\nc\\n' | while read l; do n=$((n+1)); done; echo \"n=$n\"")
}

func genFunc(r *rand.Rand) string {
	return fmt.Sprintf("f() { local x=%s; %s; return %s; }; f; echo \"f=$? x=${x-unset}\"", sq(genToken(r)), pick(r, "true", "false", "echo in"), pick(r, "", "0", "3", "$?"))
}

func genCd(r *rand.Rand) string {
	return pick(r, "cd /tmp && pwd && cd - >/dev/null && env | grep -c '^OLDPWD='", "cd /nonexistent 2>/dev/null; echo \"cd $?\"", "cd / ; echo \"$PWD $OLDPWD\" | wc -w")
}

func genHeredoc(r *rand.Rand) string {
	q := pick(r, "EOF", "'EOF'")
	return fmt.Sprintf("x=%s; cat <<%s\nval $x $((1+2)) %s\nEOF", sq(genToken(r)), q, genToken(r))
}

func genCase(r *rand.Rand) string {
	return fmt.Sprintf("case %s in a*) echo A;; *[0-9]*) echo D;; '') echo E;; *) echo O;; esac", sq(genToken(r)))
}
