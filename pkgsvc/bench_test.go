package pkgsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"strings"
	"sync/atomic"
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

// benchServices writes n project services running the sleep-forever helper.
func benchServices(b *testing.B, n int) *tp {
	files := map[string]string{}
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("b%03d", i)
		names = append(names, name)
		files["services/"+name+"/config"] = "service_program=@BIN@\nexport HELPER=sleep\n"
	}
	files["etc/project-services"] = strings.Join(names, "\n") + "\n"
	return newTPB(b, files)
}

func newTPB(b *testing.B, files map[string]string) *tp {
	root := b.TempDir()
	os.Chmod(root, 0o755)
	files["etc/project-name"] = "bench\n"
	for rel, content := range files {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.ReplaceAll(content, "@BIN@", testBin)), 0o644)
	}
	x := &tp{root: root}
	x.p = openBench(b, root)
	b.Cleanup(func() {
		p := openBench(b, root)
		names, _ := p.AllServices()
		p.StopMany(context.Background(), names, ManyOptions{})
	})
	return x
}

// BenchmarkLifecycle200: start 200 services with the default --jobs (time
// until all run, and until the command returns after service_start_secs),
// status of all 200, and stop of all 200 until all are gone.
func BenchmarkLifecycle200(b *testing.B) {
	const n = 200
	x := benchServices(b, n)
	names, _ := x.p.AllServices()
	var startAll, startRet, status, stopAll time.Duration
	for i := 0; i < b.N; i++ {
		p := openBench(b, x.root)
		var launched atomic.Int64
		var allUp atomic.Int64
		t0 := time.Now()
		g, pre := p.buildGraph(names, true)
		rs := g.run(context.Background(), 8, false, pre, func(name string, release func()) error {
			return p.Start(context.Background(), name, StartOptions{Launched: func() {
				release()
				if launched.Add(1) == n {
					allUp.Store(int64(time.Since(t0)))
				}
			}})
		})
		startRet += time.Since(t0)
		startAll += time.Duration(allUp.Load())
		if err := FirstError(rs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		sts, errs := openBench(b, x.root).StatusMany(context.Background(), names)
		status += time.Since(t1)
		if len(errs) > 0 || len(sts) != n || sts[n-1].State != StateRunning {
			b.Fatalf("status: %v", errs)
		}
		var pids []int
		for _, s := range sts {
			pids = append(pids, s.Pid)
		}
		t2 := time.Now()
		if err := FirstError(openBench(b, x.root).StopMany(context.Background(), names, ManyOptions{})); err != nil {
			b.Fatal(err)
		}
		for _, pid := range pids {
			for alive(pid) {
				time.Sleep(time.Millisecond)
			}
		}
		stopAll += time.Since(t2)
	}
	nn := float64(b.N)
	b.ReportMetric(float64(startAll.Milliseconds())/nn, "start-all-running-ms")
	b.ReportMetric(float64(startRet.Milliseconds())/nn, "start-returned-ms")
	b.ReportMetric(float64(status.Microseconds())/nn/1000, "status-ms")
	b.ReportMetric(float64(stopAll.Milliseconds())/nn, "stop-all-gone-ms")
}
