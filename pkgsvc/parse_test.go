package pkgsvc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
)

func TestVersionOrder(t *testing.T) {
	ordered := []string{"1.3.12", "1.3.12-9", "1.3.12-10", "1.9.9-99", "1.10.0", "2", "2.0.1-1"}
	for i := 0; i+1 < len(ordered); i++ {
		c, err := CompareVersions(ordered[i], ordered[i+1])
		if err != nil || c >= 0 {
			t.Errorf("%s < %s: got %d, %v", ordered[i], ordered[i+1], c, err)
		}
		c, _ = CompareVersions(ordered[i+1], ordered[i])
		if c <= 0 {
			t.Errorf("%s > %s: got %d", ordered[i+1], ordered[i], c)
		}
	}
	if c, _ := CompareVersions("1.2", "1.2.0-0"); c != 0 {
		t.Errorf("missing minor/patch/release are 0: %d", c)
	}
	// Semver itself reads -10 as a pre-release that sorts *before* 1.3.12:
	// our order must differ exactly there (SPEC §1.5).
	a, b := semver.MustParse("1.3.12-10"), semver.MustParse("1.3.12")
	if a.Compare(b) >= 0 {
		t.Fatal("semver changed its pre-release rule; this test documents the difference")
	}
	if c, _ := CompareVersions("1.3.12-10", "1.3.12"); c <= 0 {
		t.Fatal("1.3.12-10 must be newer than 1.3.12")
	}
	for _, bad := range []string{"", "x", "1.2.3.4", "1 2", "1.0-", "-1", "1.0/2"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func TestParseListsErrors(t *testing.T) {
	cases := []struct {
		name string
		data string
		want string
	}{
		{"installed-packages", "a 1.0\nb\n", "installed-packages:2: expected `NAME VERSION`"},
		{"installed-packages", "# c\n\na 1.0\na 1.1\n", "installed-packages:4: package a is already listed on line 3"},
		{"installed-packages", "../x 1.0\n", "installed-packages:1: package name"},
		{"installed-packages", "x 1.x.y\n", "installed-packages:1: version"},
		{"installed-packages", "x 1.0\n\x00\n", "binary"},
		{"installed-services", "web web\n", "installed-services:1: expected `SERVICE PACKAGE VERSION`"},
	}
	for _, c := range cases {
		var err error
		if c.name == "installed-packages" {
			_, err = ParsePackages(c.name, []byte(c.data))
		} else {
			_, err = ParseRegistered(c.name, []byte(c.data))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || KindOf(err) != KindConfig {
			t.Errorf("%q: %v, want %q with exit 6", c.data, err, c.want)
		}
	}
	ps, err := ParsePackages("p", []byte("a 1.0 # comment\n  b   2.0-3\n"))
	if err != nil || len(ps) != 2 || ps[1].Version != "2.0-3" {
		t.Fatalf("%+v %v", ps, err)
	}
}

func TestParseDeps(t *testing.T) {
	ds, err := ParseDeps("x.deps", []byte("# deps\nlibc >= 1.2, < 2\nzlib\n"))
	if err != nil || len(ds) != 2 || ds[0].Constraint == nil || ds[1].Constraint != nil {
		t.Fatalf("%+v %v", ds, err)
	}
	if _, err := ParseDeps("x.deps", []byte("libc >>= 1\n")); err == nil || !strings.Contains(err.Error(), "x.deps:1") {
		t.Fatalf("bad constraint: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/project-name"), []byte("proj\nignored\n"), 0o644)
	deep := filepath.Join(root, "a/b/c")
	os.MkdirAll(deep, 0o755)
	p, err := Open(OpenOptions{Cwd: deep})
	if err != nil || p.Root != root || p.Name != "proj" {
		t.Fatalf("from cwd: %+v %v", p, err)
	}
	p, err = Open(OpenOptions{Cwd: "/", Env: []string{"PLAYPEN_ROOT=" + root, "LOCAL_VAR=/x/var", "PLAYPEN_ROLE=web"}})
	if err != nil || p.Root != root || p.LocalVar != "/x/var" || p.RunVar != "/x/var/run" || p.LinkDir != "/x/var/linkfarm" || p.Role != "web" {
		t.Fatalf("from env: %+v %v", p, err)
	}
	_, err = Open(OpenOptions{Cwd: t.TempDir()})
	if KindOf(err) != KindUsage || !strings.Contains(err.Error(), "servicectl init") {
		t.Fatalf("no playpen: %v", err)
	}
}

func TestConfigIsolationBetweenServices(t *testing.T) {
	x := newTP(t, merge(project("a", "sleep", "export LEAK=a\nservice_flags=a\n"), project("b", "sleep", "")))
	if _, err := x.p.Resolve("a"); err != nil {
		t.Fatal(err)
	}
	b, err := x.p.Resolve("b")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range b.Env {
		if strings.HasPrefix(kv, "LEAK=") {
			t.Fatal("a's config leaked into b")
		}
	}
	if len(b.Flags) != 0 {
		t.Fatalf("flags leaked: %q", b.Flags)
	}
}

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.3.12-10", "1.3.12", "1.10.0", "1.9.9-99", "1", "v1.2", "1.0.0-rc1", "1.0.0-rc1-2", "-", "1--1"} {
		f.Add(s, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err1 := ParseVersion(a)
		vb, err2 := ParseVersion(b)
		if err1 != nil || err2 != nil {
			return
		}
		if va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("asymmetric: %q %q", a, b)
		}
		if va.Compare(va) != 0 {
			t.Fatalf("not reflexive: %q", a)
		}
	})
}

