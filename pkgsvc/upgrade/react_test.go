package upgrade

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/internal/testkit"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/supervise"
	"testing"
	"time"

	"servicectl/pkgsvc"
)

type logBuf = testkit.Buffer

func waitUntil(t *testing.T, what string, cond func() bool) { testkit.WaitFor(t, what, cond) }

const cfg = "service_program=/bin/sleep\nservice_flags=1000\nservice_start_secs=0.05\n"

// playpen: package app 1.0 (1.1 unpacked beside it), project service proj.
func reactPlaypen(t *testing.T) (string, *lifecycle.Manager) {
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
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := install.NewService(p.Playpen, "app"); err != nil {
		t.Fatal(err)
	}
	if err := lifecycle.FirstError(p.StartMany(bg, []string{"app", "proj"}, lifecycle.ManyOptions{})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.StopMany(bg, []string{"app", "proj"}, lifecycle.ManyOptions{}) })
	return root, p
}

func watching(t *testing.T, p *lifecycle.Manager) *logBuf {
	t.Helper()
	lb := &logBuf{}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	w := NewReactor(p, slog.New(slog.NewTextHandler(lb, nil)))
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-w.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher did not start")
	}
	return lb
}

func stateOf(t *testing.T, p *lifecycle.Manager, name string) *pkgsvc.State {
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
	root, p := reactPlaypen(t)
	lb := watching(t, p)
	before := stateOf(t, p, "app").Pid
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages.new"), []byte("app 1.1\n"), 0o644)
	os.Rename(filepath.Join(root, "ext/etc/installed-packages.new"), filepath.Join(root, "ext/etc/installed-packages"))
	waitUntil(t, "app on 1.1", func() bool {
		st := stateOf(t, p, "app")
		return st.Version == "1.1" && st.Pid != before && st.Pid != 0
	})
	waitUntil(t, "the reason logged", func() bool { return lb.Has("applied a change made without upgrade pre/post") })
}

// TestConfigChangedRestarts: an edited config restarts the running
// service on its new definition.
func TestConfigChangedRestarts(t *testing.T) {
	root, p := reactPlaypen(t)
	lb := watching(t, p)
	before := stateOf(t, p, "proj").Pid
	os.WriteFile(filepath.Join(root, "services/proj/config"), []byte(cfg+"export EDITED=1\n"), 0o644)
	waitUntil(t, "proj restarted", func() bool {
		st := stateOf(t, p, "proj")
		return st.Pid != before && st.Pid != 0
	})
	waitUntil(t, "the reason logged", func() bool { return lb.Has("restarted: its config changed") })
	if st := stateOf(t, p, "app"); st.Version != "1.0" {
		t.Errorf("app touched: %+v", st)
	}
}

// TestPendingJournalLeftToPost: while an upgrade journal is pending the
// watcher acts on nothing.
func TestPendingJournalLeftToPost(t *testing.T) {
	root, p := reactPlaypen(t)
	if _, err := Pre(bg, p, Options{PlanOptions: PlanOptions{Set: []string{"app=1.1"}}}); err != nil {
		t.Fatal(err)
	}
	lb := watching(t, p)
	os.WriteFile(filepath.Join(root, "ext/etc/installed-packages"), []byte("app 1.1\n"), 0o644)
	waitUntil(t, "the watcher to notice", func() bool { return lb.Has("upgrade post` will apply them") })
	if st, _ := p.ServiceState("app"); st != nil {
		t.Errorf("app was started by the watcher during a pending upgrade: %+v", st)
	}
	if _, err := Post(bg, p, Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestFiledepDirectoryReplaced (issue 24): a service with
// service_filedeps=etc/app/watched.conf is restarted when the directory
// is removed and made again with the file, and again on every later
// change, and when a new tree is renamed over the directory.
func TestFiledepDirectoryReplaced(t *testing.T) {
	root, p := reactPlaypen(t)
	app := filepath.Join(root, "etc/app")
	os.MkdirAll(app, 0o755)
	conf := filepath.Join(app, "watched.conf")
	os.WriteFile(conf, []byte("1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "services/proj/config"), []byte(cfg+"service_filedeps=etc/app/watched.conf\n"), 0o644)
	p.Invalidate()
	if err := p.Restart(bg, "proj", lifecycle.RestartOptions{}); err != nil {
		t.Fatal(err)
	}
	lb := watching(t, p)
	restarted := func(what string, change func()) {
		t.Helper()
		before := stateOf(t, p, "proj").Pid
		change()
		waitUntil(t, "proj restarted: "+what, func() bool {
			st := stateOf(t, p, "proj")
			return st.Pid != before && st.Pid != 0
		})
	}
	restarted("rm -rf and made again", func() {
		os.RemoveAll(app)
		os.MkdirAll(app, 0o755)
		os.WriteFile(conf, []byte("2\n"), 0o644)
	})
	for i := 3; i <= 4; i++ {
		restarted(fmt.Sprintf("later change %d", i), func() { os.WriteFile(conf, []byte(fmt.Sprintln(i)), 0o644) })
	}
	restarted("a new tree renamed over it", func() {
		tmp := filepath.Join(root, "etc/app.new")
		os.MkdirAll(tmp, 0o755)
		os.WriteFile(filepath.Join(tmp, "watched.conf"), []byte("5\n"), 0o644)
		os.Rename(app, filepath.Join(root, "etc/app.old"))
		os.Rename(tmp, app)
	})
	restarted("a change after the rename", func() { os.WriteFile(conf, []byte("6\n"), 0o644) })
	if lb.Has("level=ERROR") {
		t.Errorf("errors logged:\n%s", lb.String())
	}
}

// TestChattyServiceDoesNotHideAChange (issue 24): while a service writes
// its output 100,000 times (under a supervisor that rotates it), an
// edited config is still applied.
func TestChattyServiceDoesNotHideAChange(t *testing.T) {
	root, p := reactPlaypen(t)
	os.WriteFile(filepath.Join(root, "etc/project-services"), []byte("proj\nchatty\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "services/chatty"), 0o755)
	os.WriteFile(filepath.Join(root, "services/chatty/config"), []byte("service_program=/bin/sh\n"+
		"service_flags=(-c 'i=0; while [ $i -lt 100000 ]; do echo \"line $i\"; i=$((i+1)); done; touch \"$PLAYPEN_ROOT/chatty.done\"; exec /bin/sleep 1000')\n"+
		"service_start_secs=0\nservice_log_max_bytes=200000\nservice_log_keep=1\n"), 0o644)
	p.Invalidate()
	sup := supervise.New(p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	lb := watching(t, p)
	if err := p.Start(bg, "chatty", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(bg, "chatty") })
	before := stateOf(t, p, "proj").Pid
	os.WriteFile(filepath.Join(root, "services/proj/config"), []byte(cfg+"export EDITED=1\n"), 0o644)
	waitUntil(t, "proj restarted on its edited config", func() bool {
		st := stateOf(t, p, "proj")
		return st.Pid != before && st.Pid != 0
	})
	waitUntil(t, "the 100,000 writes", func() bool {
		_, err := os.Stat(filepath.Join(root, "chatty.done"))
		return err == nil
	})
	waitUntil(t, "the reason logged", func() bool { return lb.Has("restarted: its config changed") })
}
