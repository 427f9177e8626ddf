package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func write(t testing.TB, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

var baseEnv = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}

func TestSourceLayersAndTypes(t *testing.T) {
	d := t.TempDir()
	a := write(t, d, "a", "A=1\nB=one\nexport E=x\nservice_flags=(--name \"two words\")\n", 0o644)
	b := write(t, d, "b", "B=two\nf() { echo \"$1$1\"; }\nC=$(f ab)\nN=$((A + 41))\nif [ \"$A\" = 1 ]; then D=yes; fi\n", 0o644)
	vars, err := sourceAll(baseEnv, d, []string{a, b}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two", "C": "abab", "N": "42", "D": "yes", "E": "x"}
	for k, v := range want {
		if vars[k].Value != v {
			t.Errorf("%s = %q, want %q", k, vars[k].Value, v)
		}
	}
	if !vars["E"].Exported || vars["A"].Exported {
		t.Errorf("exported flags wrong: E=%v A=%v", vars["E"].Exported, vars["A"].Exported)
	}
	fl := vars["service_flags"]
	if !fl.IsArray || len(fl.List) != 2 || fl.List[1] != "two words" {
		t.Errorf("array not kept: %+v", fl)
	}
}

func TestSourceAllExport(t *testing.T) {
	d := t.TempDir()
	a := write(t, d, "profile", "X=1\nY=2\n", 0o644)
	vars, err := sourceAll(baseEnv, d, []string{a}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vars["X"].Exported || !vars["Y"].Exported {
		t.Fatalf("set -a did not export: %+v %+v", vars["X"], vars["Y"])
	}
	// Each file starts with set -a, whatever the one before did; a file
	// may turn it off for its own rest; an error keeps its line number.
	off := write(t, d, "off", "A=1\nset +a\nB=1\n", 0o644)
	next := write(t, d, "next", "C=1\n", 0o644)
	vars, err = sourceAll(baseEnv, d, []string{off, next}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !vars["A"].Exported || vars["B"].Exported || !vars["C"].Exported {
		t.Errorf("exported: A=%v B=%v C=%v, want true false true", vars["A"].Exported, vars["B"].Exported, vars["C"].Exported)
	}
	bad := write(t, d, "bad", "A=1\n\nexit 3\n", 0o644)
	if _, err := sourceAll(baseEnv, d, []string{bad}, true, nil); err == nil || !strings.Contains(err.Error(), "exited with status 3") {
		t.Errorf("exit 3 under set -a: %v", err)
	}
	// A Session's Source restores set +a for what runs after it.
	var c Cache
	sess, err := NewSession(Options{Env: baseEnv, Dir: d, Cache: &c})
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Source(context.Background(), a, true); err != nil {
		t.Fatal(err)
	}
	if err := sess.Eval(context.Background(), "after", "Z=1"); err != nil {
		t.Fatal(err)
	}
	if v := sess.Vars(); !v["X"].Exported || v["Z"].Exported {
		t.Errorf("after Source(allExport): X exported %v, Z exported %v (want true, false)", v["X"].Exported, v["Z"].Exported)
	}
}

func TestSourceErrorsNameFileAndLine(t *testing.T) {
	d := t.TempDir()
	cases := []struct {
		name, content, want string
	}{
		{"unterminated", "A=1\nB=\"open\n", "unterminated:2"},
		{"syntax", "A=1\n\nif then fi\n", "syntax:3"},
		{"binary", "A=1\nB=\x00\x01\x02\n", "binary:2: binary data"},
		{"exit", "A=1\nexit 3\n", "exit:2: exited with status 3"},
	}
	for _, c := range cases {
		p := write(t, d, c.name, c.content, 0o644)
		_, err := sourceAll(baseEnv, d, []string{p}, false, nil)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(d, c.want)) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestSourceLastStatusIsNotAnError(t *testing.T) {
	d := t.TempDir()
	p := write(t, d, "c", "A=1\n[ -n \"$UNSET\" ] && A=2\n", 0o644)
	vars, err := sourceAll(baseEnv, d, []string{p}, false, nil)
	if err != nil || vars["A"].Value != "1" {
		t.Fatalf("vars %v err %v", vars["A"], err)
	}
}

func TestConfigThatLoopsForeverIsBounded(t *testing.T) {
	d := t.TempDir()
	p := write(t, d, "loop", "A=1\nwhile :; do :; done\n", 0o644)
	s, err := NewSession(Options{Env: baseEnv, Dir: d})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = s.Source(ctx, p, false)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "loop:2:") {
		t.Fatalf("got %v, want a time-out naming the file and the line", err)
	}
}

func TestSubLiteralValues(t *testing.T) {
	vals := map[string]string{
		"A":       "$(touch /tmp/servicectl-pwned)",
		"B":       "`id` 'q' \"dq\"",
		"C":       "line1\nline2",
		"SVC_X_1": "ok",
	}
	lookup := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	in := "a=__A__\nb=__B__ c=__C__\nd=__SVC_X_1__ __lower__ ____ __X\n"
	var out bytes.Buffer
	if err := Sub(strings.NewReader(in), &out, lookup, "t"); err != nil {
		t.Fatal(err)
	}
	want := "a=$(touch /tmp/servicectl-pwned)\nb=`id` 'q' \"dq\" c=line1\nline2\nd=ok __lower__ ____ __X\n"
	if out.String() != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
	if _, err := os.Stat("/tmp/servicectl-pwned"); err == nil {
		t.Fatal("a value was executed")
	}
	err := Sub(strings.NewReader("ok\nx=__MISSING__\n"), &out, lookup, "tmpl")
	var ue *UnsetError
	if !errors.As(err, &ue) || ue.Name != "MISSING" || ue.Line != 2 || !strings.Contains(err.Error(), "tmpl:2") {
		t.Fatalf("unset: %v", err)
	}
}

func TestSubConfBuiltinInInterpreter(t *testing.T) {
	root := t.TempDir()
	write(t, root, "ext/etc/app/app.conf", "port=__APP_PORT__\nname=__SERVICE_NAME__\n", 0o640)
	write(t, root, "ext/etc/app/other.conf", "ext\n", 0o644)
	write(t, root, "etc/app/other.conf", "project wins\n", 0o644)
	hook := write(t, root, "pre-start", "sub-conf app/app.conf\nsub-conf-dir app\necho rendered | sub > \"$LOCAL_VAR/piped\"\n", 0o755)
	env := append([]string{"PLAYPEN_ROOT=" + root, "LOCAL_VAR=" + root + "/var", "APP_PORT=8080", "SERVICE_NAME=web"}, baseEnv...)
	if err := RunFile(context.Background(), hook, time.Minute, Options{Env: env, Dir: root}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "var/etc/app/app.conf"))
	if string(got) != "port=8080\nname=web\n" {
		t.Fatalf("app.conf = %q", got)
	}
	fi, _ := os.Stat(filepath.Join(root, "var/etc/app/app.conf"))
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the template's 0640", fi.Mode().Perm())
	}
	got, _ = os.ReadFile(filepath.Join(root, "var/etc/app/other.conf"))
	if string(got) != "project wins\n" {
		t.Fatalf("other.conf = %q", got)
	}
	// An unset placeholder fails the hook, naming variable, file and line.
	write(t, root, "ext/etc/bad.conf", "x\ny=__NOPE__\n", 0o644)
	bad := write(t, root, "pre-start2", "\nsub-conf bad.conf\n", 0o755)
	err := RunFile(context.Background(), bad, time.Minute, Options{Env: env, Dir: root})
	if err == nil || !strings.Contains(err.Error(), "NOPE") || !strings.Contains(err.Error(), "bad.conf:2") || !strings.Contains(err.Error(), "pre-start2:2") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/etc/bad.conf")); err == nil {
		t.Fatal("a half-rendered file was left")
	}
}

