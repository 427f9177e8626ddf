// Package watch is the daemon's one pair of eyes on the file system
// (SPEC §9.2, §9.3), on github.com/fsnotify/fsnotify: it watches a set of
// directories and delivers settled batches of the full paths that
// changed in them. It knows nothing of services or upgrades; the
// supervisor (run directory, output files) and the upgrade engine's
// reactor (installed-packages, configs, filedeps) decide what a change
// means.
//
// What inotify leaves to its users, it does here: a queue overflow
// (fsnotify.ErrEventOverflow) becomes a rescan — every watched directory
// is listed again and compared with the last settled view, so the paths
// that changed meanwhile are still delivered and the batch says Rescan;
// a watched directory removed and created again, or a new tree renamed
// over it, is watched again (each directory's parent is watched for
// that) and its files count as changed; Close ends it cleanly.
package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Batch is one settled set of changes.
type Batch struct {
	// Paths are the full paths created, written, removed or renamed,
	// sorted, each once.
	Paths []string
	// Rescan says events were lost (the kernel's queue overflowed): the
	// consumer should re-read whatever it derives from these directories;
	// Paths still holds what a comparison with the last view found.
	Rescan bool
}

// Watcher watches directories and delivers settled batches on C.
type Watcher struct {
	fs     *fsnotify.Watcher
	settle time.Duration
	c      chan Batch
	done   chan struct{}

	mu      sync.Mutex
	wanted  map[string]bool      // directories asked for
	watched map[string]fileID    // directories (and parents) watched now, by identity
	view    map[string]fileState // the last settled view of each file in a wanted directory
}

// fileID is a directory's identity: a directory replaced is another one.
type fileID struct{ dev, ino uint64 }

// fileState is what a rescan compares.
type fileState struct {
	id    fileID
	size  int64
	mtime time.Time
}

// New starts a watcher that delivers a batch once no change has come for
// settle (0: as soon as the consumer takes it, changes meanwhile merged).
func New(settle time.Duration) (*Watcher, error) {
	fs, err := fsnotify.NewBufferedWatcher(256)
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fs, settle: settle, c: make(chan Batch), done: make(chan struct{}),
		wanted: map[string]bool{}, watched: map[string]fileID{}, view: map[string]fileState{}}
	return w, nil
}

// C delivers the batches; it is closed when the watcher ends.
func (w *Watcher) C() <-chan Batch { return w.c }

// Watch adds directories to the watched set (absolute paths). A
// directory that does not exist yet is watched from the moment it
// appears. Already watched ones are left as they are.
func (w *Watcher) Watch(dirs ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range dirs {
		d = filepath.Clean(d)
		if !w.wanted[d] {
			w.wanted[d] = true
			w.snapshotLocked(d, nil)
		}
	}
	w.resyncLocked(nil)
}

// Watched lists the directories watched now (wanted ones that exist, and
// the parents that stand guard for them), for tests and diagnostics.
func (w *Watcher) Watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.watched))
	for d := range w.watched {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Run delivers batches until ctx ends or Close is called; it closes C.
func (w *Watcher) Run(ctx context.Context) {
	defer close(w.c)
	defer w.fs.Close()
	pending := map[string]bool{}
	rescan := false
	var settleC <-chan time.Time
	settled := true
	for {
		var out chan Batch
		var b Batch
		if settled && (len(pending) > 0 || rescan) {
			out, b = w.c, w.batch(pending, rescan)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.event(ev, pending) && w.settle > 0 {
				settled, settleC = false, time.After(w.settle)
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				rescan = true
				w.rescan(pending)
			}
		case <-settleC:
			settled, settleC = true, nil
		case out <- b:
			clear(pending)
			rescan = false
		}
	}
}

// Close ends Run.
func (w *Watcher) Close() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
}

