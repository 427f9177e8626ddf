// Package hooks is servicectl's embedded shell: it sources configuration
// files and runs hook scripts with mvdan.cc/sh/v3 (SPEC §2.2, §3.2, §5), so
// no /bin/sh is ever spawned to read a config. Callers get plain Go values
// back; the interpreter's types stay inside this package.
package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// ConfigTimeout bounds the evaluation of configuration (SPEC §3.2).
const ConfigTimeout = 5 * time.Second

// HookTimeout bounds a hook or replacement script (SPEC §5.3).
const HookTimeout = 60 * time.Second

// Var is a shell variable read back after sourcing.
type Var struct {
	Value    string   // the string value; for arrays, the elements joined by spaces
	List     []string // the elements, for an indexed array
	IsArray  bool
	Exported bool
}

// ScriptError is a failure located in a script: a syntax error, a runtime
// error, a time-out or an explicit non-zero exit.
type ScriptError struct {
	File string
	Line int // 0 when unknown
	Msg  string
	Err  error
	From string // FILE:LINE of the `.` that included File, if any
}

func (e *ScriptError) Error() string {
	var s string
	if e.Line > 0 {
		s = fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	} else {
		s = fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	if e.From != "" {
		s += " (included by " + e.From + ")"
	}
	return s
}

func (e *ScriptError) Unwrap() error { return e.Err }

// ErrTimeout marks a script killed at its time bound.
var ErrTimeout = errors.New("time limit exceeded")

// Session is one interpreter into which files are sourced in turn; later
// files see and override what earlier ones set (SPEC §3.1 passes,
// §2.2 load-config).
type Session struct {
	r       *interp.Runner
	stderr  io.Writer
	current string // file being run, for builtin error positions
	cache   *Cache
	ran     bool
	fresh   bool // no run since the runner's last Reset (see run)

	// mu guards what follows: a pipeline's or background job's
	// commands reach the handlers from goroutines of their own.
	mu       sync.Mutex
	stack    []string              // files being run by `.`, innermost last
	pending  map[string]*conformed // corrected files the next `.` opens
	line     int                   // line of the last simple command, for time-outs
	lineFile string
	exitFile string // where `exit` was last called
	exitLine int
	umask    int            // set by the script's umask; -1: servicectl's own
	limits   map[int]rlimit // set by the script's ulimit
	dry      *DryRun        // set: record effects instead of having them
	calls    atomic.Int64   // simple commands run (watchJobs)
	// config is set for a config's evaluation (SourceVars): configs
	// describe, hooks act, so kill with a real signal is an error there
	// (SPEC §3.2); it is read whenever a config is, by status too.
	config bool

	cancel       context.CancelFunc // stops the run now going (fatal.go)
	runCtx       context.Context    // the context cancel ends
	fatal        string             // the error that stopped it
	fatalFile    string
	lastMsg      string // the interpreter's last "NAME: …" message
	lastMsgFile  string
	lastLine     string            // the last line written to stderr in one write
	fds          fdTable           // the script's descriptors 3… (fds.go)
	outMu        sync.Mutex        // serialises copies into a non-file output (fds.go)
	traps        map[string]string // trap.go
	noclobber    bool              // set -C
	opts         optState          // getopts.go
	loops        map[string]int    // loops.go
	readonlySeen bool              // a file with readonly has run (structural.go)
}

// adoptContext makes ctx, ended by cancel, the context of the runs that
// follow (nil, nil: each run makes its own).
func (s *Session) adoptContext(ctx context.Context, cancel context.CancelFunc) {
	s.mu.Lock()
	s.runCtx, s.cancel = ctx, cancel
	s.mu.Unlock()
}

// reset forgets what one use of a pooled session learnt.
func (s *Session) reset() {
	s.ran, s.fresh = false, true
	s.stack = s.stack[:0]
	clear(s.pending)
	s.line, s.lineFile, s.exitFile, s.exitLine = 0, "", "", 0
	s.umask = -1
	clear(s.limits)
	s.fatal, s.fatalFile, s.lastMsg, s.lastMsgFile, s.lastLine = "", "", "", "", ""
	s.fds.closeAll()
	clear(s.traps)
	s.noclobber = false
	s.opts = optState{}
	clear(s.loops)
	s.readonlySeen = false
}

// Environ is a prepared environment, built once and shared by many
// sessions (the load-config environment under every service's config).
type Environ struct{ e expand.Environ }

// NewEnviron prepares KEY=VALUE pairs for reuse. It also holds the
// read-only shell variables UID, EUID and GID, as the interpreter would
// set them (not exported), so that each session over it need not.
func NewEnviron(kv []string) *Environ {
	return &Environ{e: &layered{base: expand.ListEnviron(kv...), under: true, extra: shellIDs()}}
}

// shellIDs are the variables a Runner's Reset sets when its environment
// lacks them: bash's UID, EUID and GID, which configs written for bash
// read. Upstream makes them read-only, as bash does; dash has none of
// them, so a config may assign them, as in dash.
func shellIDs() []namedVar {
	ro := func(n int) expand.Variable {
		return expand.Variable{Set: true, Kind: expand.String, Str: strconv.Itoa(n)}
	}
	return []namedVar{{"UID", ro(os.Getuid())}, {"EUID", ro(os.Geteuid())}, {"GID", ro(os.Getgid())}}
}

// layered puts a few variables over a shared base without copying it:
// a service's own handful (SERVICE_NAME and friends) over load-config's
// environment. A short slice beats a map at this size.
type layered struct {
	base  expand.Environ
	extra []namedVar
	under bool // extra lies under base: base wins
}

type namedVar struct {
	name string
	v    expand.Variable
}

func (l *layered) Get(name string) expand.Variable {
	var under expand.Variable
	if l.under {
		if under = l.base.Get(name); under.IsSet() {
			return under
		}
	}
	for i := range l.extra {
		if l.extra[i].name == name {
			return l.extra[i].v
		}
	}
	if l.under {
		return under
	}
	return l.base.Get(name)
}

func (l *layered) Each(fn func(name string, vr expand.Variable) bool) {
	if l.under {
		stopped := false
		l.base.Each(func(name string, vr expand.Variable) bool {
			stopped = !fn(name, vr)
			return !stopped
		})
		for _, x := range l.extra {
			if stopped || l.base.Get(x.name).IsSet() {
				continue
			}
			if !fn(x.name, x.v) {
				return
			}
		}
		return
	}
	for _, x := range l.extra {
		if !fn(x.name, x.v) {
			return
		}
	}
	l.base.Each(func(name string, vr expand.Variable) bool {
		for i := range l.extra {
			if l.extra[i].name == name {
				return true
			}
		}
		return fn(name, vr)
	})
}

// Options configure a Session or a hook run.
type Options struct {
	Base   *Environ  // optional shared base under Env
	Env    []string  // KEY=VALUE: the whole starting environment, or what is put over Base
	Dir    string    // working directory (absolute)
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded
	Args   []string  // positional parameters ($1...)
	Cache  *Cache    // optional parse cache
	// Ctx, when set, ends a config's evaluation early (a caller that
	// gave up); ConfigTimeout bounds it in any case.
	Ctx context.Context
	// Dry, when set, records what the script would do to the machine
	// instead of doing it (see DryRun).
	Dry *DryRun
}

// NewSession starts an interpreter with exactly opts.Env as environment.
func NewSession(opts Options) (*Session, error) {
	s := &Session{cache: opts.Cache, umask: -1, fresh: true, dry: opts.Dry}
	out, errw := opts.Stdout, opts.Stderr
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	errw = &errTap{w: errw, s: s}
	s.stderr = errw
	r, err := interp.New(
		interp.Env(environ(opts)),
		opts.Cache.dirOption(opts.Dir),
		interp.StdIO(nil, out, errw),
		interp.Params(append([]string{"--"}, opts.Args...)...),
		interp.ExecHandlers(s.builtins),
		interp.CallHandler(s.call),
		interp.OpenHandler(s.open),
	)
	if err != nil {
		return nil, fmt.Errorf("interpreter: %w", err)
	}
	s.r = r
	return s, nil
}

func environ(opts Options) expand.Environ {
	if opts.Base == nil {
		return &layered{base: expand.ListEnviron(opts.Env...), under: true, extra: shellIDs()}
	}
	l := &layered{base: opts.Base.e, extra: make([]namedVar, 0, len(opts.Env))}
	for _, kv := range opts.Env {
		k, v, _ := strings.Cut(kv, "=")
		nv := namedVar{k, expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v}}
		if i := slices.IndexFunc(l.extra, func(x namedVar) bool { return x.name == k }); i >= 0 {
			l.extra[i] = nv // the last one wins, as in an environment list
			continue
		}
		l.extra = append(l.extra, nv)
	}
	return l
}