func TestHookKinds(t *testing.T) {
	d := t.TempDir()
	out := &bytes.Buffer{}
	opts := Options{Env: append([]string{"GREETING=hi"}, baseEnv...), Dir: d, Stdout: out, Stderr: out, Args: []string{"web", "1.0"}}
	sh := write(t, d, "sh-hook", "#!/bin/sh\necho \"sh $GREETING $1 $2\"\n", 0o755)
	if ok, _ := Interpreted(sh); !ok {
		t.Fatal("#!/bin/sh hook should be interpreted")
	}
	if err := RunFile(context.Background(), sh, time.Minute, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("perl"); err == nil {
		pl := write(t, d, "pl-hook", "#!/usr/bin/perl\nprint \"perl $ENV{GREETING} $ARGV[0]\\n\"; exit 4;\n", 0o755)
		if ok, _ := Interpreted(pl); ok {
			t.Fatal("a perl hook must be executed directly")
		}
		err := RunFile(context.Background(), pl, time.Minute, opts)
		if Status(err) != 4 {
			t.Fatalf("perl hook status %v", err)
		}
	}
	code := "echo \"code $1\"; false"
	if err := RunCode(context.Background(), "service_pre_start", code, time.Minute, opts); Status(err) != 1 {
		t.Fatalf("code hook status: %v", err)
	}
	got := out.String()
	for _, want := range []string{"sh hi web 1.0", "code web"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

func TestHookThatHangsIsKilled(t *testing.T) {
	d := t.TempDir()
	hang := write(t, d, "hang", "#!/bin/sh\nsleep 30\n", 0o755)
	start := time.Now()
	err := RunFile(context.Background(), hang, 300*time.Millisecond, Options{Env: baseEnv, Dir: d})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "hang") {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

// TestConfirmAgainstSh compares the interpreter with a real /bin/sh on
// config idioms (tests only: servicectl itself never spawns sh).
func TestConfirmAgainstSh(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	scripts := []string{
		`A=${UNSET:-dflt}`,
		`A=$((3 * 7 + 1))`,
		`B="x y"; A=${B#x }`,
		`A=$(printf '%s-' a b c)`,
		`case foo.conf in *.conf) A=conf;; *) A=other;; esac`,
		`i=0; A=; while [ $i -lt 3 ]; do A="$A$i"; i=$((i+1)); done`,
		`A=${#PATH}`,
		`set -- one two; A="$2"`,
	}
	d := t.TempDir()
	for i, src := range scripts {
		p := write(t, d, "s"+string(rune('a'+i)), src+"\n", 0o644)
		vars, err := sourceAll(baseEnv, d, []string{p}, false, nil)
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		cmd := exec.Command("sh", "-c", `. "$1"; printf %s "$A"`, "sh", p)
		cmd.Env = baseEnv
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if vars["A"].Value != string(want) {
			t.Errorf("%q: interpreter %q, sh %q", src, vars["A"].Value, want)
		}
	}
}

func FuzzSub(f *testing.F) {
	for _, s := range []string{"__A__", "____", "__A__B__", "x__Z", "__A_", "__A__\n__B__"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lookup := func(k string) (string, bool) { return "<" + k + ">", true }
		var out bytes.Buffer
		if err := Sub(strings.NewReader(in), &out, lookup, "fuzz"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(in, "__") && out.String() != in {
			t.Fatalf("changed text without placeholders: %q -> %q", in, out.String())
		}
	})
}

func TestVarsWithoutAnyFile(t *testing.T) {
	vars, err := sourceAll([]string{"A=1", "PATH=/bin"}, t.TempDir(), nil, true, nil)
	if err != nil || vars["A"].Value != "1" || !vars["PATH"].Exported {
		t.Fatalf("an empty load-config must keep the environment: %v %v", vars, err)
	}
}

// BenchmarkRenderHook: a pre-start hook that renders a 100-line template
// with sub-conf in the embedded interpreter, against the same work done
// by spawning sh with sed. Reports the ratio as x-faster.
func BenchmarkRenderHook(b *testing.B) {
	root := b.TempDir()
	var tmpl strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&tmpl, "line %d: listen __APP_PORT__ name __SERVICE_NAME__ dir __LOCAL_VAR__\n", i)
	}
	write(b, root, "ext/etc/app/app.conf", tmpl.String(), 0o644)
	hook := write(b, root, "pre-start", "sub-conf app/app.conf\n", 0o755)
	env := append([]string{"PLAYPEN_ROOT=" + root, "LOCAL_VAR=" + root + "/var", "APP_PORT=8080", "SERVICE_NAME=web"}, baseEnv...)
	shHook := write(b, root, "pre-start.sh", `mkdir -p "$LOCAL_VAR/etc/app" && sed -e "s|__APP_PORT__|$APP_PORT|g" -e "s|__SERVICE_NAME__|$SERVICE_NAME|g" -e "s|__LOCAL_VAR__|$LOCAL_VAR|g" "$PLAYPEN_ROOT/ext/etc/app/app.conf" > "$LOCAL_VAR/etc/app/app.conf.tmp" && mv "$LOCAL_VAR/etc/app/app.conf.tmp" "$LOCAL_VAR/etc/app/app.conf"`+"\n", 0o755)
	var inproc, spawned time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := RunFile(context.Background(), hook, time.Minute, Options{Env: env, Dir: root}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		cmd := exec.Command("/bin/sh", shHook)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sh: %v %s", err, out)
		}
		spawned += time.Since(t1)
		inproc += t1.Sub(t0)
	}
	b.ReportMetric(float64(inproc.Microseconds())/float64(b.N), "interp-µs/op")
	b.ReportMetric(float64(spawned.Microseconds())/float64(b.N), "sh+sed-µs/op")
	b.ReportMetric(float64(spawned)/float64(inproc), "x-faster")
}

// TestReusedSessionStartsClean: configs sourced one after the other with
// a Cache share an interpreter; nothing of one may show in the next.
func TestReusedSessionStartsClean(t *testing.T) {
	d := t.TempDir()
	dirty := write(t, d, "dirty", "set -a\nset -u\nLEAK=1\nf() { echo hi; }\nalias g=true\nexport SHARED=changed\ncd /\n", 0o644)
	probe := write(t, d, "probe", `[ -z "${LEAK+x}" ] && NO_LEAK=1
command -v f >/dev/null || NO_FUNC=1
UNSET_OK=${NOPE}
OWN=1
HERE=$PWD
`, 0o644)
	var c Cache
	opts := Options{Base: NewEnviron([]string{"PATH=/usr/bin:/bin", "SHARED=base"}), Env: []string{"WHO=one"}, Dir: d, Cache: &c}
	if _, err := SourceOpts(opts, []string{dirty}, false); err != nil {
		t.Fatal(err)
	}
	opts.Env = []string{"WHO=two"}
	vars, err := SourceOpts(opts, []string{probe}, false)
	if err != nil {
		t.Fatalf("second config on a reused session: %v", err)
	}
	for k, want := range map[string]string{"NO_LEAK": "1", "NO_FUNC": "1", "WHO": "two", "SHARED": "base", "HERE": d} {
		if vars[k].Value != want {
			t.Errorf("%s = %q, want %q", k, vars[k].Value, want)
		}
	}
	if vars["OWN"].Exported {
		t.Error("set -a of the previous config leaked: OWN is exported")
	}
	if _, ok := vars["LEAK"]; ok {
		t.Error("LEAK from the previous config is visible")
	}
	// Both runs went through one pooled session, or this test proves nothing.
	if c.sessions == nil {
		t.Fatal("no session pool was used")
	}
}

// TestSourceVarsView: the variables a config leaves, read in place. The
// shell's own UID/EUID/GID come from the shared base, read-only and not
// exported, as the interpreter would set them; a caller's own UID wins;
// what the layer above the base sets wins over the base.
func TestSourceVarsView(t *testing.T) {
	d := t.TempDir()
	cfg := write(t, d, "config", "A=1\nexport B=2\narr=(x y)\nexport OVER=config\nservice_a=1\nservice_b=2\n", 0o644)
	bad := write(t, d, "bad", "UID=0\n", 0o644)
	var c Cache
	base := NewEnviron([]string{"PATH=/usr/bin:/bin", "OVER=base", "LAYER=base"})
	opts := Options{Base: base, Env: []string{"LAYER=top", "LAYER=last"}, Dir: d, Cache: &c}
	for round := 0; round < 2; round++ { // the second round reuses the pooled session
		err := SourceVars(opts, []string{cfg}, false, func(v Vars) error {
			if got := v.Value("UID"); got != strconv.Itoa(os.Getuid()) {
				t.Errorf("UID = %q", got)
			}
			if x, _ := v.Get("UID"); x.Exported {
				t.Error("UID is exported")
			}
			if a, ok := v.Get("arr"); !ok || !a.IsArray || len(a.List) != 2 || a.Value != "x y" {
				t.Errorf("arr = %+v", a)
			}
			env := map[string]string{}
			v.Exported(func(k, val string) { env[k] = val })
			want := map[string]string{"B": "2", "OVER": "config", "LAYER": "last", "PATH": "/usr/bin:/bin"}
			for k, w := range want {
				if env[k] != w {
					t.Errorf("exported %s = %q, want %q", k, env[k], w)
				}
			}
			for _, k := range []string{"A", "arr", "UID", "EUID", "GID"} {
				if _, ok := env[k]; ok {
					t.Errorf("%s is exported", k)
				}
			}
			names := v.Names("service_")
			sort.Strings(names)
			if strings.Join(names, " ") != "service_a service_b" {
				t.Errorf("Names(service_) = %q", names)
			}
			v.Set("service_a", "set")
			if x, ok := v.Get("service_a"); !ok || x.Value != "set" || !x.Exported {
				t.Errorf("after Set: %+v", x)
			}
			if _, ok := v.Get("NOPE"); ok {
				t.Error("Get of an unset variable")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// As in dash, where UID is a variable like any other: the assignment
	// holds (bash and upstream make UID read-only).
	if got, err := SourceOpts(opts, []string{bad}, false); err != nil || got["UID"].Value != "0" {
		t.Errorf("assigning UID: UID=%q, %v", got["UID"].Value, err)
	}
	mine, err := SourceOpts(Options{Base: NewEnviron([]string{"UID=12345"}), Dir: d, Cache: &c}, []string{cfg}, false)
	if err != nil || mine["UID"].Value != "12345" || !mine["UID"].Exported {
		t.Errorf("a caller's UID: %+v %v", mine["UID"], err)
	}
}

func TestSessionStderrNotShared(t *testing.T) {
	d := t.TempDir()
	f := write(t, d, "loud", "echo \"said $WHO\" >&2\n", 0o644)
	var c Cache
	var a, b bytes.Buffer
	for _, run := range []struct {
		who string
		w   *bytes.Buffer
	}{{"one", &a}, {"two", &b}} {
		if _, err := SourceOpts(Options{Env: []string{"WHO=" + run.who}, Dir: d, Cache: &c, Stderr: run.w}, []string{f}, false); err != nil {
			t.Fatal(err)
		}
	}
	if a.String() != "said one\n" || b.String() != "said two\n" {
		t.Fatalf("stderr mixed up: %q / %q", a.String(), b.String())
	}
}

// sourceAll sources files in a fresh, unpooled session over env.
func sourceAll(env []string, dir string, files []string, allExport bool, stderr io.Writer) (map[string]Var, error) {
	return SourceOpts(Options{Env: env, Dir: dir, Stderr: stderr}, files, allExport)
}

// TestCRLFRefused: a config saved with CR LF line ends is refused with
// its file and line (a deliberate difference: dash would keep the CR in
// every value, "8080\r", which then fails far from the cause).
func TestCRLFRefused(t *testing.T) {
	d := t.TempDir()
	p := write(t, d, "config", "A=1\nPORT=8080\r\nB=2\r\n", 0o644)
	_, err := SourceOpts(Options{Env: []string{"PATH=/usr/bin:/bin"}, Dir: d}, []string{p}, false)
	if err == nil || !strings.Contains(err.Error(), p+":2: line ends in CR LF") {
		t.Fatalf("error %v, want %s:2: line ends in CR LF", err, p)
	}
}
