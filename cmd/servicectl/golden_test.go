package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the expected outputs of testdata/script from the current ones")

// fixture is the playpen the CLI tests share (testdata/playpens).
const fixture = "../../testdata/playpens/example.txtar"

// extractPlaypen writes the fixture playpen into root: files under a bin/
// directory executable, the rest not.
func extractPlaypen(root string) error {
	a, err := txtar.ParseFile(fixture)
	if err != nil {
		return err
	}
	for _, f := range a.Files {
		path := filepath.Join(root, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if filepath.Base(filepath.Dir(path)) == "bin" {
			mode = 0o755
		}
		if err := os.WriteFile(path, f.Data, mode); err != nil {
			return err
		}
	}
	return nil
}

// examplePlaypen extracts the fixture playpen into a temporary directory
// and registers its packages' services, as `make demo` does for
// examples/playpen.
func examplePlaypen(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "playpen")
	if err := extractPlaypen(root); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(root), 0o755)
	lists, _ := filepath.Glob(filepath.Join(root, "ext/packages/*/*.services"))
	for _, l := range lists {
		data, _ := os.ReadFile(l)
		for _, s := range strings.Fields(string(data)) {
			if code, _, stderr := sctl(t, root, "new-service", s); code != 0 {
				t.Fatalf("new-service %s: %s", s, stderr)
			}
		}
	}
	return root
}

// TestScripts runs testdata/script/*.txtar (rogpeppe/go-internal's
// testscript): the CLI's outputs that scripts and the HTTP API read, kept
// stable over the fixture playpen (testdata/playpens), each script in its own copy of it in
// parallel. `go test ./cmd/servicectl -run Scripts -update` rewrites the
// expected files in the archives after a deliberate change.
func TestScripts(t *testing.T) {
	exe, err := exec.LookPath("servicectl")
	if err != nil {
		t.Fatal(err) // testscript.Main puts the test binary there as servicectl
	}
	testscript.Run(t, testscript.Params{
		Dir:           "../../testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			return scriptPlaypen(env, exe)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// scrub FILE OUT: FILE (stdout, stderr or a file) with the
			// playpen's path as $ROOT and the binary's as $SERVICECTL.
			"scrub": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: scrub stdout|stderr|FILE OUT")
				}
				got := ts.ReadFile(args[0])
				got = strings.ReplaceAll(got, ts.Getenv("WORK")+"/playpen", "$ROOT")
				got = strings.ReplaceAll(got, exe, "$SERVICECTL")
				if err := os.WriteFile(ts.MkAbs(args[1]), []byte(got), 0o644); err != nil {
					ts.Fatalf("%v", err)
				}
			},
		},
	})
}

// scriptPlaypen is examplePlaypen for a script: the fixture playpen in
// $WORK/playpen, its packages' services registered.
func scriptPlaypen(env *testscript.Env, exe string) error {
	root := filepath.Join(env.WorkDir, "playpen")
	if err := extractPlaypen(root); err != nil {
		return err
	}
	os.Chmod(env.WorkDir, 0o755)
	lists, _ := filepath.Glob(filepath.Join(root, "ext/packages/*/*.services"))
	for _, l := range lists {
		data, _ := os.ReadFile(l)
		for _, s := range strings.Fields(string(data)) {
			var stderr strings.Builder
			if code := run([]string{"--root", root, "new-service", s}, io.Discard, &stderr); code != 0 {
				return fmt.Errorf("new-service %s: %s", s, stderr.String())
			}
		}
	}
	return nil
}
