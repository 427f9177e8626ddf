package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
)

// File descriptors above 2 (SPEC §5: hooks mean what dash makes of them).
// mvdan.cc/sh/v3 (v3.14.1) knows only 0, 1 and 2: (*Runner).redir fails
// on `3>&1`, `exec 4>file`, `cmd 8<<EOF` and `>&3` ("unsupported redirect
// fd", "unhandled >& arg"). servicectl keeps the script's descriptors 3…9
// itself, in the session's fdTable, and conform rewrites each redirection
// of one into a command of its own (fdPatches, conform.go):
//
//	cmd 3>file        { servicectl-fd push T 3 w >file && { cmd; servicectl-fd pop T $?; }; }
//	exec 3>&1         servicectl-fd set 3 w >&1 || servicectl-special-builtin-failed $?
//	echo hi >&3       echo hi >/dev/fd/3
//
// The push or set runs with the redirection as one of its own standard
// ones, so the interpreter opens the file (through the open handler, with
// the script's umask) or the here-document, and the builtin keeps a
// duplicate of what it got. `/dev/fd/N`, `/dev/stdout`, `/dev/stderr` and
// `/dev/stdin` are answered by the open handler from the table and the
// command's current standard descriptors, never by the kernel (whose
// /dev/stdout is servicectl's own). A program the script starts inherits
// the table as its descriptors 3… (execFds). TestUpstreamStillNeedsConform
// tells when upstream learns more descriptors and this can go.

// fdCmd is the internal builtin of the rewrites above.
const fdCmd = "servicectl-fd"

// maxFd is the highest descriptor a script may name, as in dash (0–9).
const maxFd = 9

// fdEntry is one open descriptor of the script: a file servicectl owns (a
// duplicate, closed when the descriptor is), or a writer or reader it
// only borrows (the hook's own output when it is not a file).
type fdEntry struct {
	f *os.File
	w io.Writer
	r io.Reader
}

func (e *fdEntry) close() {
	if e != nil && e.f != nil {
		e.f.Close()
	}
}

// dup copies an entry so that each holder closes its own.
func (e *fdEntry) dup() (*fdEntry, error) {
	if e.f == nil {
		return &fdEntry{w: e.w, r: e.r}, nil
	}
	f, err := dupFile(e.f)
	if err != nil {
		return nil, err
	}
	return &fdEntry{f: f}, nil
}

