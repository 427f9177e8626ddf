package supervise

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
)

// Holder keeps the bound sockets of the playpen's services while the
// daemon runs (SPEC §4.11), as s6-fdholder does: between one process of
// a service and the next (a restart, a crash revival, an upgrade's
// stop-before and start-after) the listening socket stays open, and
// connections wait in its backlog instead of being refused. It is the
// daemon's lifecycle.SocketSource; commands reach it through daemon.sock.
type Holder struct {
	mu sync.Mutex
	m  map[string]heldSockets
}

type heldSockets struct {
	socks []pkgsvc.Socket
	files []*os.File
}

// NewHolder makes an empty holder.
func NewHolder() *Holder { return &Holder{m: map[string]heldSockets{}} }

func sameSockets(a, b []pkgsvc.Socket) bool {
	return slices.EqualFunc(a, b, func(x, y pkgsvc.Socket) bool { return x.Network == y.Network && x.Address == y.Address })
}

// Take hands out copies of s's held sockets, or nil when it holds none
// or they are not the sockets s asks for now (its config changed: the
// old ones are let go).
func (h *Holder) Take(s *pkgsvc.Service) []*os.File {
	h.mu.Lock()
	defer h.mu.Unlock()
	held, ok := h.m[s.Name]
	if !ok {
		return nil
	}
	if !sameSockets(held.socks, s.Sockets) {
		h.dropLocked(s.Name)
		return nil
	}
	out, err := dupAll(held.files)
	if err != nil {
		return nil
	}
	return out
}

// Hold keeps copies of files as s's sockets, replacing what it held.
func (h *Holder) Hold(s *pkgsvc.Service, files []*os.File) {
	h.HoldAs(s.Name, s.Sockets, files)
}

// HoldAs is Hold by name, for sockets a command sends over daemon.sock.
func (h *Holder) HoldAs(name string, socks []pkgsvc.Socket, files []*os.File) {
	dups, err := dupAll(files)
	if err != nil || len(dups) != len(socks) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(name)
	h.m[name] = heldSockets{socks: slices.Clone(socks), files: dups}
}

// Drop closes name's sockets: the service was stopped, not restarted.
func (h *Holder) Drop(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(name)
}

func (h *Holder) dropLocked(name string) {
	if held, ok := h.m[name]; ok {
		for _, f := range held.files {
			f.Close()
		}
		delete(h.m, name)
	}
}

// Holds says whether it holds name's sockets.
func (h *Holder) Holds(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.m[name]
	return ok
}

// TakeFrom holds the sockets a running process was handed, taken from
// it with pidfd_getfd(2): what a daemon started after the service does.
// The program may have moved them since (Go's net.FileListener
// duplicates fd 3 and closes it), so every socket descriptor of the
// process is looked at, and each entry takes the one bound to its
// address. One missing makes it hold nothing.
func (h *Holder) TakeFrom(name string, ph *proc.Handle, socks []pkgsvc.Socket) error {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(ph.Pid) + "/fd")
	if err != nil {
		return err
	}
	files := make([]*os.File, len(socks))
	defer func() { closeFiles(files) }()
	for _, e := range fds {
		n, err := strconv.Atoi(e.Name())
		link, lerr := os.Readlink("/proc/" + strconv.Itoa(ph.Pid) + "/fd/" + e.Name())
		if err != nil || lerr != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		f, err := ph.TakeFd(n)
		if err != nil {
			return err
		}
		taken := false
		for i, sk := range socks {
			if files[i] == nil && isSocket(f, sk) {
				files[i], taken = f, true
				break
			}
		}
		if !taken {
			f.Close()
		}
	}
	for i, f := range files {
		if f == nil {
			return fmt.Errorf("%s: no descriptor of pid %d is that socket any more", socks[i].Entry, ph.Pid)
		}
	}
	h.HoldAs(name, socks, files)
	return nil
}

// isSocket checks that f is a listening (or, for udp, bound) socket at
// sk's port or path. Raw system calls on the descriptor: the net
// package's FileListener would make the socket non-blocking, and the
// socket's flags are shared with the running program's.
func isSocket(f *os.File, sk pkgsvc.Socket) bool {
	ok := false
	rawFd(f, func(fd int) {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return
		}
		if sk.Network != "udp" {
			if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || acc != 1 {
				return
			}
		}
		switch a := sa.(type) {
		case *unix.SockaddrUnix:
			ok = sk.Network == "unix" && a.Name == sk.Address
		case *unix.SockaddrInet4:
			ok = strconv.Itoa(a.Port) == sk.Port()
		case *unix.SockaddrInet6:
			ok = strconv.Itoa(a.Port) == sk.Port()
		}
	})
	return ok
}

// rawFd runs fn on f's descriptor without touching its blocking mode
// (os.File.Fd would make it blocking, for every holder of the socket).
func rawFd(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

func dupAll(files []*os.File) ([]*os.File, error) {
	var out []*os.File
	for _, f := range files {
		nfd, err := -1, error(nil)
		if cerr := rawFd(f, func(fd int) { nfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
			err = cerr
		}
		if err != nil {
			closeFiles(out)
			return nil, err
		}
		out = append(out, os.NewFile(uintptr(nfd), f.Name()))
	}
	return out, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
