package hooks

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
)

// trap as dash has it. mvdan.cc/sh/v3 (v3.14.1) knows only EXIT and ERR
// (interp's builtin "trap" fails on any signal with "invalid signal
// specification"), lists traps with Go quoting, runs the EXIT trap at the
// end of every Run (so twice when a hook's background jobs are waited
// for), and keeps the status from before the trap when it calls `exit N`
// ((*Runner).trapCallback restores r.exit). servicectl keeps the traps
// itself (Session.traps, keyed by the name `trap` lists) and runs the
// EXIT trap once, when the script is over (runExitTrap).
//
// A signal trap runs when the script sends that signal to itself
// (`kill -USR1 $$`): a hook is not a process of its own, so a signal sent
// to servicectl from outside is servicectl's (its time limit and stop
// rules apply), not the hook's. A subshell's trap is the script's: the
// interpreter gives the handlers no way to tell a subshell apart.

// trapCmd is the internal name of sh's trap.
const trapCmd = "servicectl-builtin-trap"

// trapSignal reads a condition as dash does: EXIT or 0, a signal's
// number, or its name without SIG in any case.
func trapSignal(s string) (name string, num int, ok bool) {
	if s == "EXIT" || s == "0" || strings.EqualFold(s, "exit") {
		return "EXIT", 0, true
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return "", 0, false
		}
		full := unix.SignalName(syscall.Signal(n))
		if full == "" {
			return "", 0, false
		}
		return full[3:], n, true
	}
	up := strings.ToUpper(s)
	if strings.HasPrefix(up, "SIG") {
		return "", 0, false // dash: "SIGINT: bad trap"
	}
	sig := unix.SignalNum("SIG" + up)
	if sig == 0 {
		return "", 0, false
	}
	return up, int(sig), true
}

// builtinTrap is `trap`, `trap ACTION COND...`, `trap - COND...` and
// `trap COND...` (POSIX: an unsigned integer first means every operand is
// a condition to reset).
func (s *Session) builtinTrap(hc interp.HandlerContext, args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		return s.scriptError(hc, "trap: illegal option "+args[0]+" (sh stops a script here)", nil)
	}
	if len(args) == 0 {
		s.listTraps(hc)
		return nil
	}
	action, conds, reset := args[0], args[1:], args[0] == "-"
	if _, err := strconv.ParseUint(args[0], 10, 32); err == nil || len(args) == 1 {
		conds, reset = args, true
	}
	var bad []string
	s.mu.Lock()
	if s.traps == nil {
		s.traps = map[string]string{}
	}
	for _, c := range conds {
		name, _, ok := trapSignal(c)
		switch {
		case !ok:
			bad = append(bad, c)
		case reset:
			delete(s.traps, name)
		default:
			s.traps[name] = action
		}
	}
	s.mu.Unlock()
	for _, c := range bad {
		fmt.Fprintf(hc.Stderr, "trap: %s: bad trap\n", c) // stderr takes s.mu (errTap)
	}
	if len(bad) > 0 {
		return exitCode(1)
	}
	return nil
}

// listTraps prints the traps set, as dash does: in signal order, each a
// command that would set it again.
func (s *Session) listTraps(hc interp.HandlerContext) {
	s.mu.Lock()
	type set struct {
		num          int
		name, action string
	}
	var all []set
	for name, action := range s.traps {
		_, num, _ := trapSignal(name)
		all = append(all, set{num, name, action})
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].num < all[j].num })
	for _, t := range all {
		fmt.Fprintf(hc.Stdout, "trap -- %s %s\n", dashQuote(t.action), t.name)
	}
}

// dashQuote single-quotes s as dash's trap and export -p print it.
func dashQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// trapFor is the action for a signal the script sends itself, and
// whether a trap is set for it.
func (s *Session) trapFor(sig syscall.Signal) (string, bool) {
	full := unix.SignalName(sig)
	if len(full) < 4 {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	action, ok := s.traps[full[3:]]
	return action, ok
}

// runTrap runs a trap's action in the script's own shell, as the signal's
// arrival would; the command that sent it then goes on with status 0.
func (s *Session) runTrap(ctx context.Context, hc interp.HandlerContext, action string) error {
	if action == "" {
		return nil // ignored
	}
	c, err := conform("trap", []byte(action))
	if err != nil {
		return err
	}
	_, text := c.guarded()
	err = hc.Builtin(ctx, []string{"eval", string(text)})
	if _, ok := interp.IsExitStatus(err); ok {
		return nil
	}
	return err
}

// runExitTrap runs the EXIT trap once the script is over, with $? the
// status it ended with (a fatal error's 2 included: dash runs the trap
// then too, not after its time limit); an `exit N` in the trap makes N
// the script's status, as in dash.
func (s *Session) runExitTrap(ctx context.Context, name string, err error) error {
	s.mu.Lock()
	action, ok := s.traps["EXIT"]
	delete(s.traps, "EXIT")
	fatal := s.fatal != ""
	s.exitFile = ""
	s.mu.Unlock()
	if !ok || action == "" || ctx.Err() != nil && !fatal {
		return err
	}
	if ctx.Err() != nil {
		// The fatal error ended the run's context: the trap gets its own,
		// within the same bound.
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(HookTimeout)
		}
		tctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		s.adoptContext(tctx, cancel)
		s.mu.Lock()
		s.fatal = ""
		s.mu.Unlock()
		ctx = tctx
	}
	// $? is the script's status: the action runs after a command that
	// ends with it, on the same line.
	code := failCmd + " " + strconv.Itoa(Status(err)) + "; " + action
	terr := s.Eval(ctx, name+" (EXIT trap)", code)
	s.mu.Lock()
	exited := s.exitFile != ""
	s.mu.Unlock()
	if exited {
		return IgnoreExitZero(terr)
	}
	if _, isStatus := terr.(*statusOnly); terr != nil && !isStatus {
		return terr
	}
	return err
}

// killSelf is `kill -SIG $$`: the trap for SIG runs if one is set (or
// nothing happens, for a trap set to the empty string); otherwise the script ends as dash
// would die of the signal, with status 128+SIG. servicectl itself is never
// signalled.
func (s *Session) killSelf(ctx context.Context, hc interp.HandlerContext, sig syscall.Signal) error {
	if sig == 0 {
		return nil
	}
	if action, ok := s.trapFor(sig); ok {
		return s.runTrap(ctx, hc, action)
	}
	switch sig {
	case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGWINCH, syscall.SIGCONT:
		return nil // ignored by default, as by dash
	}
	return s.scriptError(hc, fmt.Sprintf("the script sent itself %s with no trap for it (kill $$): dash dies of it", unix.SignalName(sig)), ExitError(128+int(sig)))
}