func dupFile(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if cerr := sc.Control(func(fd uintptr) {
		nfd, derr = syscall.Dup(int(fd))
	}); cerr != nil {
		return nil, cerr
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(nfd)
	// A pipe the interpreter made (a here-document) is non-blocking for
	// Go's poller; a program given it as a descriptor would read EAGAIN
	// ("Resource temporarily unavailable") before the text is written.
	// The mode belongs to the open file, which from here on is the
	// script's descriptor.
	syscall.SetNonblock(nfd, false)
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// fdFrame is what a push replaced, for its pop to put back.
type fdFrame struct {
	tok  string
	fd   int
	prev *fdEntry
}

// fdTable holds descriptors 3…9. The caller holds the session's mu.
type fdTable struct {
	cur    [maxFd + 1]*fdEntry
	frames []fdFrame
}

func (t *fdTable) empty() bool {
	for _, e := range t.cur[3:] {
		if e != nil {
			return false
		}
	}
	return true
}

// closeAll ends a script's descriptors when its run is over.
func (t *fdTable) closeAll() {
	for i, e := range t.cur {
		e.close()
		t.cur[i] = nil
	}
	for _, fr := range t.frames {
		fr.prev.close()
	}
	t.frames = t.frames[:0]
}

// closeFds closes what the script left open when its run is over.
func (s *Session) closeFds() {
	s.mu.Lock()
	s.fds.closeAll()
	s.mu.Unlock()
}

// builtinFd runs `servicectl-fd push TOK N MODE`, `set N MODE` and
// `pop TOK STATUS`. MODE is w (the command's stdout), r (its stdin) or
// close.
func (s *Session) builtinFd(hc interp.HandlerContext, args []string) error {
	bad := func() error { return fmt.Errorf("%s: internal use: %q", fdCmd, args) }
	if len(args) < 3 {
		return bad()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.fds
	if args[0] == "pop" {
		for i := len(t.frames) - 1; i >= 0; i-- {
			if t.frames[i].tok == args[1] {
				fr := t.frames[i]
				t.cur[fr.fd].close()
				t.cur[fr.fd] = fr.prev
				t.frames = append(t.frames[:i], t.frames[i+1:]...)
				break
			}
		}
		code, _ := strconv.Atoi(args[2])
		return exitCode(code)
	}
	tok, rest := "", args[1:]
	if args[0] == "push" {
		tok, rest = args[1], args[2:]
	}
	if len(rest) != 2 {
		return bad()
	}
	n, err := strconv.Atoi(rest[0])
	if err != nil || n < 3 || n > maxFd {
		return bad()
	}
	e, err := takeFd(hc, rest[1])
	if err != nil {
		fmt.Fprintf(hc.Stderr, "%d: %v\n", n, err)
		return interp.NewExitStatus(2)
	}
	if args[0] == "push" {
		t.frames = append(t.frames, fdFrame{tok: tok, fd: n, prev: t.cur[n]})
	} else {
		t.cur[n].close()
	}
	t.cur[n] = e
	return nil
}

// takeFd keeps what the command's own redirection opened: its stdout
// (w) or stdin (r), duplicated when it is a file.
func takeFd(hc interp.HandlerContext, mode string) (*fdEntry, error) {
	switch mode {
	case "close":
		return nil, nil
	case "w":
		if f, ok := hc.Stdout.(*os.File); ok {
			d, err := dupFile(f)
			return &fdEntry{f: d}, err
		}
		return &fdEntry{w: hc.Stdout}, nil
	case "r":
		if f, ok := hc.Stdin.(*os.File); ok {
			d, err := dupFile(f)
			return &fdEntry{f: d}, err
		}
		return &fdEntry{r: hc.Stdin}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

func exitCode(code int) error {
	if code == 0 {
		return nil
	}
	return interp.NewExitStatus(uint8(code))
}

// devFd answers the open handler for /dev/fd/N, /dev/stdin, /dev/stdout
// and /dev/stderr; ok is false for any other path.
func (s *Session) devFd(hc interp.HandlerContext, path string) (rw io.ReadWriteCloser, ok bool, err error) {
	n := -1
	switch path {
	case "/dev/stdin":
		n = 0
	case "/dev/stdout":
		n = 1
	case "/dev/stderr":
		n = 2
	default:
		num, found := strings.CutPrefix(path, "/dev/fd/")
		if !found {
			return nil, false, nil
		}
		v, aerr := strconv.Atoi(num)
		if aerr != nil || v < 0 || v > maxFd || strconv.Itoa(v) != num {
			return nil, true, &os.PathError{Op: "redirect", Path: num, Err: syscall.EBADF}
		}
		n = v
	}
	var e *fdEntry
	switch n {
	case 0:
		e = &fdEntry{r: hc.Stdin}
		if f, isFile := hc.Stdin.(*os.File); isFile {
			e = &fdEntry{f: f}
		}
	case 1, 2:
		w := hc.Stdout
		if n == 2 {
			w = hc.Stderr
		}
		e = &fdEntry{w: w}
		if f, isFile := w.(*os.File); isFile {
			e = &fdEntry{f: f}
		}
	default:
		s.mu.Lock()
		e = s.fds.cur[n]
		s.mu.Unlock()
		if e == nil {
			return nil, true, &os.PathError{Op: "redirect", Path: strconv.Itoa(n), Err: syscall.EBADF}
		}
	}
	d, err := e.dup()
	if err != nil {
		return nil, true, err
	}
	if d.f != nil {
		return d.f, true, nil
	}
	return borrowed{d}, true, nil
}

// borrowed is a descriptor the interpreter may use and close without
// closing what it stands for.
type borrowed struct{ e *fdEntry }

func (b borrowed) Read(p []byte) (int, error) {
	if b.e.r == nil {
		return 0, errors.New("bad file descriptor (not open for reading)")
	}
	return b.e.r.Read(p)
}

func (b borrowed) Write(p []byte) (int, error) {
	if b.e.w == nil {
		return 0, errors.New("bad file descriptor (not open for writing)")
	}
	return b.e.w.Write(p)
}

func (b borrowed) Close() error { return nil }

// extraFiles are the script's descriptors 3… as a program it starts
// inherits them; done waits for the copies of borrowed writers and
// closes the pipes made for them.
func (s *Session) extraFiles() (files []*os.File, done func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fds.empty() {
		return nil, func() {}, nil
	}
	var closers []func()
	done = func() {
		for _, c := range closers {
			c()
		}
	}
	top := 0
	for i := 3; i <= maxFd; i++ {
		if s.fds.cur[i] != nil {
			top = i
		}
	}
	files = make([]*os.File, top-2)
	for i := 3; i <= top; i++ {
		e := s.fds.cur[i]
		switch {
		case e == nil:
		case e.f != nil:
			files[i-3] = e.f
		case e.w != nil:
			pr, pw, perr := os.Pipe()
			if perr != nil {
				done()
				return nil, nil, perr
			}
			copied := make(chan struct{})
			go func(w io.Writer) { io.Copy(lockedWriter{&s.outMu, w}, pr); pr.Close(); close(copied) }(e.w)
			files[i-3] = pw
			closers = append(closers, func() { pw.Close(); <-copied })
		}
	}
	return files, done, nil
}

// execFds starts a program with the script's descriptors 3… as its own,
// as the interpreter's default handler would start it otherwise
// (interp.DefaultExecHandler has no way to pass more descriptors): found
// in PATH, an interrupt when the run is cancelled and a kill 2 s later,
// 128+N for a program a signal ended. ok is false when the program cannot
// be executed as it stands (ENOEXEC: a script without #!), which the
// default handler then runs as upstream does.
func (s *Session) execFds(ctx context.Context, hc interp.HandlerContext, args []string, extra []*os.File) (err error, ok bool) {
	path, err := interp.LookPathDir(hc.Dir, hc.Env, args[0])
	if err != nil {
		fmt.Fprintln(hc.Stderr, err)
		return interp.NewExitStatus(127), true
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args, cmd.Dir = args, hc.Dir
	hc.Env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.IsSet() {
			cmd.Env = append(cmd.Env, name+"="+vr.String())
		}
		return true
	})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = hc.Stdin, s.locked(hc.Stdout), s.locked(hc.Stderr)
	cmd.ExtraFiles = extra
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) {
		return nil, false
	}
	if err == nil {
		err = cmd.Wait()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil, true
	case errors.As(err, &ee):
		if st, isWait := ee.Sys().(syscall.WaitStatus); isWait && st.Signaled() {
			if ctx.Err() != nil {
				return ctx.Err(), true
			}
			return interp.NewExitStatus(uint8(128 + st.Signal())), true
		}
		return interp.NewExitStatus(uint8(ee.ExitCode())), true
	case errors.Is(err, syscall.EACCES):
		fmt.Fprintf(hc.Stderr, "%s: permission denied\n", args[0])
		return interp.NewExitStatus(126), true
	}
	fmt.Fprintln(hc.Stderr, err)
	return interp.NewExitStatus(127), true
}

// lockedWriter serialises the copies into a writer that is not a file:
// os/exec copies a program's output with the writer's ReadFrom, which
// would lose what another copy (a descriptor 3… that is the same
// writer) wrote meanwhile.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *Session) locked(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok || w == nil {
		return w
	}
	return lockedWriter{&s.outMu, w}
}
