package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeFirstPackage runs the README's "Write your first package"
// block, as written, with sh -e in an empty directory, servicectl being
// this test binary: if the README stops working for a new user, this
// fails. (sh runs the README; servicectl itself never spawns sh.)
func TestReadmeFirstPackage(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "<!-- tour:first-package -->\n```sh\n")
	if !ok {
		t.Fatal("README has no first-package block")
	}
	script, _, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatal("the first-package block is not closed")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	exe, _ := filepath.Abs(os.Args[0])
	if err := os.Symlink(exe, filepath.Join(bin, "servicectl")); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o755)
	t.Cleanup(func() { sctl(t, filepath.Join(work, "demo"), "--quiet", "stop") })
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "SERVICECTL_TEST_MAIN=1", "PATH="+bin+":"+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's first-package tour fails: %v\n%s", err, out)
	}
	for _, want := range []string{
		"greeter: provided by installed package greeter 1.0.0 but not registered",
		"GREETER_PORT = MISSING",
		"greeter 1.0.0 listening on port 8080",
		"greeter  greeter  1.0.1    running",
		"greeter: stopped",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the tour's output lacks %q:\n%s", want, out)
		}
	}
}
