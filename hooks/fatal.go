package hooks

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Errors that end a sourced script in dash (POSIX 2.8.1: expansion
// errors, variable assignment errors, special built-in errors) and that
// mvdan.cc/sh/v3 (v3.14.1) only reports before going on are found by
// what they are, never by upstream's message: special builtins' errors
// in the call handler (checkSpecial, setOptions, trap.go), arithmetic
// and read-only assignments by the corrections of structural.go. Each
// stops the run through noteFatal (the run's context is cancelled) or
// as a handler's error. Unset parameters (${X?}, set -u) already end the
// run upstream (the runner has exited without the exit builtin); the
// tap below only gives them their message when it sees it.

// unsetParam is how upstream reports ${X?msg} and set -u, which it
// already makes fatal (exit status 1, shell exiting) without naming it.
var unsetParam = lazyRegexp(`^([A-Za-z_][A-Za-z0-9_]*): `)

// lazyRegexp compiles on first use: every servicectl command links this
// package, few run a script that fails, and compiling at init cost each
// of them (`status`, `--version`) a tenth of a millisecond.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// errTap passes the interpreter's stderr on and keeps its last line
// (the reason a special builtin's redirection failed) and the message of
// an unset parameter, for the error servicectl reports.
type errTap struct {
	w io.Writer
	s *Session
}

func (t *errTap) Write(p []byte) (int, error) {
	if len(p) > 0 && p[len(p)-1] == '\n' {
		if len(p) < 512 {
			t.s.mu.Lock()
			t.s.lastLine = strings.TrimSuffix(string(p), "\n")
			t.s.mu.Unlock()
		}
		if unsetParam().Match(p) {
			t.s.mu.Lock()
			t.s.lastMsg, t.s.lastMsgFile = strings.TrimSuffix(string(p), "\n"), t.s.file()
			t.s.mu.Unlock()
		}
	}
	return t.w.Write(p)
}

// noteFatal records the first fatal message of a run and stops the run.
func (s *Session) noteFatal(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != "" {
		return
	}
	s.fatal = msg
	s.fatalFile = s.file()
	if s.cancel != nil {
		s.cancel()
	}
}

// fatalResult turns a run that hit a fatal error into the ScriptError
// dash's exit would be, locating the line where it can. The caller holds
// s.mu.
func (s *Session) fatalResult(ctx context.Context, err error) error {
	msg, file := s.fatal, s.fatalFile
	if msg == "" {
		// Upstream ended the run itself (an unset parameter, the run
		// exiting without the exit builtin): its last message says why.
		if !s.r.Exited() || s.exitFile != "" || s.lastMsg == "" {
			return nil
		}
		msg, file = s.lastMsg, s.lastMsgFile
	}
	if file == "" {
		file = s.current
	}
	return &ScriptError{File: file, Line: s.locate(file, msg), Msg: msg + " (sh stops a script here)", Err: ExitError(2)}
}

// locate finds the line of a fatal message when only one line of file
// can have caused it; 0 otherwise.
func (s *Session) locate(file, msg string) int {
	c, err := s.cache.parse(file)
	if err != nil {
		return 0
	}
	var match func(syntax.Node) bool
	switch {
	case strings.HasSuffix(msg, ": readonly variable"):
		name := strings.TrimSuffix(msg, ": readonly variable")
		match = func(n syntax.Node) bool {
			a, ok := n.(*syntax.Assign)
			return ok && a.Name != nil && a.Name.Value == name
		}
	case msg == "division by zero" || msg == "exponent less than 0":
		op := syntax.Quo
		if msg != "division by zero" {
			op = syntax.Pow
		}
		match = func(n syntax.Node) bool {
			b, ok := n.(*syntax.BinaryArithm)
			return ok && (b.Op == op || op == syntax.Quo && (b.Op == syntax.Rem || b.Op == syntax.QuoAssgn || b.Op == syntax.RemAssgn))
		}
	default:
		m := unsetParam().FindStringSubmatch(msg)
		if m == nil {
			return 0
		}
		match = func(n syntax.Node) bool {
			pe, ok := n.(*syntax.ParamExp)
			return ok && pe.Param != nil && pe.Param.Value == m[1]
		}
	}
	line := 0
	syntax.Walk(c.file, func(n syntax.Node) bool {
		if d, ok := n.(*syntax.DeclClause); ok && d.Variant != nil && d.Variant.Value == "readonly" {
			return false // where the read-only variable was made, not assigned again
		}
		if n != nil && line >= 0 && match(n) {
			if l := int(n.Pos().Line()); line == 0 || line == l {
				line = l
			} else {
				line = -1
			}
		}
		return true
	})
	if line < 0 {
		return 0
	}
	return line
}

// checkSpecial does, before a special builtin runs, the checks whose
// failure dash makes fatal and upstream ignores: `shift N` beyond the
// positional parameters (upstream shifts nothing and succeeds) and
// `unset` of a name that is no variable name. The caller holds s.mu.
func (s *Session) checkSpecial(args []string) string {
	switch args[0] {
	case "shift":
		n := 1
		if len(args) > 1 {
			n = 0
			for _, c := range args[1] {
				if c < '0' || c > '9' {
					return "shift: " + args[1] + ": not a number"
				}
				n = n*10 + int(c-'0')
			}
		}
		if n > len(s.r.Params) {
			return "shift: can't shift that many"
		}
	case "unset":
		fn := false
		for _, a := range args[1:] {
			switch a {
			case "-f":
				fn = true
				continue
			case "-v":
				continue
			}
			if !fn && !validName(a) {
				return "unset: " + a + ": bad variable name"
			}
		}
	}
	return ""
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// fatalCmd is the internal builtin that a special builtin's failed
// redirection leads to (see redirectPatches): fatal in dash, where
// upstream prints the error and goes on.
const fatalCmd = "servicectl-special-builtin-failed"

// redirectPatches makes `: < missing`, `exec 3< missing` and the like
// fatal: the statement becomes `SPECIAL REDIRS || servicectl-…`. Only a
// statement that ends a list, or the left side of && or ||, is rewritten,
// where `||` keeps its meaning; heredocs are left alone.
func redirectPatches(ps []patch, st *syntax.Stmt, parent syntax.Node) []patch {
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(st.Redirs) == 0 || st.Negated || st.Background || st.Coprocess || len(call.Args) == 0 {
		return ps
	}
	if name := call.Args[0].Lit(); !specialBuiltins[name] && name != "exec" || name == "exec" && len(call.Args) > 1 {
		return ps
	}
	switch p := parent.(type) {
	case *syntax.BinaryCmd:
		if p.X != st || p.Op != syntax.AndStmt && p.Op != syntax.OrStmt {
			return ps
		}
	case *syntax.File, *syntax.Block, *syntax.Subshell, *syntax.IfClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseItem, *syntax.CmdSubst:
	default:
		return ps
	}
	end := call.End().Offset()
	for _, r := range st.Redirs {
		if r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc {
			return ps
		}
		if e := r.End().Offset(); e > end {
			end = e
		}
	}
	return append(ps, patch{int(end), int(end), " || " + fatalCmd + " $?"})
}

// maxJobs bounds the goroutines a script may have running at once: the
// interpreter runs each pipeline element and background job (`&`) as a
// goroutine, so `f() { f | f & }; f` would grow without bound until the
// script's time limit, taking servicectl's memory with it.
const maxJobs = 5000

// watchJobs stops the run when the process holds maxJobs goroutines more
// than when it began and this script is the one still creating them (it
// keeps running commands). It returns the function that ends the watch.
func (s *Session) watchJobs() func() {
	base := runtime.NumGoroutine()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		last := s.calls.Load()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			calls := s.calls.Load()
			if runtime.NumGoroutine() > base+maxJobs && calls > last {
				s.noteFatal(fmt.Sprintf("more than %d pipelines and background jobs at once (a fork bomb?)", maxJobs))
				return
			}
			last = calls
		}
	}()
	return func() { close(done) }
}

