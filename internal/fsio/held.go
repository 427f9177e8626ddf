package fsio

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Held answers repeated reads of small files that are only ever replaced
// by rename (state files, pidfiles) from memory, as long as the path
// still names the very file it read: one fstatat instead of an open, a
// read, a close and a parse. The daemon answers `status` of hundreds of
// services this way (SPEC §9.5).
//
// The proof of sameness is the inode. Held keeps the file it read open,
// so its inode cannot be freed and its number cannot be handed to a
// replacement: the same device and inode at the path is the same file.
// Size, mtime and ctime are compared too, for a file written in place
// by hand. Symbolic links are never followed. The zero Held is ready.
type Held struct {
	mu sync.Mutex
	m  map[string]*heldFile
}

type heldFile struct {
	fd  int
	key heldKey
	val any
}

type heldKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func keyOf(st *unix.Stat_t) heldKey {
	return heldKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// Load is parse of the file at path, from memory when the file is the
// one parsed last time. Errors are os.PathErrors (fs.ErrNotExist for a
// missing file); a parse error is returned and nothing is kept.
func (h *Held) Load(path string, parse func([]byte) (any, error)) (any, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		h.drop(path)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	h.mu.Lock()
	if e := h.m[path]; e != nil && e.key == keyOf(&st) {
		h.mu.Unlock()
		return e.val, nil
	}
	h.mu.Unlock()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.EINVAL}
	}
	data, err := readFd(fd, path, true)
	var val any
	if err == nil {
		val, err = parse(data)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*heldFile{}
	}
	if old := h.m[path]; old != nil {
		unix.Close(old.fd)
	}
	h.m[path] = &heldFile{fd: fd, key: keyOf(&st), val: val}
	h.mu.Unlock()
	return val, nil
}

func (h *Held) drop(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.m[path]; e != nil {
		unix.Close(e.fd)
		delete(h.m, path)
	}
}

// Close lets go of every file held.
func (h *Held) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p, e := range h.m {
		unix.Close(e.fd)
		delete(h.m, p)
	}
}
