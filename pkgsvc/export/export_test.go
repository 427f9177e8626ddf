package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"servicectl/pkgsvc"
)

func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	os.Exit(m.Run())
}

// bigPlaypen has n project services, each depending on the previous.
func bigPlaypen(tb testing.TB, n int) *pkgsvc.Playpen {
	root := tb.TempDir()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc%04d", i)
		names = append(names, name)
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf("service_depends=svc%04d\n", i-1)
		}
		os.MkdirAll(filepath.Join(root, "services", name), 0o755)
		os.WriteFile(filepath.Join(root, "services", name, "config"), []byte("service_program=sleep\nservice_flags=1000\nservice_post_start='echo up'\n"+dep), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/project-name"), []byte("big\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/project-services"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkExportSystemd1000: units for 1,000 services from a fresh
// playpen (resolving included; target < 200 ms).
func BenchmarkExportSystemd1000(b *testing.B) {
	p := bigPlaypen(b, 1000)
	names, _ := p.AllServices()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Invalidate() // as a fresh command would
		files, _, err := Systemd(p, names, Options{Servicectl: "/usr/bin/servicectl"})
		if err != nil || len(files) != 1000 {
			b.Fatal(len(files), err)
		}
	}
}

func TestPrioritiesFollowDependencies(t *testing.T) {
	p := bigPlaypen(t, 3)
	f, _, err := Supervisord(p, []string{"svc0000", "svc0001", "svc0002"}, Options{Servicectl: "/x/servicectl"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"priority=100", "priority=110", "priority=120"} {
		sec := strings.Split(f.Content, "[program:")[i+1]
		if !strings.Contains(sec, want) {
			t.Errorf("program %d: want %s in\n%s", i, want, sec)
		}
	}
}