// reap waits, for a little while, for the background jobs of a run that
// was stopped (a fatal error, its time limit): the interpreter signals
// their processes as the run's context ends, and servicectl must not exit
// before it has, or they outlive it (a config that forks without end
// would leave thousands).
func (s *Session) reap() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s.mu.Lock()
	line, file := s.line, s.lineFile // the script's last line, for its error
	s.mu.Unlock()
	s.r.Run(ctx, waitStmt())
	s.mu.Lock()
	s.line, s.lineFile = line, file
	s.mu.Unlock()
}

var waitStmt = sync.OnceValue(func() *syntax.File { return mustParse("wait") })

// Options of `set` by what servicectl does with them. upstream are those
// mvdan.cc/sh/v3 (v3.14.1) implements; inert are dash's that mean nothing
// in a script that runs without a terminal and are accepted and dropped
// (upstream would print "set: invalid option" and go on); noclobber is
// kept by servicectl (the open handler); anything else, pipefail
// included (dash 0.5 has none), is fatal in dash: "Illegal option".
var (
	setUpstream = map[string]byte{"allexport": 'a', "errexit": 'e', "noexec": 'n', "noglob": 'f', "nounset": 'u', "xtrace": 'x'}
	setInert    = map[string]byte{"ignoreeof": 'I', "interactive": 'i', "monitor": 'm', "stdin": 's', "verbose": 'v', "vi": 'V', "emacs": 'E', "notify": 'b', "privileged": 'p', "nolog": 0, "debug": 0}
)

