package upgrade

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/watch"
)

// Reactor applies file changes made behind servicectl's back (SPEC §9.3):
// when ext/etc/installed-packages, a service's config or a file a service
// lists in service_filedeps changes without `upgrade pre/post`, it applies
// the after-half of §8.2 so that running services end on what is now
// installed, or restarts a service whose config was edited — and logs
// why. It never acts while an upgrade journal is pending: then `upgrade
// post` is the one to finish. Its eyes are pkgsvc/watch.
type Reactor struct {
	p   *lifecycle.Manager
	log *slog.Logger

	ready chan struct{} // closed once the first watches are in place
}

// settle is how long the files must stay still before the reactor acts:
// a package manager writes several files for one change.
const settle = 300 * time.Millisecond

// NewReactor makes the reactor for p.
func NewReactor(p *lifecycle.Manager, log *slog.Logger) *Reactor {
	return &Reactor{p: p, log: log, ready: make(chan struct{})}
}

// Ready is closed once the reactor sees changes.
func (r *Reactor) Ready() <-chan struct{} { return r.ready }

// Run watches and reacts until ctx ends.
func (r *Reactor) Run(ctx context.Context) error {
	w, err := watch.New(settle)
	if err != nil {
		return err
	}
	defer w.Close()
	w.Watch(r.dirs()...)
	go w.Run(ctx)
	close(r.ready)
	var ours map[string]fileStamp // files as our last apply left them
	for b := range w.C() {
		var paths []string
		for _, p := range b.Paths {
			if st, ok := ours[p]; ok && st == stamp(p) {
				continue // what our own apply wrote (registrations, new service dirs)
			}
			if rel, err := filepath.Rel(r.p.Root, p); err == nil && !ignored(rel) {
				paths = append(paths, rel)
			}
		}
		if b.Rescan {
			r.log.Warn("file events were lost (the kernel's queue overflowed); compared the watched directories with the last view instead", "changed", len(paths))
		}
		if len(paths) > 0 {
			// An apply registers new versions: it writes under
			// ext/services/ (and ext/etc/, ignored). What changed there
			// during the apply is ours; an edit made after it is not.
			before := stamps(r.registrationDirs())
			r.apply(ctx, paths)
			ours = map[string]fileStamp{}
			for p, st := range stamps(r.registrationDirs()) {
				if before[p] != st {
					ours[p] = st
				}
			}
		}
		w.Watch(r.dirs()...) // new versions bring new directories
	}
	return nil
}

// fileStamp tells a file as one apply left it from a later edit.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func stamp(path string) fileStamp {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileStamp{}
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	var ino uint64
	if st != nil {
		ino = st.Ino
	}
	return fileStamp{ino, fi.Size(), fi.ModTime()}
}

// stamps are the files of dirs as they are now.
func stamps(dirs []string) map[string]fileStamp {
	out := map[string]fileStamp{}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			out[p] = stamp(p)
		}
	}
	return out
}

// ignored are the files of servicectl's own writing and editors' temps.
func ignored(rel string) bool {
	base := filepath.Base(rel)
	return strings.HasPrefix(base, ".") || strings.Contains(base, ".tmp")
}

// registrationDirs are where new-service copies a package's files.
func (r *Reactor) registrationDirs() []string {
	dirs := []string{r.p.Path("ext", "services")}
	ents, _ := os.ReadDir(r.p.Path("ext", "services"))
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, r.p.Path("ext", "services", e.Name()))
		}
	}
	return dirs
}

// dirs are what the reactor watches: ext/etc, every config directory and
// the directory of every filedep.
func (r *Reactor) dirs() []string {
	dirs := []string{r.p.Path("ext", "etc")}
	for _, top := range []string{"services", filepath.Join("ext", "services")} {
		dirs = append(dirs, r.p.Path(top))
		ents, _ := os.ReadDir(r.p.Path(top))
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, r.p.Path(top, e.Name()))
			}
		}
	}
	if names, err := r.p.AllServices(); err == nil {
		defs, _ := r.p.ResolveAll(names)
		for _, s := range defs {
			if s == nil {
				continue
			}
			for _, f := range s.Policies.Filedeps {
				dirs = append(dirs, r.p.Path(filepath.Dir(filepath.Clean(f))))
			}
		}
	}
	return dirs
}

// apply acts on the settled changes (paths relative to the playpen root).
func (r *Reactor) apply(ctx context.Context, paths []string) {
	if pending, _ := JournalPending(r.p.Playpen); pending {
		r.log.Info("files changed while an upgrade is pending; `servicectl upgrade post` will apply them", "files", paths)
		return
	}
	r.p.Invalidate()
	packages := false
	var files []string
	configs := map[string]bool{}
	regDir := map[string]string{} // ext/services/NAME-VERSION → NAME
	if regs, err := r.p.Registered(); err == nil {
		for _, reg := range regs {
			regDir[reg.Service+"-"+reg.Version] = reg.Service
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
		plan, err := Post(ctx, r.p, Options{PlanOptions: PlanOptions{Files: files}})
		switch {
		case err != nil:
			err = WithHint(err, "ext/etc/installed-packages now names an older version than the services run: put the newer one back, or run `servicectl upgrade post --allow-downgrade` to go down")
			r.log.Error("applying changed files", "err", err, "packages", packages, "files", files)
		case plan != nil && len(plan.Actions) > 0:
			for _, a := range plan.Actions {
				r.log.Info("applied a change made without upgrade pre/post", "service", a.Service, "action", a.Action, "because", a.Chain)
			}
		}
	}
	for svc := range configs {
		r.restartIfRunning(ctx, svc)
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
func (r *Reactor) restartIfRunning(ctx context.Context, svc string) {
	names, _ := r.p.AllServices()
	var targets []string
	for _, n := range names {
		if n == svc {
			targets = append(targets, n)
			insts, _ := r.p.RunningInstances(n)
			targets = append(targets, insts...)
		}
	}
	for _, n := range targets {
		st, err := r.p.Status(ctx, n)
		if err != nil || st.State != pkgsvc.StateRunning {
			continue
		}
		if err := r.p.Restart(ctx, n, lifecycle.RestartOptions{NoHUP: true}); err != nil {
			r.log.Error("restart after its config changed", "service", n, "err", err)
			continue
		}
		r.log.Info("restarted: its config changed", "service", n)
	}
}
