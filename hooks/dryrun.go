package hooks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"mvdan.cc/sh/v3/interp"
)

// DryRun records what a script would do to the machine instead of doing
// it (`upgrade plan --hooks`, issue 16): every external command (with its
// arguments), every file it would open for writing, every signal `kill`
// would send, every file `sub-conf` would render. The script itself runs —
// its variables, tests, loops and reads are real — and each recorded
// command counts as having succeeded with no output, so the branches
// shown are those taken when everything works.
type DryRun struct {
	mu      sync.Mutex
	Effects []Effect
}

// Effect is one thing a script would have done.
type Effect struct {
	Kind  string   `json:"kind"` // exec, write, signal, render
	Argv  []string `json:"argv,omitempty"`
	Path  string   `json:"path,omitempty"`
	Where string   `json:"where"` // FILE:LINE
}

func (d *DryRun) add(e Effect) {
	d.mu.Lock()
	d.Effects = append(d.Effects, e)
	d.mu.Unlock()
}

// String is one line a person reads.
func (e Effect) String() string {
	switch e.Kind {
	case "exec":
		return fmt.Sprintf("would run %q (%s)", e.Argv, e.Where)
	case "signal":
		return fmt.Sprintf("would send kill %q (%s)", e.Argv, e.Where)
	case "render":
		return fmt.Sprintf("would render %s (%s)", e.Path, e.Where)
	}
	return fmt.Sprintf("would write %s (%s)", e.Path, e.Where)
}

// dryExec stands in for every command that is not a builtin of sh: it is
// recorded, not run. Returns handled=false for the sh builtins that only
// change the script's own state.
func (s *Session) dryExec(ctx context.Context, hc interp.HandlerContext, args []string) (bool, error) {
	where := s.whereAt(hc)
	switch args[0] {
	case "sub":
		return false, nil // stdin to stdout: no effect outside the script
	case "sub-conf", "sub-conf-dir":
		path := ""
		if len(args) > 1 {
			path = filepath.Join(hc.Env.Get("LOCAL_VAR").String(), "etc", args[1])
		}
		s.dry.add(Effect{Kind: "render", Argv: args, Path: path, Where: where})
		return true, nil
	case renamed["kill"]:
		s.dry.add(Effect{Kind: "signal", Argv: append([]string{"kill"}, args[1:]...), Where: where})
		return true, nil
	case renamed["umask"], renamed["ulimit"], renamed["times"], renamed["printf"], renamed["echo"], fatalCmd, quotePatternCmd:
		return false, nil // the script's own state, or an error it reports
	}
	s.dry.add(Effect{Kind: "exec", Argv: args, Where: where})
	return true, nil
}

// dryOpen records an open for writing and hands back a sink; reads are
// real.
func (s *Session) dryOpen(hc interp.HandlerContext, path string, flag int) (io.ReadWriteCloser, bool) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) == 0 || path == "/dev/null" {
		return nil, false
	}
	s.dry.add(Effect{Kind: "write", Path: path, Where: s.whereAt(hc)})
	return sink{}, true
}

type sink struct{}

func (sink) Read([]byte) (int, error)    { return 0, io.EOF }
func (sink) Write(b []byte) (int, error) { return len(b), nil }
func (sink) Close() error                { return nil }

func (s *Session) whereAt(hc interp.HandlerContext) string {
	s.mu.Lock()
	file, line := s.file(), int(hc.Pos.Line())
	s.mu.Unlock()
	if line == 0 {
		// A redirection: the interpreter opens it before the command it
		// belongs to reaches a handler, and says no line.
		return file
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// drain waits for the script's background commands (`cmd &`) before a
// hook counts as done, within the hook's bound. In the interpreter they
// are goroutines sharing the hook's output file, which the caller closes
// next, and whose processes the hook's context kills as it ends: waiting
// is the one well-defined end (dash would leave them running). In a dry
// run it also records what they would have run.
func (s *Session) drain(ctx context.Context, name string) {
	s.Eval(ctx, name, "wait") // under the script's name: jobs still report it
}