// setOptions checks `set`'s options before upstream sees them (see
// above) and returns the command upstream is to run. The caller holds
// s.mu.
func (s *Session) setOptions(hc interp.HandlerContext, args []string) ([]string, error) {
	out := []string{"set"}
	i := 1
	illegal := func(opt string) ([]string, error) {
		hint := ""
		if opt == "-o pipefail" || opt == "+o pipefail" {
			hint = "; dash has no pipefail (hooks mean what dash makes of them): check each stage's status instead"
		}
		return nil, s.scriptError(hc, "set: Illegal option "+opt+hint+" (sh stops a script here)", ExitError(2))
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || a == "+" || a[0] != '-' && a[0] != '+' {
			break
		}
		sign := a[:1]
		if a[1:] == "o" {
			if i+1 >= len(args) {
				out = append(out, a) // the listing: upstream's
				continue
			}
			i++
			name := args[i]
			switch _, up := setUpstream[name]; {
			case up:
				out = append(out, a, name)
			case name == "noclobber":
				s.noclobber = sign == "-"
			default:
				if _, ok := setInert[name]; !ok {
					return illegal(a + " " + name)
				}
			}
			continue
		}
		kept := sign
		for _, c := range a[1:] {
			switch {
			case strings.ContainsRune("aenfux", c):
				kept += string(c)
			case c == 'C':
				s.noclobber = sign == "-"
			case strings.ContainsRune("IimsvVEbp", c):
			default:
				return illegal(sign + string(c))
			}
		}
		if len(kept) > 1 {
			out = append(out, kept)
		}
	}
	out = append(out, args[i:]...)
	if len(out) == 1 && len(args) > 1 {
		return []string{":"}, nil // only inert options: not a listing
	}
	if i < len(args) {
		// New positional parameters: dash starts getopts over (setCmd).
		out[0] = setCmd
	}
	return out, nil
}

// setCmd is `set` with new positional parameters: upstream's set, then
// OPTIND=1 and getopts' place forgotten, as dash does.
const setCmd = "servicectl-builtin-set"

func (s *Session) builtinSet(ctx context.Context, hc interp.HandlerContext, args []string) error {
	if err := hc.Builtin(ctx, append([]string{"set"}, args...)); err != nil {
		return err
	}
	s.mu.Lock()
	s.opts = optState{}
	s.mu.Unlock()
	return setShellVars(ctx, hc, [][2]string{{"OPTIND", "1"}}, false)
}
