package hooks

import (
	"os"
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