func FuzzPackageLists(f *testing.F) {
	for _, s := range []string{"a 1.0\n", "# x\n\nb 2.0-1 # c\n", "a\n", "a 1 2\n", "\x00", "web web 1.0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if ps, err := ParsePackages("f", data); err == nil {
			for _, p := range ps {
				if ValidName("package", p.Name) != nil {
					t.Fatalf("accepted bad name %q", p.Name)
				}
			}
		}
		if rs, err := ParseRegistered("f", data); err == nil {
			again, err := ParseRegistered("f", FormatRegistered(rs))
			if err != nil || len(again) != len(rs) {
				t.Fatalf("round trip: %v", err)
			}
		}
		// Lines and fields as a bufio.Scanner splits them (the reader
		// before parseList split in place).
		if got, err := parseList("f", data); err == nil {
			var want []listLine
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, len(data)+1)
			for n := 1; sc.Scan(); n++ {
				line, _, _ := strings.Cut(sc.Text(), "#")
				if f := strings.Fields(line); len(f) > 0 {
					want = append(want, listLine{Fields: f, Line: n})
				}
			}
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("parseList(%q) = %v, a Scanner says %v", data, got, want)
			}
		}
	})
}

func FuzzDeps(f *testing.F) {
	for _, s := range []string{"a >= 1.2, < 2\n", "b\n", "c ~1.2\n", "d >>= 1\n", "e ^1 || 3.x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ds, err := ParseDeps("f", data)
			if err != nil {
				return
			}
			for _, d := range ds {
				if d.Constraint != nil {
					d.Constraint.Check(semver.MustParse("1.2.3"))
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Fatalf("ParseDeps(%q) took over a second", data)
		}
	})
}

// TestResolveManyMatchesOne: resolving many services at once lists the
// parents of the config directories first (and then skips candidates they
// do not list); one service at a time does not. Both must find the same
// config passes and hook files.
func TestResolveManyMatchesOne(t *testing.T) {
	root := genPlaypen(t, 40)
	for i := 0; i < 40; i += 3 {
		svc := fmt.Sprintf("svc%04d", i)
		dir := filepath.Join(root, "services", svc)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.post"), []byte("export OVERRIDE=1\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "pre-start"), []byte("true\n"), 0o644)
	}
	many := openBench(t, root)
	names, err := many.AllServices()
	if err != nil || len(names) != 40 {
		t.Fatalf("services %v %v", names, err)
	}
	defs, errs := many.ResolveAll(names)
	for i, name := range names {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		one, err := openBench(t, root).Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(defs[i].ConfigFiles, one.ConfigFiles) || !reflect.DeepEqual(defs[i].Hooks, one.Hooks) {
			t.Errorf("%s: together %v %v, alone %v %v", name, defs[i].ConfigFiles, defs[i].Hooks, one.ConfigFiles, one.Hooks)
		}
		if want := i%3 == 0; (len(one.ConfigFiles) == 2) != want || (one.Hooks["pre-start"].File != "") != want {
			t.Errorf("%s: config files %v, hooks %v", name, one.ConfigFiles, one.Hooks)
		}
	}
}
