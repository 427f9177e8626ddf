package fsio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ReadFile reads a whole file with open, read and close only. os.ReadFile
// adds an fstat, four fcntl calls and a failed poller registration per
// file; on a virtual machine where a system call costs microseconds, that
// is most of the price of reading a ten-line config.
func ReadFile(path string) ([]byte, error) { return readFile(path, false) }

// ReadSnapshot is ReadFile for a file that is never written in place
// (replaced by rename) or served whole (/proc): a short read is its end,
// which spares the final empty read.
func ReadSnapshot(path string) ([]byte, error) { return readFile(path, true) }

func readFile(path string, shortIsEnd bool) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	return readFd(fd, path, shortIsEnd)
}

// readFd reads fd to its end; a short read is the end when shortIsEnd
// (a regular file that is replaced, never appended to).
func readFd(fd int, path string, shortIsEnd bool) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if n > 0 {
			buf = buf[:len(buf)+n]
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 || shortIsEnd && len(buf) < cap(buf) {
			return buf, nil
		}
	}
}

// DirEntry is a name in a directory and what it is, as the directory
// itself says (no stat, but for file systems that do not say).
type DirEntry struct {
	Name string
	Type os.FileMode // fs.ModeDir, fs.ModeSymlink, 0 for a regular file, or another type bit
}

// ReadDir lists dir with open, getdents64 and close only, unsorted.
// os.ReadDir adds a poller registration that fails, an fstat and a sort;
// resolving a thousand services lists a thousand directories.
func ReadDir(dir string) ([]DirEntry, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var buf [8192]byte
	var out []DirEntry
	for {
		n, err := syscall.Getdents(fd, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		out = parseDirents(dir, buf[:n], out)
	}
}

// parseDirents decodes struct linux_dirent64 records: inode (8 bytes),
// offset (8), record length (2), type (1), then the NUL-terminated name.
func parseDirents(dir string, b []byte, out []DirEntry) []DirEntry {
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[19:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if ino := binary.NativeEndian.Uint64(rec[0:8]); ino == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		e := DirEntry{Name: string(name)}
		switch rec[18] {
		case syscall.DT_REG:
		case syscall.DT_DIR:
			e.Type = os.ModeDir
		case syscall.DT_LNK:
			e.Type = os.ModeSymlink
		case syscall.DT_UNKNOWN:
			fi, err := os.Lstat(filepath.Join(dir, e.Name))
			if err != nil {
				continue // gone since it was listed
			}
			e.Type = fi.Mode().Type()
		default:
			e.Type = os.ModeIrregular
		}
		out = append(out, e)
	}
	return out
}

// ReadDirNames is the names in dir, unsorted; none when dir does not
// exist (a playpen's run directory before anything ran).
func ReadDirNames(dir string) ([]string, error) {
	ents, err := ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name
	}
	return out, nil
}