// Source runs the file at path in the session. With allExport every
// assignment is exported (`set -a`, SPEC §2.2). The run is bounded by the
// context; a config that overstays gets a ScriptError wrapping ErrTimeout.
func (s *Session) Source(ctx context.Context, path string, allExport bool) error {
	return s.source(ctx, path, allExport, true)
}

// source is Source; restore says whether `set +a` must follow for later
// runs in the session (a session about to be read and reset needs not).
func (s *Session) source(ctx context.Context, path string, allExport, restore bool) error {
	c, err := s.cache.parse(path)
	if err != nil {
		var se *ScriptError
		if errors.As(err, &se) {
			return err
		}
		return &ScriptError{File: path, Msg: err.Error(), Err: err}
	}
	if allExport && restore {
		defer s.run(context.Background(), path, &conformed{file: unsetA})
	}
	return s.runOpts(ctx, path, c, allExport)
}

var setA, unsetA = mustParse("set -a"), mustParse("set +a")

func mustParse(src string) *syntax.File {
	f, err := syntax.NewParser().Parse(strings.NewReader(src), "")
	if err != nil {
		panic(err)
	}
	return f
}

// Eval runs sh code held in a variable (service_pre_start and friends);
// name is used for error positions, e.g. "service_pre_start in FILE".
func (s *Session) Eval(ctx context.Context, name, code string) error {
	c, err := conform(name, []byte(code))
	if err != nil {
		return err
	}
	return s.run(ctx, name, c)
}

