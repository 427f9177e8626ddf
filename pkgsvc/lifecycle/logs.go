package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"strconv"
	"syscall"
	"time"
)

// Logs prints the last n lines of a service's output file (n = 0: all)
// and, with follow, keeps printing what is appended, reopening the file
// when it is rotated (SPEC §4.9). It follows by polling the file's size
// every 100 ms: output files may live on filesystems without inotify.
func (p *Manager) Logs(ctx context.Context, name string, n int, follow bool, w io.Writer) error {
	// The output file needs no config: a service whose config broke
	// still shows its output.
	s, _, err := p.ResolveOrRecorded(name)
	if err != nil {
		return err
	}
	if s.Template && s.Instance == "" {
		return pkgsvc.Errorf(pkgsvc.KindUsage, name, "is a template: its instances have the output (`servicectl logs %s@NAME`)", name)
	}
	path := s.OutputFile(p.Playpen)
	f, err := fsio.OpenRead(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	if err != nil {
		f = nil
	}
	var ino uint64
	if f != nil {
		defer func() { f.Close() }()
		if n > 0 {
			// The last n lines, then on from exactly where they ended:
			// a line written in between is not skipped.
			lines, end, err := tailFile(f, n)
			if err != nil {
				return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
			}
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
			f.Seek(end, io.SeekStart)
		} else if _, err := io.Copy(w, f); err != nil {
			return err
		}
		ino = inode(f)
	} else if !follow {
		return pkgsvc.Errorf(pkgsvc.KindFailed, name, "has no output yet (%s does not exist)", path)
	}
	if !follow {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
		}
		// Rotated (a new inode at the path) or truncated: reopen.
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if f == nil || (st != nil && st.Ino != ino) {
			nf, err := fsio.OpenRead(path)
			if err != nil {
				continue
			}
			if f != nil {
				io.Copy(w, f)
				f.Close()
			}
			f, ino = nf, inode(nf)
			continue
		}
		if pos, _ := f.Seek(0, io.SeekCurrent); fi.Size() < pos {
			f.Seek(0, io.SeekStart)
		}
	}
}

func inode(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// RotateOutput rotates a service's output file once it has reached
// maxBytes (§9.2): NAME.output.1 is the newest old file, keep of them are
// kept. Services write their output file directly (it is their stdout),
// so the rotation copies it and then truncates it in place; the program
// goes on appending at the start (O_APPEND). Lines written between the
// copy and the truncation are lost — the price of copy-truncate, as with
// logrotate's copytruncate. It reports whether it rotated.
func (p *Manager) RotateOutput(name string, maxBytes int64, keep int) (bool, error) {
	path := filepath.Join(p.RunVar, name+".output")
	fi, err := os.Lstat(path)
	if err != nil || maxBytes <= 0 || fi.Size() < maxBytes {
		return false, nil
	}
	if !fi.Mode().IsRegular() {
		return false, &fsio.NotRegular{Path: path, What: "not a regular file (a link or a fifo planted in its place?)"}
	}
	old := func(i int) string { return path + "." + strconv.Itoa(i) }
	if keep > 0 {
		os.Remove(old(keep))
		for i := keep - 1; i >= 1; i-- {
			os.Rename(old(i), old(i+1))
		}
		src, err := fsio.OpenRead(path)
		if err != nil {
			return false, err
		}
		tmp := old(1) + ".tmp"
		os.Remove(tmp) // a leftover, or whatever was planted there: never followed
		dst, err := fsio.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			src.Close()
			return false, err
		}
		_, err = io.Copy(dst, src)
		src.Close()
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, old(1))
		}
		if err != nil {
			os.Remove(tmp)
			return false, fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	if err := fsio.TruncateFile(path); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	return true, nil
}
