package supervise

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// fileRSS reads this process's resident file-backed memory in KiB.
func fileRSS(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Skipf("no smaps_rollup: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss_File:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("Pss_File: %q", line)
			}
			return n
		}
	}
	t.Skip("kernel reports no Pss_File")
	return 0
}

// TestTrimDropsCodePages: after trim the binary's text and read-only
// data are no longer counted against the process, and the code still
// runs (every page faults back in from the page cache).
func TestTrimDropsCodePages(t *testing.T) {
	before := fileRSS(t)
	if n := trim(); n < 2 {
		t.Fatalf("trim dropped %d mappings, want the text and read-only data at least", n)
	}
	after := fileRSS(t)
	t.Logf("file-backed PSS %d KiB → %d KiB", before, after)
	if after*4 > before*3 {
		t.Errorf("file-backed PSS %d KiB → %d KiB: not a quarter less", before, after)
	}
	if n := trim(); n < 2 { // still runs, twice over
		t.Fatalf("second trim dropped %d mappings", n)
	}
}
