package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The run-time half of the corrections of conform.go: what the
// interpreter does at a call that dash does otherwise.

// renamed are the builtins upstream lists but does not implement
// ("NAME: unsupported builtin", exit 2, script goes on); servicectl
// implements them itself under an internal name that reaches the exec
// middleware (builtins.go), since the interpreter never passes a name it
// calls a builtin to an exec handler.
var renamed = map[string]string{
	"kill":    "servicectl-builtin-kill",
	"umask":   "servicectl-builtin-umask",
	"ulimit":  "servicectl-builtin-ulimit",
	"times":   "servicectl-builtin-times",  // upstream prints zeros
	"printf":  "servicectl-builtin-printf", // upstream lacks conversions and precision (printf.go)
	"echo":    "servicectl-builtin-echo",   // dash's echo expands backslashes and has no -e
	"trap":    trapCmd,                     // upstream knows only EXIT and ERR (trap.go)
	"getopts": getoptsCmd,                  // upstream's follows bash (getopts.go)
	"read":    readCmd,                     // upstream splits as if all IFS were blanks (read.go)
}

// lacking are builtins neither upstream nor servicectl provides. Calling
// one is an error of the script, never a silent no-op.
var lacking = map[string]bool{
	"bg": true, "fg": true, "fc": true, "jobs": true, "newgrp": true,
	"bind": true, "caller": true, "compgen": true, "complete": true,
	"compopt": true, "disown": true, "enable": true, "history": true,
	"logout": true, "suspend": true,
}

// where is the file and line of the command now running. The caller
// holds s.mu.
func (s *Session) where(hc interp.HandlerContext) (string, int) {
	return s.file(), int(hc.Pos.Line())
}

// file is the script now running: the innermost file sourced with `.`,
// else the one the session was asked to run. The caller holds s.mu.
func (s *Session) file() string {
	if n := len(s.stack); n > 0 {
		return s.stack[n-1]
	}
	return s.current
}

func (s *Session) scriptError(hc interp.HandlerContext, msg string, err error) *ScriptError {
	f, l := s.where(hc)
	return &ScriptError{File: f, Line: l, Msg: msg, Err: err}
}

// call is the interpreter's call handler: it runs before every simple
// command, builtins and functions included, once its words are expanded.
func (s *Session) call(ctx context.Context, args []string) ([]string, error) {
	s.calls.Add(1)
	hc := interp.HandlerCtx(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.line = int(hc.Pos.Line())
	s.lineFile = s.file()
	name := args[0]
	if s.r.Funcs[name] != nil && !specialBuiltins[name] {
		return args, nil // a function wins over a regular builtin, as in sh
	}
	if msg := s.checkSpecial(args); msg != "" {
		return nil, s.scriptError(hc, msg+" (sh stops a script here)", ExitError(2))
	}
	switch name {
	case "set":
		return s.setOptions(hc, args)
	case "[", "test":
		if alt := testCheck(args); alt != nil {
			return alt, nil
		}
	case "cd":
		return cdArgs(hc, args), nil
	case ".", "source":
		return s.dot(hc, args)
	case "eval":
		return s.eval(hc, args)
	case "exit":
		s.exitFile, s.exitLine = s.file(), int(hc.Pos.Line())
	case "command", "builtin":
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			if in, ok := renamed[args[1]]; ok {
				return append([]string{in}, args[2:]...), nil
			}
			if lacking[args[1]] {
				return nil, s.scriptError(hc, args[1]+": not a builtin servicectl's shell has (dash has it; servicectl does not)", nil)
			}
		}
	}
	if in, ok := renamed[name]; ok {
		args[0] = in
		return args, nil
	}
	if lacking[name] {
		return nil, s.scriptError(hc, name+": not a builtin servicectl's shell has (dash has it; servicectl does not)", nil)
	}
	return args, nil
}

// dot checks and prepares `. FILE`: a name without a slash is looked up
// in PATH only (dash; bash would try the working directory too); a file
// that is missing, unreadable or does not parse is fatal, as in dash,
// naming the included file and the including one. The file is corrected
// like any other script and handed to the interpreter's own `.` by the
// open handler, so `return` and positional parameters behave as upstream
// implements them.
func (s *Session) dot(hc interp.HandlerContext, args []string) ([]string, error) {
	if len(args) < 2 {
		return nil, s.scriptError(hc, args[0]+": a file name is required", nil)
	}
	target := args[1]
	if _, ok := s.pending[target]; ok {
		return args, nil // servicectl's own run of a file (see run)
	}
	path := target
	if !strings.Contains(target, "/") {
		path = ""
		for _, dir := range filepath.SplitList(hc.Env.Get("PATH").String()) {
			if dir == "" {
				dir = "."
			}
			p := filepath.Join(dir, target)
			if !filepath.IsAbs(p) {
				p = filepath.Join(hc.Dir, p)
			}
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				path = p
				break
			}
		}
		if path == "" {
			return nil, s.scriptError(hc, fmt.Sprintf("%s: %s: not found (a name without '/' is looked up in PATH; write ./%s for the working directory)", args[0], target, target), nil)
		}
	} else if !filepath.IsAbs(path) {
		path = filepath.Join(hc.Dir, path)
	}
	c, err := s.cache.parse(path)
	if err != nil {
		f, l := s.where(hc)
		var se *ScriptError
		if errors.As(err, &se) {
			cp := *se
			cp.From = fmt.Sprintf("%s:%d", f, l)
			return nil, &cp
		}
		msg := err.Error()
		var pe *os.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, &ScriptError{File: f, Line: l, Msg: fmt.Sprintf("%s: %s: %s", args[0], target, msg), Err: err}
	}
	if s.pending == nil {
		s.pending = map[string]*conformed{}
	}
	s.pending[path] = c
	args[1] = path
	return args, nil
}

