package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"servicectl/pkgsvc"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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
		if len(errs) > 0 || len(sts) != n || sts[n-1].State != pkgsvc.StateRunning {
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
