package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"servicectl/pkgsvc/internal/testkit"
	"slices"
	"sync"
	"testing"
	"time"
)

// collect runs w and gathers what it delivers, for conditions to wait on.
type collect struct {
	mu      sync.Mutex
	paths   map[string]int
	rescans int
}

func run(t *testing.T, w *Watcher) *collect {
	t.Helper()
	c := &collect{paths: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go w.Run(ctx)
	go func() {
		defer close(done)
		for b := range w.C() {
			c.mu.Lock()
			for _, p := range b.Paths {
				c.paths[p]++
			}
			if b.Rescan {
				c.rescans++
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func (c *collect) seen(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[p]
}

func waitFor(t *testing.T, what string, cond func() bool) { testkit.WaitFor(t, what, cond) }

// TestSettledBatchesWithFullPaths: changes arrive as full paths, once per
// batch however often the file was written.
func TestSettledBatchesWithFullPaths(t *testing.T) {
	dir := t.TempDir()
	w, err := New(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	w.Watch(dir)
	var got []Batch
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	go func() {
		for b := range w.C() {
			mu.Lock()
			got = append(got, b)
			mu.Unlock()
		}
	}()
	f := filepath.Join(dir, "a.conf")
	for i := 0; i < 50; i++ {
		os.WriteFile(f, []byte(fmt.Sprint(i)), 0o644)
	}
	waitFor(t, "a batch", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got[0].Paths, []string{f}) || got[0].Rescan {
		t.Errorf("first batch %+v, want just %s", got[0], f)
	}
}

// TestDirectoryReplaced (issue 24): a watched directory removed and
// created again, or a new tree renamed over it, is watched again, and
// later changes in it are seen.
func TestDirectoryReplaced(t *testing.T) {
	root := t.TempDir()
	app := filepath.Join(root, "etc/app")
	os.MkdirAll(app, 0o755)
	conf := filepath.Join(app, "watched.conf")
	os.WriteFile(conf, []byte("1"), 0o644)
	w, _ := New(0)
	w.Watch(app)
	c := run(t, w)
	os.WriteFile(conf, []byte("2"), 0o644)
	waitFor(t, "the first change", func() bool { return c.seen(conf) >= 1 })
	n := c.seen(conf)
	os.RemoveAll(app)
	os.MkdirAll(app, 0o755)
	os.WriteFile(conf, []byte("3"), 0o644)
	waitFor(t, "the file in the new directory", func() bool { return c.seen(conf) > n })
	n = c.seen(conf)
	os.WriteFile(conf, []byte("4"), 0o644)
	waitFor(t, "a later change after rm -rf and mkdir", func() bool { return c.seen(conf) > n })
	// A new tree renamed over the old (the old one moved aside first).
	tmp := filepath.Join(root, "etc/app.new")
	os.MkdirAll(tmp, 0o755)
	os.WriteFile(filepath.Join(tmp, "watched.conf"), []byte("5"), 0o644)
	n = c.seen(conf)
	os.Rename(app, filepath.Join(root, "etc/app.old"))
	os.Rename(tmp, app)
	waitFor(t, "the renamed tree's file", func() bool { return c.seen(conf) > n })
	n = c.seen(conf)
	os.WriteFile(conf, []byte("6"), 0o644)
	waitFor(t, "a later change after the rename", func() bool { return c.seen(conf) > n })
}

// TestDirectoryThatAppearsLater: a directory asked for before it exists
// is watched once it is made.
func TestDirectoryThatAppearsLater(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a/b/c")
	w, _ := New(0)
	w.Watch(dir)
	c := run(t, w)
	os.MkdirAll(dir, 0o755)
	f := filepath.Join(dir, "x")
	waitFor(t, "the directory watched", func() bool { return slices.Contains(w.Watched(), dir) })
	os.WriteFile(f, []byte("1"), 0o644)
	waitFor(t, "its file", func() bool { return c.seen(f) > 0 })
}

// TestOverflowRescans (issue 24): when the kernel's queue overflows
// (nobody reads while a flood of events comes), the next batch says
// Rescan and still holds the file that changed meanwhile.
func TestOverflowRescans(t *testing.T) {
	dir := t.TempDir()
	w, _ := New(0)
	w.Watch(dir)
	target := filepath.Join(dir, "important.conf")
	os.WriteFile(target, []byte("before"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	// Nobody takes batches: Run blocks, fsnotify's buffer fills, then
	// the kernel's queue (fs.inotify.max_queued_events, 16384 here).
	// inotify merges an event with the identical one before it, so the
	// flood writes many files, as a busy run directory would.
	for i := 0; i < 12000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), []byte("x"), 0o644)
	}
	os.WriteFile(target, []byte("after, a longer value"), 0o644)
	for i := 0; i < 12000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("g%05d", i)), []byte("y"), 0o644)
	}
	var rescanned, sawTarget bool
	deadline := time.After(20 * time.Second)
	for !(rescanned && sawTarget) {
		select {
		case b := <-w.C():
			rescanned = rescanned || b.Rescan
			sawTarget = sawTarget || slices.Contains(b.Paths, target)
		case <-deadline:
			t.Fatalf("rescan %v, target seen %v", rescanned, sawTarget)
		}
	}
}

// TestWatchWhileEventsFlow: adding and removing directories while
// events flow is race-free (go test -race) and loses no later change.
func TestWatchWhileEventsFlow(t *testing.T) {
	root := t.TempDir()
	w, _ := New(0)
	c := run(t, w)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := filepath.Join(root, fmt.Sprintf("d%d", i%8))
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "f"), []byte(fmt.Sprint(i)), 0o644)
			if i%3 == 0 {
				os.RemoveAll(d)
			}
		}
	}()
	for i := 0; i < 200; i++ {
		w.Watch(filepath.Join(root, fmt.Sprintf("d%d", i%8)))
		w.Watched()
	}
	close(stop)
	wg.Wait()
	last := filepath.Join(root, "d1/f")
	os.MkdirAll(filepath.Dir(last), 0o755)
	n := c.seen(last)
	os.WriteFile(last, []byte("last"), 0o644)
	waitFor(t, "the last change", func() bool { return c.seen(last) > n })
}
