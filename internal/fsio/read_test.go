package fsio

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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

// TestReadFile: whole files of any size, a missing file as fs.ErrNotExist
// (callers treat it as an empty list), and ReadSnapshot on /proc.
func TestReadFile(t *testing.T) {
	d := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 70000} {
		want := strings.Repeat("x", n)
		p := write(t, d, fmt.Sprintf("f%d", n), want, 0o644)
		for _, read := range []func(string) ([]byte, error){ReadFile, ReadSnapshot} {
			got, err := read(p)
			if err != nil || string(got) != want {
				t.Fatalf("%d bytes: read %d (%v)", n, len(got), err)
			}
		}
	}
	if _, err := ReadFile(filepath.Join(d, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if b, err := ReadSnapshot("/proc/self/stat"); err != nil || !bytes.Contains(b, []byte(")")) {
		t.Fatalf("/proc/self/stat: %q %v", b, err)
	}
}

// TestSessionStderrNotShared: a session keeps the stderr it was made
// with, so sessions for different writers must never be shared.
// TestReadDir: the same names and types as os.ReadDir, over more entries
// than one getdents64 buffer holds; a missing directory is fs.ErrNotExist.
func TestReadDir(t *testing.T) {
	d := t.TempDir()
	for i := 0; i < 600; i++ { // long names: about 50 KiB of records
		write(t, d, fmt.Sprintf("file-with-a-rather-long-name-%04d", i), "x", 0o644)
	}
	os.Mkdir(filepath.Join(d, "sub"), 0o755)
	os.Symlink("file-with-a-rather-long-name-0001", filepath.Join(d, "link"))
	os.Symlink("nowhere", filepath.Join(d, "dangling"))
	if err := syscall.Mkfifo(filepath.Join(d, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadDir(d)
	if len(got) != len(want) {
		t.Fatalf("%d entries, os.ReadDir has %d", len(got), len(want))
	}
	types := map[string]os.FileMode{}
	for _, e := range got {
		types[e.Name] = e.Type
	}
	for _, e := range want {
		wt := e.Type()
		if wt != 0 && wt != os.ModeDir && wt != os.ModeSymlink {
			wt = os.ModeIrregular
		}
		if gt, ok := types[e.Name()]; !ok || gt != wt {
			t.Errorf("%s: type %v (listed %v), want %v", e.Name(), gt, ok, wt)
		}
	}
	if _, err := ReadDir(filepath.Join(d, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := ReadDir(filepath.Join(d, "sub", "..", "file-with-a-rather-long-name-0000")); err == nil {
		t.Error("a file listed as a directory")
	}
}
