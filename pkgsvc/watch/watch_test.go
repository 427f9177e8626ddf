package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"testing"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/upgrade"
)

var bg = context.Background()

func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	os.Exit(m.Run())
}

type logBuf = testkit.Buffer

func waitFor(t *testing.T, what string, cond func() bool) { testkit.WaitFor(t, what, cond) }

const cfg = "service_program=/bin/sleep\nservice_flags=1000\nservice_start_secs=0.05\n"

// playpen: package app 1.0 (1.1 unpacked beside it), project service proj.
func playpen(t *testing.T) (string, *pkgsvc.Playpen) {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for rel, c := range map[string]string{
		"etc/project-name":                      "w\n",
		"etc/project-services":                  "proj\n",
		"services/proj/config":                  cfg,
		"ext/etc/installed-packages":            "app 1.0\n",
		"ext/packages/app-1.0/app-1.0.services": "app\n",
		"ext/packages/app-1.0/app-1.0.config":   cfg,
		"ext/packages/app-1.1/app-1.1.services": "app\n",
		"ext/packages/app-1.1/app-1.1.config":   cfg,
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(c), 0o644)
	}
	p, err := pkgsvc.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.NewService("app"); err != nil {
		t.Fatal(err)
	}
	if err := pkgsvc.FirstError(p.StartMany(bg, []string{"app", "proj"}, pkgsvc.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.StopMany(bg, []string{"app", "proj"}, pkgsvc.ManyOptions{}) })
	return root, p
}

func watching(t *testing.T, p *pkgsvc.Playpen) *logBuf {
	t.Helper()
	lb := &logBuf{}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	w := New(p, slog.New(slog.NewTextHandler(lb, nil)))
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-w.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher did not start")
	}
	return lb
}

func state(t *testing.T, p *pkgsvc.Playpen, name string) *pkgsvc.State {
	st, _ := p.ServiceState(name)
	if st == nil {
		return &pkgsvc.State{}
	}
	return st
}

// TestInstalledPackagesChanged (§9.3): a package manager that switched
// app to 1.1 without upgrade pre/post: the watcher registers 1.1 and the
// service ends running it.
func TestInstalledPackagesChanged(t *testing.T) {
	root, p := playpen(t)
	lb := watching(t, p)
	before := state(t, p, "app").Pid
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages.new"), []byte("app 1.1\n"), 0o644)
	os.Rename(filepath.Join(root, "ext/etc/installed-packages.new"), filepath.Join(root, "ext/etc/installed-packages"))
	waitFor(t, "app on 1.1", func() bool {
		st := state(t, p, "app")
		return st.Version == "1.1" && st.Pid != before && st.Pid != 0
	})
	waitFor(t, "the reason logged", func() bool { return lb.Has("applied a change made without upgrade pre/post") })
}

// TestConfigChangedRestarts: an edited config restarts the running
// service on its new definition.
func TestConfigChangedRestarts(t *testing.T) {
	root, p := playpen(t)
	lb := watching(t, p)
	before := state(t, p, "proj").Pid
	os.WriteFile(filepath.Join(root, "services/proj/config"), []byte(cfg+"export EDITED=1\n"), 0o644)
	waitFor(t, "proj restarted", func() bool {
		st := state(t, p, "proj")
		return st.Pid != before && st.Pid != 0
	})
	waitFor(t, "the reason logged", func() bool { return lb.Has("restarted: its config changed") })
	if st := state(t, p, "app"); st.Version != "1.0" {
		t.Errorf("app touched: %+v", st)
	}
}

// TestPendingJournalLeftToPost: while an upgrade journal is pending the
// watcher acts on nothing.
func TestPendingJournalLeftToPost(t *testing.T) {
	root, p := playpen(t)
	if _, err := upgrade.Pre(bg, p, upgrade.Options{PlanOptions: upgrade.PlanOptions{Set: []string{"app=1.1"}}}); err != nil {
		t.Fatal(err)
	}
	lb := watching(t, p)
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("app 1.1\n"), 0o644)
	waitFor(t, "the watcher to notice", func() bool { return lb.Has("upgrade post` will apply them") })
	if st, _ := p.ServiceState("app"); st != nil {
		t.Errorf("app was started by the watcher during a pending upgrade: %+v", st)
	}
	if _, err := upgrade.Post(bg, p, upgrade.Options{}); err != nil {
		t.Fatal(err)
	}
}
