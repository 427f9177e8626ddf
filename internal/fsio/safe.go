package fsio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Files under var/ and $LOCAL_RUNVAR are servicectl's, in directories
// that may be shared with the services it runs (they write their own
// pidfiles and files there). Nothing there is opened through a symbolic
// link: a link planted at NAME.output would make servicectl (often root)
// append to, truncate or read whatever it names (SPEC §1.2, issue 23).
// Every open here carries O_NOFOLLOW, and O_NONBLOCK so that a fifo
// planted in a file's place cannot hang the open; what is not a regular
// file is refused with its path named.

// NotRegular says a path servicectl writes is something else than a
// regular file: a symbolic link, a fifo, a directory, a device.
type NotRegular struct {
	Path string
	What string
}

func (e *NotRegular) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file: servicectl never writes through it (remove it and try again)", e.Path, e.What)
}

// what names a file type for NotRegular.
func what(mode os.FileMode) string {
	switch {
	case mode&os.ModeSymlink != 0:
		return "a symbolic link"
	case mode&os.ModeNamedPipe != 0:
		return "a fifo"
	case mode.IsDir():
		return "a directory"
	case mode&os.ModeSocket != 0:
		return "a socket"
	case mode&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// OpenFile opens path with flag (O_NOFOLLOW, O_NONBLOCK and O_CLOEXEC
// added) and returns it only when it is a regular file; blocking mode is
// restored for what the caller does next (a service inherits its output
// file as stdout).
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, &NotRegular{Path: path, What: "a symbolic link"}
		}
		if errors.Is(err, unix.EISDIR) {
			return nil, &NotRegular{Path: path, What: "a directory"}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegular{Path: path, What: what(fi.Mode())}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// OpenAppend opens (creating) a file to append to: a service's output.
func OpenAppend(path string, perm os.FileMode) (*os.File, error) {
	return OpenFile(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, perm)
}

// OpenRead opens a file of servicectl's to read, refusing a link: `logs`
// and the dashboard must not show whatever a planted link names.
func OpenRead(path string) (*os.File, error) { return OpenFile(path, unix.O_RDONLY, 0) }

// Lock opens (creating) path and takes its exclusive flock, waiting for
// it; closing the file releases it, and so does the kernel when the
// process dies. The one flock of servicectl: service locks, the upgrade
// lock, list locks, the daemon's lock.
func Lock(path string) (*os.File, error) {
	f, err := openLock(path)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// TryLock is Lock that does not wait: ok is false when another holds it.
func TryLock(path string) (f *os.File, ok bool, err error) {
	f, err = openLock(path)
	if err != nil {
		return nil, false, fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, true, nil
}

// openLock opens a lock file. A symbolic link planted in its place is
// replaced by a new lock file (it is servicectl's to replace, and nobody
// can hold a lock through a link we never opened); a fifo or directory
// is refused.
func openLock(path string) (*os.File, error) {
	f, err := OpenFile(path, unix.O_RDWR|unix.O_CREAT, 0o644)
	var nr *NotRegular
	if errors.As(err, &nr) && nr.What == "a symbolic link" {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, err
		}
		f, err = OpenFile(path, unix.O_RDWR|unix.O_CREAT, 0o644)
	}
	return f, err
}

// TruncateFile empties a regular file in place without following a link
// (the output rotation's copy-truncate).
// Rewrite puts data in place of what the existing regular file at path
// holds, through a descriptor opened without following links: no new
// inode, no rename. It is not atomic (a reader, or a kill, between the
// write and the truncate sees the new bytes and the old tail), so it is
// for records whose reader refuses a torn one: the launch intent kept in
// a service's lock file. Creating and renaming a fresh file for every
// start of hundreds of services is most of what a cold start costs on
// ext4 (inode allocation behind the directory's lock).
func Rewrite(path string, data []byte) error {
	f, err := OpenFile(path, unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// TruncateFile empties an existing regular file in place, never
// following a link (an output file rotated by copytruncate).
func TruncateFile(path string) error {
	f, err := OpenFile(path, unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openDirBeneath opens base and then each component of rel below it as
// a directory fd, never through a symbolic link (a directory fd checked
// at every step, so a link planted at any depth is refused); mkdir
// creates missing ones. base itself is opened as given: it is the
// directory the user configured (LOCAL_VAR), checked by the caller.
func openDirBeneath(base, rel string, mkdir bool) (int, error) {
	fd, err := unix.Open(base, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: base, Err: err}
	}
	if rel == "." || rel == "" {
		return fd, nil
	}
	at := base
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: .. is not allowed below %s", rel, base)
		}
		at = filepath.Join(at, c)
		if mkdir {
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, &os.PathError{Op: "mkdir", Path: at, Err: err}
			}
		}
		next, err := unix.Openat(fd, c, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				var st unix.Stat_t
				kind := "not a directory"
				if unix.Lstat(at, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
					kind = "a symbolic link"
				}
				return -1, fmt.Errorf("%s is %s: servicectl never writes through it (remove it and try again)", at, kind)
			}
			return -1, &os.PathError{Op: "open", Path: at, Err: err}
		}
		fd = next
	}
	return fd, nil
}

// WriteAtomicBeneath is WriteAtomic for a file several directories below
// base (a rendered config under $LOCAL_VAR/etc): the directories are
// created and walked without following a link, and the temp file is
// created and renamed within the last one's fd.
func WriteAtomicBeneath(base, rel string, write func(*os.File) error, perm os.FileMode) error {
	rel = filepath.Clean(rel)
	dir, name := filepath.Split(rel)
	dfd, err := openDirBeneath(base, dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := "." + name + ".tmp" + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(tmpSeq.Add(1), 10)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "create", Path: filepath.Join(base, dir, tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(base, dir, tmp))
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
		if errors.Is(err, unix.EISDIR) {
			err = &NotRegular{Path: filepath.Join(base, rel), What: "a directory"}
		}
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("write %s: %w", filepath.Join(base, rel), err)
	}
	return nil
}

// ReadRegular reads a small file of servicectl's whole, never through a
// link (a holder record, a journal).
func ReadRegular(path string) ([]byte, error) {
	f, err := OpenRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
