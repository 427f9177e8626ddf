package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// Sockets handed over daemon.sock (SPEC §4.11, §9.5). A command that
// binds a service's sockets hands copies to the daemon, which holds them
// (HOLD); a command starting or restarting a service asks for them
// (TAKE); a stop lets them go (DROP). Descriptors travel as SCM_RIGHTS.
// The requests share daemon.sock with the HTTP API: a connection whose
// first message starts with fdMagic is one of these, anything else is
// served as HTTP.

const fdMagic = "SCFD1 "

// Keeper is what holds the sockets in the daemon (supervise.Holder).
type Keeper interface {
	Take(s *pkgsvc.Service) []*os.File
	HoldAs(name string, socks []pkgsvc.Socket, files []*os.File)
	Drop(name string)
}

type fdRequest struct {
	Op      string          `json:"op"` // take, hold, drop
	Service string          `json:"service"`
	Sockets []pkgsvc.Socket `json:"sockets,omitempty"`
}

type fdAnswer struct {
	Files int    `json:"files"`
	Error string `json:"error,omitempty"`
}

// Multiplex serves the socket requests on ln itself and returns the
// listener of the rest, for the HTTP server.
func Multiplex(ln net.Listener, k Keeper) net.Listener {
	m := &muxListener{Listener: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go m.loop(k)
	return m
}

type muxListener struct {
	net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *muxListener) Close() error {
	m.once.Do(func() { close(m.done) })
	return m.Listener.Close()
}

func (m *muxListener) loop(k Keeper) {
	for {
		c, err := m.Listener.Accept()
		if err != nil {
			m.once.Do(func() { close(m.done) })
			return
		}
		go m.sniff(c.(*net.UnixConn), k)
	}
}

// sniff reads a connection's first message: a socket request is
// answered here, anything else goes to HTTP with that message put back.
func (m *muxListener) sniff(c *net.UnixConn, k Keeper) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	files := filesOf(oob[:oobn])
	if err != nil {
		closeAll(files)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	if req, ok := bytes.CutPrefix(buf[:n], []byte(fdMagic)); ok {
		answerFds(c, k, req, files)
		return
	}
	closeAll(files)
	select {
	case m.conns <- &prefixConn{UnixConn: c, pre: buf[:n]}:
	case <-m.done:
		c.Close()
	}
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	*net.UnixConn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.UnixConn.Read(b)
}

func answerFds(c *net.UnixConn, k Keeper, body []byte, files []*os.File) {
	defer c.Close()
	defer closeAll(files)
	var req fdRequest
	ans := fdAnswer{}
	var out []*os.File
	if err := json.Unmarshal(body, &req); err != nil || req.Service == "" {
		ans.Error = "bad request"
	} else {
		switch req.Op {
		case "take":
			out = k.Take(&pkgsvc.Service{Name: req.Service, Sockets: req.Sockets})
		case "hold":
			if len(files) != len(req.Sockets) || len(files) == 0 {
				ans.Error = fmt.Sprintf("%d sockets named, %d sent", len(req.Sockets), len(files))
			} else {
				k.HoldAs(req.Service, req.Sockets, files)
			}
		case "drop":
			k.Drop(req.Service)
		default:
			ans.Error = "unknown op " + req.Op
		}
	}
	defer closeAll(out)
	ans.Files = len(out)
	data, _ := json.Marshal(ans)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.WriteMsgUnix(data, rights(out), nil)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// filesOf takes the descriptors an SCM_RIGHTS message carried.
func filesOf(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "received socket"))
		}
	}
	return files
}

// rights is the SCM_RIGHTS message carrying files (nil for none). The
// descriptors are read without os.File.Fd, which would make them
// blocking for everyone sharing the socket.
func rights(files []*os.File) []byte {
	if len(files) == 0 {
		return nil
	}
	fds := make([]int, 0, len(files))
	for _, f := range files {
		if rc, err := f.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		}
	}
	return unix.UnixRights(fds...)
}

// SocketClient is a command's socket source (lifecycle.SocketSource): the
// daemon's holder over daemon.sock, when one answers within AskWithin;
// without it a launch binds its sockets itself.
func SocketClient(p *pkgsvc.Playpen) lifecycle.SocketSource {
	return &socketClient{path: SocketFile(p)}
}

type socketClient struct{ path string }

func (c *socketClient) Take(s *pkgsvc.Service) []*os.File {
	files, _ := c.do(fdRequest{Op: "take", Service: s.Name, Sockets: s.Sockets}, nil)
	return files
}

func (c *socketClient) Hold(s *pkgsvc.Service, files []*os.File) {
	c.do(fdRequest{Op: "hold", Service: s.Name, Sockets: s.Sockets}, files)
}

func (c *socketClient) Drop(name string) { c.do(fdRequest{Op: "drop", Service: name}, nil) }

func (c *socketClient) do(req fdRequest, send []*os.File) ([]*os.File, error) {
	if err := ownSocket(c.path); err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("unix", c.path, AskWithin)
	if err != nil {
		return nil, err
	}
	uc := conn.(*net.UnixConn)
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(AskWithin))
	body, _ := json.Marshal(req)
	if _, _, err := uc.WriteMsgUnix(append([]byte(fdMagic), body...), rights(send), nil); err != nil {
		return nil, err
	}
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	files := filesOf(oob[:oobn])
	var ans fdAnswer
	if err == nil {
		err = json.Unmarshal(buf[:n], &ans)
	}
	if err == nil && ans.Error != "" {
		err = errors.New(ans.Error)
	}
	if err != nil || ans.Files != len(files) {
		closeAll(files)
		return nil, err
	}
	return files, nil
}
