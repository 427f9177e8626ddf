package pkghook_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkDpkgUpgrade10 is the maintainer-script cost of upgrading one
// package with 10 running services, through the shipped binary as dpkg
// calls it: old prerm `upgrade`, new preinst `upgrade`, old postrm
// `upgrade` (validate, journal, stop), new postinst `configure` (register,
// start). Beside it, `servicectl restart` of the same 10 services: the
// services' own stop and start, which the scripts cannot avoid. The
// difference is the overhead (issue 17: under 300 ms). Needs
// SERVICECTL_BIN (make bench sets it).
func BenchmarkDpkgUpgrade10(b *testing.B) {
	bin := os.Getenv("SERVICECTL_BIN")
	if bin == "" {
		b.Skip("set SERVICECTL_BIN to a built servicectl (make bench does)")
	}
	root := b.TempDir()
	os.Chmod(root, 0o755)
	sc := func(args ...string) {
		b.Helper()
		cmd := exec.Command(bin, append([]string{"--root", root, "--quiet"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("servicectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sc("init", "--name", "bench", root)
	var names []string
	for i := 0; i < 10; i++ {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	lay := func(v string) {
		dir := filepath.Join(root, "ext", "packages", "multi-"+v)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "multi-"+v+".services"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "multi-"+v+".config"), []byte("service_program=sleep\nservice_flags=600\nservice_start_secs=0\n"), 0o644)
	}
	ver := func(i int) string { return fmt.Sprintf("1.0.%d", i) }
	lay(ver(0))
	sc("package-hook", "--start", "postinst", "multi", ver(0), "--", "configure")
	defer sc(append([]string{"stop"}, names...)...)
	var scripts, restarts time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		old, cur := ver(i), ver(i+1)
		b.StopTimer()
		lay(cur)
		b.StartTimer()
		t0 := time.Now()
		sc("package-hook", "prerm", "multi", old, "--", "upgrade", cur)
		sc("package-hook", "preinst", "multi", cur, "--", "upgrade", old, cur)
		sc("package-hook", "postrm", "multi", old, "--", "upgrade", cur)
		sc("package-hook", "postinst", "multi", cur, "--", "configure", old)
		scripts += time.Since(t0)
		b.StopTimer()
		os.RemoveAll(filepath.Join(root, "ext", "packages", "multi-"+old))
		t1 := time.Now()
		sc(append([]string{"restart"}, names...)...)
		restarts += time.Since(t1)
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(scripts.Milliseconds())/n, "scripts-ms/op")
	b.ReportMetric(float64(restarts.Milliseconds())/n, "restart-ms/op")
	b.ReportMetric(float64((scripts-restarts).Milliseconds())/n, "overhead-ms/op")
}
