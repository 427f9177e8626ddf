package pkgsvc

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"strings"
	"testing"
	"time"
)

// genPlaypen writes a playpen of n package services (testkit).
var genPlaypen = testkit.GenPlaypen

func openBench(tb testing.TB, root string) *Playpen {
	p, err := Open(OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkResolveOne: one service definition with its typed environment,
// load-config already done (as for every service after the first).
func BenchmarkResolveOne(b *testing.B) {
	root := genPlaypen(b, 10)
	p := openBench(b, root)
	if _, err := p.resolve(bg, "svc0003"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.resolve(bg, "svc0003"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShowJSONAll1000 is `show --json` of every service of a
// 1,000-service playpen: open, load-config, resolve all, encode.
func BenchmarkShowJSONAll1000(b *testing.B) {
	root := genPlaypen(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := openBench(b, root)
		names, err := p.AllServices()
		if err != nil {
			b.Fatal(err)
		}
		defs, errs := p.ResolveAll(names)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := json.NewEncoder(io.Discard).Encode(defs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op-wall")
}

// BenchmarkShowJSONCLI1000 is the same through the shipped binary, as a
// user runs it: process start, flags, open, resolve, encode, print. It
// needs SERVICECTL_BIN (make bench sets it).
func BenchmarkShowJSONCLI1000(b *testing.B) {
	bin := os.Getenv("SERVICECTL_BIN")
	if bin == "" {
		b.Skip("set SERVICECTL_BIN to a built servicectl (make bench does)")
	}
	root := genPlaypen(b, 1000)
	// Into a file, as `servicectl show --json > defs.json`.
	outPath := filepath.Join(b.TempDir(), "defs.json")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := os.Create(outPath)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "--root", root, "--json", "show")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
		cmd.Stdout = out
		err = cmd.Run()
		out.Close()
		if err != nil {
			b.Fatalf("show --json: %v", err)
		}
	}
	b.StopTimer()
	data, _ := os.ReadFile(outPath)
	var defs []map[string]any
	if err := json.Unmarshal(data, &defs); err != nil || len(defs) != 1000 {
		b.Fatalf("show --json printed %d definitions (%v)", len(defs), err)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op-wall")
}

// BenchmarkVersusSh compares resolving one service with what it replaces:
// sourcing the same files (load-config and the service's config) with
// /bin/sh in a subprocess and printing the variables. Two ratios:
// x-faster-cold opens a fresh Playpen each time (load-config redone, as a
// command acting on one service does); x-faster-warm is the cost of each
// further service in a command, load-config already done, as in every
// command acting on several services. sh pays its spawn either way.
func BenchmarkVersusSh(b *testing.B) {
	root := genPlaypen(b, 10)
	p := openBench(b, root)
	s, err := p.resolve(bg, "svc0003")
	if err != nil {
		b.Fatal(err)
	}
	files := append(p.LoadConfigFiles(), s.ConfigFiles...)
	script := "set -a; for f in \"$@\"; do . \"$f\"; done; set +a; set"
	// Each way in its own run of iterations, as each would run in practice:
	// a command resolves its services one after the other, with no fork
	// between two (right after one, resolves run up to twice as slow for a
	// few dozen iterations). The three take turns in blocks of 1,000, the
	// services of a large command, so that a machine slowing down or
	// speeding up during the benchmark weighs on all three alike.
	var shTotal, coldTotal, warmTotal time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(1000, b.N-done)
		done += k
		t0 := time.Now()
		for i := 0; i < k; i++ {
			cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, files...)...)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "PLAYPEN_ROOT=" + root, "SERVICE_NAME=svc0003"}
			if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "service_program") {
				b.Fatalf("sh: %v", err)
			}
		}
		t1 := time.Now()
		for i := 0; i < k; i++ {
			if _, err := openBench(b, root).resolve(bg, "svc0003"); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		for i := 0; i < k; i++ {
			if _, err := p.resolve(bg, "svc0003"); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		shTotal, coldTotal, warmTotal = shTotal+t1.Sub(t0), coldTotal+t2.Sub(t1), warmTotal+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(shTotal.Microseconds())/n, "sh-µs/op")
	b.ReportMetric(float64(coldTotal.Microseconds())/n, "cold-µs/op")
	b.ReportMetric(float64(warmTotal.Microseconds())/n, "warm-µs/op")
	b.ReportMetric(float64(shTotal)/float64(coldTotal), "x-faster-cold")
	b.ReportMetric(float64(shTotal)/float64(warmTotal), "x-faster-warm")
}