// eval corrects the text eval is about to parse, as conform does for a
// file. A syntax error is fatal, as in dash.
func (s *Session) eval(hc interp.HandlerContext, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	src := strings.Join(args[1:], " ")
	f, l := s.where(hc)
	c, err := conform(fmt.Sprintf("eval at %s:%d", f, l), []byte(src))
	if err != nil {
		return nil, err
	}
	if c.readonly {
		s.readonlySeen = true
	}
	_, text := c.guarded()
	return []string{"eval", string(text)}, nil
}

// open is the interpreter's open handler: it serves the corrected text of
// a file being sourced, and gives files that a redirection creates the
// script's own umask.
func (s *Session) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	s.mu.Lock()
	umask := s.umask
	if c, ok := s.pending[path]; ok && flag == os.O_RDONLY {
		delete(s.pending, path)
		s.stack = append(s.stack, path)
		s.mu.Unlock()
		if c.readonly {
			s.readonlySeen = true
		}
		_, text := c.guarded()
		return &sourced{Reader: bytes.NewReader(text), done: func() {
			s.mu.Lock()
			s.stack = s.stack[:len(s.stack)-1]
			s.mu.Unlock()
		}}, nil
	}
	s.mu.Unlock()
	hc := interp.HandlerCtx(ctx)
	if rw, ok, err := s.devFd(hc, path); ok {
		return rw, err
	}
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(hc.Dir, path)
	}
	if s.dry != nil {
		if rw, ok := s.dryOpen(hc, path, flag); ok {
			return rw, nil
		}
	}
	if flag&os.O_TRUNC != 0 && s.clobberRefused(path) {
		return nil, &os.PathError{Op: "cannot create", Path: path, Err: os.ErrExist}
	}
	if flag&os.O_CREATE != 0 {
		perm = 0o666 // sh creates files 0666 less the umask; upstream asks 0644
	}
	if umask < 0 || flag&os.O_CREATE == 0 {
		return os.OpenFile(path, flag, perm)
	}
	// The kernel applies servicectl's own umask; a script's umask may
	// allow more, so a file this open creates gets its mode set after.
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, flag, perm)
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		if cerr := f.Chmod(perm &^ os.FileMode(umask)); cerr != nil {
			f.Close()
			return nil, cerr
		}
	}
	return f, err
}

// sourced is a sourced file's text; the interpreter closes it when the
// file has run, which is when it leaves the stack of running files.
type sourced struct {
	*bytes.Reader
	done func()
}

func (r *sourced) Write([]byte) (int, error) { return 0, errors.New("read only") }
func (r *sourced) Close() error {
	if r.done != nil {
		r.done()
		r.done = nil
	}
	return nil
}

// dotFile is the statement `. NAME`, with which run executes a file that
// has a `return` outside any function: the interpreter allows that
// only in a file run by `.`, and it ends the file there, as in sh.
func dotFile(name string) *syntax.File {
	word := func(p syntax.WordPart) *syntax.Word { return &syntax.Word{Parts: []syntax.WordPart{p}} }
	call := &syntax.CallExpr{Args: []*syntax.Word{word(&syntax.Lit{Value: "."}), word(&syntax.SglQuoted{Value: name})}}
	return &syntax.File{Name: name, Stmts: []*syntax.Stmt{{Cmd: call}}}
}

// homeSet reports whether the caller's environment sets HOME; the interpreter
// invents one from the process's own when it does not (Runner.Reset), and
// dash does not.
func homeSet(env expand.Environ) bool { return env.Get("HOME").IsSet() }

var unsetHome = sync.OnceValue(func() *syntax.File { return mustParse("unset HOME") })

// clobberRefused is set -C: `>` may not replace an existing regular file.
func (s *Session) clobberRefused(path string) bool {
	s.mu.Lock()
	on := s.noclobber
	s.mu.Unlock()
	if !on {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

var exportPWD = sync.OnceValue(func() *syntax.File { return mustParse("export PWD") })
