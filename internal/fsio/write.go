// Package fsio is how servicectl reads and writes its files: whole small
// files and directory listings in the fewest system calls (configs,
// registries, pidfiles, /proc), and the one atomic writer of every
// state, registry and journal file (SPEC §1.3).
package fsio

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
)

var tmpSeq atomic.Uint64

// WriteAtomic is the one writer of pidfiles, state files, the journal
// and registries: temp file, rename, so a reader sees the old file or the
// new one and never half of either (SPEC §1.3). durable adds an fsync
// before the rename for what must survive a machine crash (journal,
// registries); pidfiles and state die with their processes and skip it.
func WriteAtomic(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp"+strconv.Itoa(os.Getpid())+"."+strconv.FormatUint(tmpSeq.Add(1), 10))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// rename replaces a link planted at path; it never follows one.
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
