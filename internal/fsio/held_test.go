package fsio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestHeldSeesEveryChange: a held read answers from memory only while the
// path names the file it read: a replacement by rename (even of the same
// size, in the same clock tick), a write in place, a removal and a
// planted symlink are all seen at the next read.
func TestHeldSeesEveryChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.pid")
	parses := 0
	var h Held
	defer h.Close()
	load := func() (int, error) {
		v, err := h.Load(path, func(b []byte) (any, error) { parses++; return strconv.Atoi(string(b)) })
		if err != nil {
			return 0, err
		}
		return v.(int), nil
	}
	replace := func(s string) {
		t.Helper()
		if err := WriteAtomic(path, []byte(s), 0o644, false); err != nil {
			t.Fatal(err)
		}
	}
	replace("100")
	for i := 0; i < 3; i++ {
		if n, err := load(); n != 100 || err != nil {
			t.Fatalf("load: %d %v", n, err)
		}
	}
	if parses != 1 {
		t.Errorf("3 loads of an unchanged file parsed it %d times", parses)
	}
	for i := 101; i < 200; i++ { // same size, back to back
		replace(strconv.Itoa(i))
		if n, err := load(); n != i || err != nil {
			t.Fatalf("after replacing with %d: %d %v", i, n, err)
		}
	}
	if err := os.WriteFile(path, []byte("555"), 0o644); err != nil { // in place
		t.Fatal(err)
	}
	if n, _ := load(); n != 555 {
		t.Errorf("after a write in place: %d", n)
	}
	os.Remove(path)
	if _, err := load(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after removal: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "elsewhere"), []byte("666"), 0o644)
	os.Symlink(filepath.Join(dir, "elsewhere"), path)
	if n, err := load(); err == nil {
		t.Errorf("a symlink was followed: %d", n)
	}
}
