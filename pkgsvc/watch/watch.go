// Package watch is the supervisor's file watcher (SPEC §9.3): when
// `ext/etc/installed-packages`, a service's config or a file a service
// lists in service_filedeps changes without `upgrade pre/post` having
// been called, it applies the after-half of §8.2 so that running services
// end on what is now installed — and logs why. It never acts while an
// upgrade journal is pending: then `upgrade post` is the one to finish.
// It watches with inotify and acts once the changes have settled.
package watch

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/upgrade"
)

// settle is how long the files must stay still before the watcher acts:
// a package manager writes several files for one change.
const settle = 300 * time.Millisecond

// Watcher applies file changes to a playpen's running services.
type Watcher struct {
	p   *pkgsvc.Playpen
	log *slog.Logger
	fd  int
	wd  map[int]string // watch descriptor → directory (relative to the root)

	ready chan struct{} // closed once the first watches are in place
}

// Ready is closed once the watcher sees changes.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// New makes a watcher for p.
func New(p *pkgsvc.Playpen, log *slog.Logger) *Watcher {
	return &Watcher{p: p, log: log, fd: -1, wd: map[int]string{}, ready: make(chan struct{})}
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	w.fd = fd
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	go func() { <-ctx.Done(); f.Close() }()
	w.addWatches()
	close(w.ready)
	changed := map[string]bool{}
	events := make(chan []string)
	go func() {
		defer close(events)
		buf := make([]byte, 64*1024)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			var paths []string
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				wd := int(int32(binary.NativeEndian.Uint32(buf[off:])))
				nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+nameLen]), "\x00")
				off += unix.SizeofInotifyEvent + nameLen
				if name == "" || strings.HasPrefix(name, ".") || strings.Contains(name, ".tmp") {
					continue
				}
				paths = append(paths, wd2path(w, wd, name))
			}
			select {
			case events <- paths:
			case <-ctx.Done():
				return
			}
		}
	}()
	var timer <-chan time.Time
	var quietUntil time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case paths, ok := <-events:
			if !ok {
				return nil
			}
			if time.Now().Before(quietUntil) {
				continue // what our own apply wrote (registrations, new service dirs)
			}
			for _, p := range paths {
				if p != "" {
					changed[p] = true
				}
			}
			timer = time.After(settle)
		case <-timer:
			timer = nil
			var list []string
			for p := range changed {
				list = append(list, p)
			}
			sort.Strings(list)
			clear(changed)
			w.apply(ctx, list)
			w.addWatches() // new versions bring new directories
			quietUntil = time.Now().Add(settle)
		}
	}
}

func wd2path(w *Watcher, wd int, name string) string {
	dir, ok := w.wd[wd]
	if !ok {
		return ""
	}
	return filepath.Join(dir, name)
}

// addWatches watches ext/etc, every config directory and the directory
// of every filedep (inotify watches directories; files are replaced by
// rename).
func (w *Watcher) addWatches() {
	dirs := map[string]bool{filepath.Join("ext", "etc"): true}
	for _, top := range []string{"services", filepath.Join("ext", "services")} {
		ents, _ := os.ReadDir(w.p.Path(top))
		for _, e := range ents {
			if e.IsDir() {
				dirs[filepath.Join(top, e.Name())] = true
			}
		}
	}
	if names, err := w.p.AllServices(); err == nil {
		defs, _ := w.p.ResolveAll(names)
		for _, s := range defs {
			if s == nil {
				continue
			}
			for _, f := range s.Policies.Filedeps {
				dirs[filepath.Dir(filepath.Clean(f))] = true
			}
		}
	}
	known := map[string]bool{}
	for _, d := range w.wd {
		known[d] = true
	}
	for d := range dirs {
		if known[d] {
			continue
		}
		wd, err := unix.InotifyAddWatch(w.fd, w.p.Path(d), unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_DELETE|unix.IN_CREATE)
		if err == nil {
			w.wd[wd] = d
		}
	}
}

// apply acts on the settled changes (paths relative to the playpen root).
func (w *Watcher) apply(ctx context.Context, paths []string) {
	if pending, _ := upgrade.JournalPending(w.p); pending {
		w.log.Info("files changed while an upgrade is pending; `servicectl upgrade post` will apply them", "files", paths)
		return
	}
	w.p.Invalidate()
	packages := false
	var files []string
	configs := map[string]bool{}
	regDir := map[string]string{} // ext/services/NAME-VERSION → NAME
	if regs, err := w.p.Registered(); err == nil {
		for _, r := range regs {
			regDir[r.Service+"-"+r.Version] = r.Service
		}
	}
	for _, p := range paths {
		switch {
		case p == filepath.Join("ext", "etc", "installed-packages"):
			packages = true
		case strings.HasPrefix(p, filepath.Join("ext", "etc")+string(filepath.Separator)):
			// installed-services and profiles are servicectl's own writing.
		case strings.HasPrefix(p, "services"+string(filepath.Separator)) || strings.HasPrefix(p, filepath.Join("ext", "services")+string(filepath.Separator)):
			if svc := serviceOf(p, regDir); svc != "" {
				configs[svc] = true
			}
		default:
			files = append(files, p)
		}
	}
	if packages || len(files) > 0 {
		// The after-half of §8.2: what changed since the services were
		// registered (packages) and the given files (filedeps).
		plan, err := upgrade.Post(ctx, w.p, upgrade.Options{PlanOptions: upgrade.PlanOptions{Files: files}})
		switch {
		case err != nil:
			w.log.Error("applying changed files", "err", err, "packages", packages, "files", files)
		case plan != nil && len(plan.Actions) > 0:
			for _, a := range plan.Actions {
				w.log.Info("applied a change made without upgrade pre/post", "service", a.Service, "action", a.Action, "because", a.Chain)
			}
		}
	}
	for svc := range configs {
		w.restartIfRunning(ctx, svc)
	}
}

// serviceOf is the service a config directory belongs to:
// services/NAME/… or ext/services/NAME-VERSION/… of a registered service.
func serviceOf(path string, regDir map[string]string) string {
	parts := strings.Split(filepath.ToSlash(path), "/")
	switch {
	case parts[0] == "services" && len(parts) >= 3:
		return parts[1]
	case parts[0] == "ext" && len(parts) >= 4:
		return regDir[parts[2]]
	}
	return ""
}

// restartIfRunning restarts a running service (and the running instances
// of a template) whose config changed, so it runs its new definition.
func (w *Watcher) restartIfRunning(ctx context.Context, svc string) {
	names, _ := w.p.AllServices()
	var targets []string
	for _, n := range names {
		if n == svc {
			targets = append(targets, n)
			insts, _ := w.p.RunningInstances(n)
			targets = append(targets, insts...)
		}
	}
	for _, n := range targets {
		st, err := w.p.Status(ctx, n)
		if err != nil || st.State != pkgsvc.StateRunning {
			continue
		}
		if err := w.p.Restart(ctx, n, pkgsvc.RestartOptions{NoHUP: true}); err != nil {
			w.log.Error("restart after its config changed", "service", n, "err", err)
			continue
		}
		w.log.Info("restarted: its config changed", "service", n)
	}
}