// event takes one fsnotify event into pending; it reports whether it
// counts as a change.
func (w *Watcher) event(ev fsnotify.Event, pending map[string]bool) bool {
	if ev.Name == "" || ev.Op == fsnotify.Chmod {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	dir := filepath.Dir(ev.Name)
	if !w.wanted[dir] && !w.wanted[ev.Name] && !w.guards(ev.Name) {
		return false // a sibling seen through a parent watch
	}
	if w.wanted[dir] {
		pending[ev.Name] = true
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// A wanted directory (or one above it) may have come or gone.
		if w.wanted[ev.Name] || w.guards(ev.Name) {
			w.resyncLocked(pending)
		}
	}
	return true
}

// guards says whether path is above a wanted directory.
func (w *Watcher) guards(path string) bool {
	for d := range w.wanted {
		if len(d) > len(path) && d[len(path)] == filepath.Separator && d[:len(path)] == path {
			return true
		}
	}
	return false
}

// resyncLocked makes the watches match the wanted set: a wanted
// directory that exists is watched as the directory it is now (a
// replaced one is watched anew, and its files count as changed in
// pending); its parent is watched so that its removal and return are
// seen; one that does not exist is waited for from its nearest existing
// ancestor. A watch added may have come after a directory below it was
// made (`mkdir -p a/b/c`: b made between the look at b and the watch on
// a, its event never sent): it looks again until nothing is added.
func (w *Watcher) resyncLocked(pending map[string]bool) {
	for i := 0; i < 16 && w.resyncOnce(pending); i++ {
	}
}

// resyncOnce is one pass of resyncLocked; it reports whether it added a
// watch.
func (w *Watcher) resyncOnce(pending map[string]bool) (added bool) {
	want := map[string]bool{}
	for d := range w.wanted {
		want[d] = true
		for p := filepath.Dir(d); ; p = filepath.Dir(p) {
			want[p] = true
			if exists(p) || p == filepath.Dir(p) {
				break
			}
		}
	}
	// fsnotify's own list is the truth about which watches live: it drops
	// a watch whose directory was removed (IN_DELETE_SELF, IN_IGNORED),
	// and a directory made again may reuse the old inode number.
	live := map[string]bool{}
	for _, d := range w.fs.WatchList() {
		live[d] = true
	}
	for d := range want {
		id, err := dirID(d)
		old, watched := w.watched[d]
		switch {
		case err != nil:
			if watched {
				w.fs.Remove(d)
				delete(w.watched, d)
			}
		case !watched || old != id || !live[d]:
			if watched {
				w.fs.Remove(d)
			}
			if w.fs.Add(d) == nil {
				w.watched[d] = id
				added = true
				if w.wanted[d] {
					// A directory new or replaced: what is in it now,
					// against the last view, changed.
					w.snapshotLocked(d, pending)
				}
			}
		}
	}
	for d := range w.watched {
		if !want[d] {
			w.fs.Remove(d)
			delete(w.watched, d)
		}
	}
	return added
}

// rescan lists every wanted directory again after lost events and puts
// what differs from the last view into pending.
func (w *Watcher) rescan(pending map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resyncLocked(pending)
	for d := range w.wanted {
		w.snapshotLocked(d, pending)
	}
}

// snapshotLocked records the files of dir as the current view; with
// pending, the ones that differ from the last view (new, changed, gone)
// are added to it.
func (w *Watcher) snapshotLocked(dir string, pending map[string]bool) {
	ents, _ := os.ReadDir(dir)
	seen := map[string]bool{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		seen[p] = true
		st, ok := stateOf(p)
		if !ok {
			continue
		}
		if old, had := w.view[p]; pending != nil && (!had || old != st) {
			pending[p] = true
		}
		w.view[p] = st
	}
	for p := range w.view {
		if filepath.Dir(p) == dir && !seen[p] {
			if pending != nil {
				pending[p] = true
			}
			delete(w.view, p)
		}
	}
}

// batch makes the batch of pending, updating the view of its files.
func (w *Watcher) batch(pending map[string]bool, rescan bool) Batch {
	b := Batch{Paths: make([]string, 0, len(pending)), Rescan: rescan}
	w.mu.Lock()
	for p := range pending {
		b.Paths = append(b.Paths, p)
		if st, ok := stateOf(p); ok {
			w.view[p] = st
		} else {
			delete(w.view, p)
		}
	}
	w.mu.Unlock()
	sort.Strings(b.Paths)
	return b
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func dirID(p string) (fileID, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileID{}, err
	}
	if !fi.IsDir() {
		return fileID{}, syscall.ENOTDIR
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func stateOf(p string) (fileState, bool) {
	fi, err := os.Lstat(p)
	if err != nil {
		return fileState{}, false
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{id: fileID{uint64(st.Dev), st.Ino}, size: fi.Size(), mtime: fi.ModTime()}, true
}