func (s *Session) run(ctx context.Context, name string, c *conformed) error {
	return s.runOpts(ctx, name, c, false)
}

// runOpts runs a corrected script. Statements that must come first are
// put in front of the file's in one run (each run ends by copying every
// variable into the runner's map, so fewer runs cost less): `set -a`
// for load-config (allExport), and `unset HOME` when the caller gave
// none (the interpreter's Reset invents one from the process; dash
// does not). A file with a `return` outside any function runs as
// `. FILE`, the only place the interpreter lets `return` end a file.
func (s *Session) runOpts(ctx context.Context, name string, c *conformed, allExport bool) error {
	f := s.treeFor(name, c)
	var pre []*syntax.Stmt
	if allExport {
		pre = append(pre, setA.Stmts...)
	}
	if s.fresh {
		s.fresh = false
		if !homeSet(s.r.Env) {
			pre = append(pre, unsetHome().Stmts...)
		}
		if !s.config {
			// dash exports PWD from its start; the interpreter's Reset
			// sets it unexported. Configs leave it alone: what they
			// export is the service's environment.
			pre = append(pre, exportPWD().Stmts...)
		}
	}
	if len(pre) > 0 {
		f = &syntax.File{Name: f.Name, Stmts: append(pre, f.Stmts...), Last: f.Last}
	}
	// A fatal message stops the run through this context (fatal.go).
	// SourceVars and the hook runners make one for all they run; a lone
	// run makes its own.
	s.mu.Lock()
	if s.cancel == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		s.cancel, s.runCtx = cancel, ctx
		defer func() {
			cancel()
			s.mu.Lock()
			s.cancel, s.runCtx = nil, nil
			s.mu.Unlock()
		}()
	} else {
		ctx = s.runCtx
	}
	s.mu.Unlock()
	s.mu.Lock()
	s.fatal, s.lastMsg = "", ""
	s.mu.Unlock()
	stop := s.watchJobs()
	err := s.r.Run(ctx, f)
	stop()
	if ctx.Err() != nil {
		s.reap()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ferr := s.fatalResult(ctx, err); ferr != nil {
		delete(s.pending, name)
		s.stack = s.stack[:0]
		return ferr
	}
	delete(s.pending, name)
	s.stack = s.stack[:0]
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		file, line := name, 0
		if s.lineFile != "" {
			file, line = s.lineFile, s.line
		}
		return &ScriptError{File: file, Line: line, Msg: "did not finish within its time limit (does it loop or wait forever? the line shown is the last command started)", Err: ErrTimeout}
	}
	if err == nil {
		return nil
	}
	if code, ok := interp.IsExitStatus(err); ok {
		if s.r.Exited() && code != 0 {
			file, line := name, 0
			if s.exitFile != "" {
				file, line = s.exitFile, s.exitLine
			}
			return &ScriptError{File: file, Line: line, Msg: fmt.Sprintf("exited with status %d", code), Err: ExitError(code)}
		}
		if s.r.Exited() {
			return nil
		}
		// A sourced file's status is that of its last command: not an error
		// for a config (`[ -n "$X" ] && Y=1` as the last line is common).
		return &statusOnly{code: code}
	}
	var se *ScriptError
	if errors.As(err, &se) {
		return err
	}
	file, line := name, 0
	if s.lineFile != "" {
		file, line = s.lineFile, s.line
	}
	return &ScriptError{File: file, Line: line, Msg: err.Error(), Err: err}
}

