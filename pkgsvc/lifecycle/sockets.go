package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"servicectl/hooks"
	"servicectl/pkgsvc"
)

// SocketSource hands out and takes back a service's bound sockets: the
// daemon's holder in the daemon, a client of daemon.sock in a command
// (SPEC §4.11, §9.5). Without one, every launch binds afresh.
type SocketSource interface {
	// Take returns the held sockets of s, one per entry and in order, or
	// nil when none are held (or they are not s's sockets any more).
	// The files are the caller's to close.
	Take(s *pkgsvc.Service) []*os.File
	// Hold keeps a copy of files, s's sockets in order.
	Hold(s *pkgsvc.Service, files []*os.File)
	// Drop lets go of name's sockets: it was stopped, not restarted.
	Drop(name string)
}

// releaseSockets tells the socket source that name stopped for good, so
// that the daemon closes the sockets it holds for it.
func (p *Manager) releaseSockets(name string) {
	if p.Sockets == nil {
		return
	}
	if s, err := p.Resolve(name); err == nil && len(s.Sockets) == 0 {
		return
	}
	p.Sockets.Drop(name)
}

// sockets are the files a launch of s hands over: held ones when the
// source has them, else bound now (fresh reports which), a unix socket
// owned by cred (the launch's credentials, nil: servicectl's own).
func (p *Manager) sockets(s *pkgsvc.Service, cred *syscall.Credential) (files []*os.File, fresh bool, err error) {
	if s.SocketsPending != "" {
		return nil, false, pkgsvc.Errorf(pkgsvc.KindConfig, s.Name, "%s", s.SocketsPending)
	}
	if len(s.Sockets) == 0 {
		return nil, false, nil
	}
	if p.Sockets != nil {
		if files := p.Sockets.Take(s); len(files) == len(s.Sockets) {
			return files, false, nil
		}
	}
	uid, gid := -1, -1
	if cred != nil {
		uid, gid = int(cred.Uid), int(cred.Gid)
	}
	for _, sk := range s.Sockets {
		f, err := bindSocket(sk, uid, gid)
		if err != nil {
			closeAll(files)
			return nil, false, &pkgsvc.Error{Kind: pkgsvc.KindFailed, Service: s.Name, Err: err}
		}
		files = append(files, f)
	}
	return files, true, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// bindSocket binds one socket (SO_REUSEADDR, as Go's listeners are) and
// returns it as a file to pass on. A unix socket replaces a stale socket
// file (never anything else), is owned by the service's user and group
// and has mode 0660.
func bindSocket(sk pkgsvc.Socket, uid, gid int) (*os.File, error) {
	var lc net.ListenConfig
	ctx := context.Background()
	switch sk.Network {
	case "udp":
		pc, err := lc.ListenPacket(ctx, "udp", sk.Address)
		if err != nil {
			return nil, inUse(sk, err)
		}
		defer pc.Close()
		return pc.(*net.UDPConn).File()
	case "unix":
		if fi, err := os.Lstat(sk.Address); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("%s: %s exists and is not a socket: remove it or change service_sockets", sk.Entry, sk.Address)
			}
			os.Remove(sk.Address) // a socket a stopped service left
		}
		ln, err := lc.Listen(ctx, "unix", sk.Address)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sk.Entry, err)
		}
		ul := ln.(*net.UnixListener)
		ul.SetUnlinkOnClose(false)
		defer ul.Close()
		if uid >= 0 {
			if err := os.Lchown(sk.Address, uid, gid); err != nil {
				return nil, fmt.Errorf("%s: %w", sk.Entry, err)
			}
		}
		if err := os.Chmod(sk.Address, 0o660); err != nil {
			return nil, fmt.Errorf("%s: %w", sk.Entry, err)
		}
		return ul.File()
	}
	ln, err := lc.Listen(ctx, sk.Network, sk.Address)
	if err != nil {
		return nil, inUse(sk, err)
	}
	defer ln.Close()
	return ln.(*net.TCPListener).File()
}

// inUse says who holds an address, where /proc tells.
func inUse(sk pkgsvc.Socket, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %w", sk.Entry, err)
	}
	who := ""
	if pid, comm := holderOf(sk); pid > 0 {
		who = fmt.Sprintf(" (by pid %d, %s)", pid, comm)
	}
	return fmt.Errorf("%s: address %s is already in use%s: stop what holds it, or change the port", sk.Entry, sk.Address, who)
}

// holderOf finds the process holding sk's port: the socket's inode from
// /proc/net/{tcp,tcp6,udp,udp6}, then the process with a descriptor on
// it. 0 when it cannot tell (another user's process, another namespace).
func holderOf(sk pkgsvc.Socket) (int, string) {
	port, _ := strconv.Atoi(sk.Port())
	tables := []string{"tcp", "tcp6"}
	if sk.Network == "udp" {
		tables = []string{"udp", "udp6"}
	}
	inodes := map[string]bool{}
	for _, t := range tables {
		data, _ := os.ReadFile("/proc/net/" + t)
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port && (sk.Network == "udp" || f[3] == "0A") {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, ""
	}
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + e.Name() + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + e.Name() + "/fd/" + fd.Name()); err == nil && inodes[l] {
				comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
				return pid, strings.TrimSpace(string(comm))
			}
		}
	}
	return 0, ""
}

// listenEnv is what a program handed sockets finds in its environment
// (systemd's protocol; LISTEN_PID is set by the trampoline that execs
// the program, the only place that knows its pid before it runs).
func listenEnv(s *pkgsvc.Service) []string {
	names := make([]string, len(s.Sockets))
	for i, sk := range s.Sockets {
		names[i] = sk.FDName()
	}
	return []string{"LISTEN_FDS=" + strconv.Itoa(len(s.Sockets)), "LISTEN_FDNAMES=" + strings.Join(names, ":")}
}

// withoutListen drops the socket-activation variables servicectl itself
// may have been given: they describe its own descriptors, not the
// service's. A copy; env is not changed.
func withoutListen(env []string) []string {
	out := make([]string, 0, len(env)+3)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "LISTEN_FDS" && k != "LISTEN_PID" && k != "LISTEN_FDNAMES" {
			out = append(out, kv)
		}
	}
	return out
}

// socketNames are sockets as status shows them.
func socketNames(socks []pkgsvc.Socket) []string {
	var out []string
	for _, sk := range socks {
		out = append(out, sk.String())
	}
	return out
}

// pinned keeps the sockets `run` hands over reachable until its exec.
var pinned []*os.File

// runSockets arranges service_sockets for `run`, which execs the program
// in its own process (§10.1, §4.11): sockets an outer supervisor handed
// this process (systemd's LISTEN_PID is our pid, which the exec keeps)
// pass through as they are; otherwise s's are bound here and moved into
// place by the trampoline.
func (p *Manager) runSockets(s *pkgsvc.Service, cred *syscall.Credential, path string, argv, env []string) (string, []string, []string, error) {
	env = withoutListen(env)
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") != "" {
		for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
		return path, argv, env, nil
	}
	if len(s.Sockets) == 0 {
		return path, argv, env, nil
	}
	files, _, err := p.sockets(s, cred)
	if err != nil {
		return "", nil, nil, err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return "", nil, nil, err
		}
		rc.Control(func(fd uintptr) {
			fds[i] = int(fd)
			unix.FcntlInt(fd, unix.F_SETFD, 0) // kept across the exec
		})
	}
	pinned = files // open until the exec replaces this process: no finalizer closes them
	exe, targv, err := hooks.ListenTrampoline(path, argv, fds)
	return exe, targv, append(env, listenEnv(s)...), err
}
