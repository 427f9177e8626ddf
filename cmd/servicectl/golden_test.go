package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// examplePlaypen copies examples/playpen to a temporary directory and
// registers its packages' services, as `make demo` does.
func examplePlaypen(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "playpen")
	if out, err := exec.Command("cp", "-R", "../../examples/playpen", root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(root, "var"))
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

// TestGoldenOutputs keeps the JSON that scripts and the coming HTTP API
// read stable over the example playpen (go test -run Golden -update
// rewrites testdata/golden after a deliberate change).
func TestGoldenOutputs(t *testing.T) {
	root := examplePlaypen(t)
	for name, args := range map[string][]string{
		"list-all.json":           {"--json", "list", "--all"},
		"env.json":                {"--json", "env"},
		"plan-hello.json":         {"--json", "upgrade", "plan", "hello=1.1.0"},
		"why-cache.json":          {"--json", "why", "cache"},
		"why-hello.json":          {"--json", "why", "hello"},
		"commands-echo.json":      {"--json", "show", "--commands", "echo"},
		"status-stopped.txt":      {"status", "--all"},
		"export-systemd.txt":      {"export", "systemd"},
		"export-supervisord.conf": {"export", "supervisord"},
		"export-nomad.json":       {"export", "nomad"},
	} {
		_, out, stderr := sctl(t, root, args...)
		exe, _ := os.Executable()
		got := strings.ReplaceAll(strings.ReplaceAll(out, exe, "$SERVICECTL"), root, "$ROOT")
		path := filepath.Join("../../testdata/golden", name)
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./cmd/servicectl -run Golden -update)", name, err)
		}
		if got != string(want) {
			t.Errorf("servicectl %s differs from %s:\n%s\nstderr: %s", strings.Join(args, " "), path, got, stderr)
		}
	}
}
