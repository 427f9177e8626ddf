// Package linkfarm keeps the argv[0] symlinks of SPEC §4.2: a service is
// executed through $LOCAL_VAR/linkfarm/RUNNAME so that ps, top and killall
// show RUNNAME instead of the real binary's name.
package linkfarm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// RunName composes the process name: base, @INSTANCE for instances, and
// .TAG when the playpen is tagged (so two playpens on one host differ).
func RunName(base, instance, tag string) string {
	n := base
	if instance != "" {
		n += "@" + instance
	}
	if tag != "" {
		n += "." + tag
	}
	return n
}

// Farm is a directory of links. The zero value is not usable.
type Farm struct {
	Dir string
}

// Path is where the link for runName lives.
func (f Farm) Path(runName string) string { return filepath.Join(f.Dir, runName) }

var seq atomic.Uint64

// Ensure makes Path(runName) a symlink to target, replacing a link that
// points elsewhere by rename so that no reader ever sees it missing. It
// refuses to replace anything that is not a symlink.
func (f Farm) Ensure(runName, target string) (string, error) {
	if runName == "" || strings.ContainsRune(runName, '/') || runName == "." || runName == ".." {
		return "", fmt.Errorf("linkfarm: bad run name %q", runName)
	}
	if !filepath.IsAbs(target) {
		return "", fmt.Errorf("linkfarm: target %q is not absolute", target)
	}
	if _, err := os.Stat(target); err != nil {
		return "", fmt.Errorf("linkfarm: target of %s: %w", runName, err)
	}
	p := f.Path(runName)
	if cur, err := os.Readlink(p); err == nil {
		if cur == target {
			return p, nil
		}
	} else if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&os.ModeSymlink == 0 {
		return "", fmt.Errorf("linkfarm: %s exists and is not a symlink; remove it", p)
	}
	tmp := filepath.Join(f.Dir, "."+runName+".tmp"+strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(seq.Add(1), 10))
	if err := os.Symlink(target, tmp); err != nil {
		return "", fmt.Errorf("linkfarm: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("linkfarm: %w", err)
	}
	return p, nil
}

// Collision is two owners that would share one run name.
type Collision struct {
	RunName string
	Owners  []string
}

func (c Collision) Error() string {
	return fmt.Sprintf("run name %q is shared by %s; set service_run_name in one of them", c.RunName, strings.Join(c.Owners, " and "))
}

// Collisions reports run names claimed by more than one owner (SPEC §4.2:
// a configuration error), in name order.
func Collisions(owners map[string]string) error {
	by := map[string][]string{}
	for owner, rn := range owners {
		by[rn] = append(by[rn], owner)
	}
	var errs []error
	names := make([]string, 0, len(by))
	for rn := range by {
		names = append(names, rn)
	}
	sort.Strings(names)
	for _, rn := range names {
		if o := by[rn]; len(o) > 1 {
			sort.Strings(o)
			errs = append(errs, Collision{RunName: rn, Owners: o})
		}
	}
	return errors.Join(errs...)
}