// treeFor picks what runOpts runs of c: the tree, guarded once a
// read-only variable is in sight (structural.go), or `. NAME` for a file
// with a `return` outside any function.
func (s *Session) treeFor(name string, c *conformed) *syntax.File {
	// Background jobs of an earlier run may still be in the handlers,
	// which read these under the lock.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = name
	s.ran = true
	f := c.file
	if c.readonly {
		s.readonlySeen = true
	} else if s.readonlySeen && c.guarded != nil {
		f, _ = c.guarded()
	}
	if c.topReturn {
		if s.pending == nil {
			s.pending = map[string]*conformed{}
		}
		s.pending[name] = c
		f = dotFile(name)
	}
	return f
}

// statusOnly is the non-zero status of a script's last command.
type statusOnly struct{ code uint8 }

func (e *statusOnly) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitError is the status a script or program exited with.
type ExitError uint8

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", uint8(e)) }

// IgnoreStatus drops the error of a sourced file whose last command merely
// returned non-zero; real errors pass through.
func IgnoreStatus(err error) error {
	var so *statusOnly
	if errors.As(err, &so) {
		return nil
	}
	return err
}

// Status is the exit status an error stands for (0 for nil).
func Status(err error) int {
	if err == nil {
		return 0
	}
	var so *statusOnly
	if errors.As(err, &so) {
		return int(so.code)
	}
	var ee ExitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	var pe syntax.ParseError
	if errors.As(err, &pe) {
		return 2 // dash's status for a syntax error
	}
	return 1
}

// Quote writes s as one word that sh (dash, and servicectl's
// interpreter) reads back as s: a value servicectl writes into a config
// (the dashboard's POST /api/env) is data, never code. mvdan.cc/sh's
// syntax.Quote for POSIX sh; an error for what no POSIX word can hold
// (a NUL byte).
func Quote(s string) (string, error) { return syntax.Quote(s, syntax.LangPOSIX) }
