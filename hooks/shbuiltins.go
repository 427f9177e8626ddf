package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
)

// The builtins dash has and mvdan.cc/sh/v3 lacks (SPEC §3.2): kill, umask,
// ulimit and times. umask and ulimit apply to what the script starts
// after them, as in sh: servicectl itself runs many scripts at once in
// one process, so it never changes its own umask or limits; a command
// the script starts afterwards goes through the exec trampoline (see
// Trampoline), which sets them in the child just before it executes the
// command.

// rlimit is a limit set by the script's ulimit.
type rlimit struct{ cur, max uint64 }

const unlimited = ^uint64(0) // RLIM_INFINITY

// shellStatus is the exit status of a builtin that failed in the way sh
// reports (a message, a status, the script goes on).
func shellStatus(w io.Writer, code uint8, format string, a ...any) error {
	fmt.Fprintf(w, format+"\n", a...)
	return interp.NewExitStatus(code)
}

// builtinKill is sh's kill: `kill [-s SIG | -SIG | -n NUM] PID...` and
// `kill -l [STATUS...]`. Pids 0 and -1 and servicectl's own pid are
// refused with file and line: the script runs inside servicectl, so they
// would signal servicectl's process group, every process, or servicectl
// itself. In a config any signal but 0 is an error (SPEC §3.2) and
// nothing is sent.
func (s *Session) builtinKill(ctx context.Context, hc interp.HandlerContext, args []string) error {
	sig, pids, list, err := parseKill(hc, args)
	switch {
	case err != nil:
		return err
	case list:
		return killList(hc, pids)
	case s.config && sig != 0:
		return s.scriptError(hc, fmt.Sprintf("kill -%s in a config: configs describe, hooks act, so a config may not send a signal (it runs whenever servicectl reads it, by status too); nothing was sent — move it to a hook", unix.SignalName(sig)[3:]), nil)
	}
	var status uint8
	for _, a := range pids {
		pid, err := strconv.Atoi(a)
		if err != nil {
			fmt.Fprintf(hc.Stderr, "kill: %s: not a process id (servicectl's shell has no job control)\n", a)
			status = 1
			continue
		}
		if pid == os.Getpid() && !s.config {
			// $$: the script signals itself (trap.go).
			if err := s.killSelf(ctx, hc, sig); err != nil {
				return err
			}
			continue
		}
		if pid == 0 || pid == -1 || pid == os.Getpid() || pid == -syscall.Getpgrp() {
			file, line := s.where(hc)
			fmt.Fprintf(hc.Stderr, "%s:%d: kill: %d: refused: the script runs inside servicectl, so this would signal servicectl itself or every process\n", file, line, pid)
			status = 1
			continue
		}
		if err := syscall.Kill(pid, sig); err != nil {
			fmt.Fprintf(hc.Stderr, "kill: (%d): %v\n", pid, err)
			status = 1
		}
	}
	if status != 0 {
		return interp.NewExitStatus(status)
	}
	return nil
}

// parseKill reads kill's options: the signal (TERM by default) and the
// pids, or list for `kill -l` with its operands in pids.
func parseKill(hc interp.HandlerContext, args []string) (sig syscall.Signal, pids []string, list bool, err error) {
	sig = syscall.SIGTERM
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" {
		a := args[i]
		switch {
		case a == "--":
			i++
			goto pids
		case a == "-l" || a == "-L":
			return 0, args[i+1:], true, nil
		case a == "-s" || a == "-n":
			if i+1 >= len(args) {
				return 0, nil, false, shellStatus(hc.Stderr, 2, "kill: %s needs a signal", a)
			}
			s, ok := signalByName(args[i+1])
			if !ok {
				return 0, nil, false, shellStatus(hc.Stderr, 2, "kill: invalid signal %s (kill -l lists them)", args[i+1])
			}
			sig = s
			i += 2
		default:
			if _, err := strconv.Atoi(a); err == nil && i > 0 {
				goto pids // a process group after the signal: kill -TERM -123
			}
			s, ok := signalByName(a[1:])
			if !ok {
				return 0, nil, false, shellStatus(hc.Stderr, 2, "kill: invalid signal %s (kill -l lists them)", a[1:])
			}
			sig = s
			i++
		}
	}
pids:
	if i >= len(args) {
		return 0, nil, false, shellStatus(hc.Stderr, 2, "kill: usage: kill [-s SIGNAL | -SIGNAL] PID... or kill -l [STATUS]")
	}
	return sig, args[i:], false, nil
}

func signalByName(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, false
		}
		return syscall.Signal(n), true
	}
	s = strings.ToUpper(s)
	if s != "" && !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	sig := unix.SignalNum(s)
	return sig, sig != 0
}

func killList(hc interp.HandlerContext, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(hc.Stdout, "0")
		for n := 1; n < 32; n++ {
			if name := unix.SignalName(syscall.Signal(n)); name != "" {
				fmt.Fprintln(hc.Stdout, strings.TrimPrefix(name, "SIG"))
			}
		}
		return nil
	}
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			s, ok := signalByName(a)
			if !ok {
				return shellStatus(hc.Stderr, 1, "kill: invalid signal %s", a)
			}
			fmt.Fprintln(hc.Stdout, int(s))
			continue
		}
		if n > 128 {
			n -= 128
		}
		name := unix.SignalName(syscall.Signal(n))
		if name == "" {
			return shellStatus(hc.Stderr, 1, "kill: invalid signal number %s", a)
		}
		fmt.Fprintln(hc.Stdout, strings.TrimPrefix(name, "SIG"))
	}
	return nil
}

var processUmask = sync.OnceValue(func() int {
	// /proc/self/status has it without changing it (Linux ≥ 4.7).
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return int(n)
				}
			}
		}
	}
	return 0o022
})

// builtinUmask is sh's umask: print (octal, or -S symbolic) or set, in
// octal or symbolic form (u=rwx,g=rx,o=).
func (s *Session) builtinUmask(hc interp.HandlerContext, args []string) error {
	s.mu.Lock()
	cur := s.umask
	s.mu.Unlock()
	if cur < 0 {
		cur = processUmask()
	}
	symbolic := false
	if len(args) > 0 && args[0] == "-S" {
		symbolic = true
		args = args[1:]
	}
	if len(args) == 0 {
		if symbolic {
			perm := 0o777 &^ cur
			part := func(shift int) string {
				var b strings.Builder
				for i, c := range "rwx" {
					if perm>>(shift+2-i)&1 == 1 {
						b.WriteRune(c)
					}
				}
				return b.String()
			}
			fmt.Fprintf(hc.Stdout, "u=%s,g=%s,o=%s\n", part(6), part(3), part(0))
		} else {
			fmt.Fprintf(hc.Stdout, "%04o\n", cur)
		}
		return nil
	}
	mode := args[0]
	if mode[0] >= '0' && mode[0] <= '9' {
		n, err := strconv.ParseUint(mode, 8, 32)
		if err != nil || n > 0o777 {
			return shellStatus(hc.Stderr, 2, "umask: %s: not an octal mask (e.g. 022) nor a symbolic one (u=rwx,g=rx,o=)", mode)
		}
		s.setUmask(int(n))
		return nil
	}
	perm, err := symbolicPerm(0o777&^cur, mode)
	if err != nil {
		return shellStatus(hc.Stderr, 2, "umask: %s: %v", mode, err)
	}
	s.setUmask(0o777 &^ perm)
	return nil
}

func (s *Session) setUmask(m int) {
	s.mu.Lock()
	s.umask = m
	s.mu.Unlock()
}

// symbolicPerm applies a chmod-style symbolic mode (who[+-=]perms, comma
// separated) to the permission bits perm.
func symbolicPerm(perm int, mode string) (int, error) {
	for _, clause := range strings.Split(mode, ",") {
		who := 0
		j := 0
		for ; j < len(clause) && strings.IndexByte("ugoa", clause[j]) >= 0; j++ {
			switch clause[j] {
			case 'u':
				who |= 0o700
			case 'g':
				who |= 0o070
			case 'o':
				who |= 0o007
			case 'a':
				who |= 0o777
			}
		}
		if who == 0 {
			who = 0o777
		}
		if j >= len(clause) {
			return 0, errors.New("an operator (+, - or =) is missing")
		}
		for j < len(clause) {
			op := clause[j]
			if op != '+' && op != '-' && op != '=' {
				return 0, fmt.Errorf("%q is not an operator (+, - or =)", op)
			}
			j++
			bits := 0
			for ; j < len(clause) && strings.IndexByte("rwx", clause[j]) >= 0; j++ {
				switch clause[j] {
				case 'r':
					bits |= 0o444
				case 'w':
					bits |= 0o222
				case 'x':
					bits |= 0o111
				}
			}
			bits &= who
			switch op {
			case '+':
				perm |= bits
			case '-':
				perm &^= bits
			case '=':
				perm = perm&^who | bits
			}
		}
	}
	return perm, nil
}

type limitSpec struct {
	flag  byte
	res   int
	unit  uint64
	label string
}

// limitSpecs are dash's ulimit options, in the order of `ulimit -a`.
var limitSpecs = []limitSpec{
	{'t', unix.RLIMIT_CPU, 1, "time(seconds)"},
	{'f', unix.RLIMIT_FSIZE, 512, "file(blocks)"},
	{'d', unix.RLIMIT_DATA, 1024, "data(kbytes)"},
	{'s', unix.RLIMIT_STACK, 1024, "stack(kbytes)"},
	{'c', unix.RLIMIT_CORE, 512, "coredump(blocks)"},
	{'m', unix.RLIMIT_RSS, 1024, "memory(kbytes)"},
	{'l', unix.RLIMIT_MEMLOCK, 1024, "locked memory(kbytes)"},
	{'p', unix.RLIMIT_NPROC, 1, "process"},
	{'n', unix.RLIMIT_NOFILE, 1, "nofiles"},
	{'v', unix.RLIMIT_AS, 1024, "vmemory(kbytes)"},
	{'w', unix.RLIMIT_LOCKS, 1, "locks"},
	{'r', unix.RLIMIT_RTPRIO, 1, "rtprio"},
}

func (s *Session) limit(res int) (rlimit, error) {
	s.mu.Lock()
	l, ok := s.limits[res]
	s.mu.Unlock()
	if ok {
		return l, nil
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(res, &rl); err != nil {
		return rlimit{}, err
	}
	return rlimit{rl.Cur, rl.Max}, nil
}

// builtinUlimit is dash's ulimit: `ulimit [-H|-S] [-a | -tfdscmlpnvwr]
// [VALUE|unlimited]`; with neither -H nor -S a new value sets both.
func (s *Session) builtinUlimit(hc interp.HandlerContext, args []string) error {
	hard, soft, all := false, false, false
	spec := limitSpecs[1] // -f
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && len(args[0]) > 1 {
		for _, c := range args[0][1:] {
			switch c {
			case 'H':
				hard = true
			case 'S':
				soft = true
			case 'a':
				all = true
			default:
				found := false
				for _, l := range limitSpecs {
					if byte(c) == l.flag {
						spec, found = l, true
					}
				}
				if !found {
					return shellStatus(hc.Stderr, 2, "ulimit: -%c: not an option dash's ulimit has (ulimit -a lists them)", c)
				}
			}
		}
		args = args[1:]
	}
	show := func(l rlimit, sp limitSpec) string {
		v := l.cur
		if hard && !soft {
			v = l.max
		}
		if v == unlimited {
			return "unlimited"
		}
		return strconv.FormatUint(v/sp.unit, 10)
	}
	if all {
		for _, sp := range limitSpecs {
			l, err := s.limit(sp.res)
			if err != nil {
				return shellStatus(hc.Stderr, 1, "ulimit: %v", err)
			}
			fmt.Fprintf(hc.Stdout, "%-20s %s\n", sp.label, show(l, sp))
		}
		return nil
	}
	l, err := s.limit(spec.res)
	if err != nil {
		return shellStatus(hc.Stderr, 1, "ulimit: %v", err)
	}
	if len(args) == 0 {
		fmt.Fprintln(hc.Stdout, show(l, spec))
		return nil
	}
	v := unlimited
	if args[0] != "unlimited" {
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return shellStatus(hc.Stderr, 2, "ulimit: %s: not a number nor \"unlimited\"", args[0])
		}
		v = n * spec.unit
	}
	nl := l
	if hard || !soft {
		nl.max = v
	}
	if soft || !hard {
		nl.cur = v
	}
	if nl.cur > nl.max {
		return shellStatus(hc.Stderr, 1, "ulimit: -%c %s: the soft limit would exceed the hard limit", spec.flag, args[0])
	}
	if nl.max > l.max && unix.Geteuid() != 0 {
		return shellStatus(hc.Stderr, 1, "ulimit: -%c %s: raising a hard limit needs root", spec.flag, args[0])
	}
	if spec.res == unix.RLIMIT_NOFILE && nl.max > nrOpen() {
		return shellStatus(hc.Stderr, 1, "ulimit: -n %s: above the kernel's fs.nr_open (%d)", args[0], nrOpen())
	}
	s.mu.Lock()
	if s.limits == nil {
		s.limits = map[int]rlimit{}
	}
	s.limits[spec.res] = nl
	s.mu.Unlock()
	return nil
}

// nrOpen is the kernel's ceiling on open files, which even root cannot
// raise a limit above.
func nrOpen() uint64 {
	data, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return unlimited
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return unlimited
	}
	return n
}

// builtinTimes is sh's times: user and system time of the shell, then of
// its children. The shell is servicectl, which runs many scripts; the
// figures are servicectl's, as a shell's would be.
func builtinTimes(hc interp.HandlerContext) error {
	var self, kids unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	tv := func(t unix.Timeval) string {
		us := t.Sec*1e6 + t.Usec
		return fmt.Sprintf("%dm%d.%06ds", us/60e6, us%60e6/1e6, us%1e6)
	}
	fmt.Fprintf(hc.Stdout, "%s %s\n%s %s\n", tv(self.Utime), tv(self.Stime), tv(kids.Utime), tv(kids.Stime))
	return nil
}

// The exec trampoline. A command the script starts after umask or ulimit
// runs as `SELF trampolineMarker umask=OOO limit=RES:CUR:MAX... -- PATH
// ARGV0 ARGS...`; SELF's main calls Trampoline first thing, which sets
// them and executes PATH. Go gives no hook between fork and exec, and
// setting them in servicectl itself would reach every other script and
// service it starts meanwhile.
const trampolineMarker = "\x01servicectl-exec-trampoline"

var (
	trampolineMu   sync.Mutex
	trampolineSelf string
)

// shBuiltin runs one of the builtins above by its internal name; ok is
// false for any other command. None may hold s.mu while it writes to
// stderr: the stderr tap (fatal.go) takes it.
func (s *Session) shBuiltin(ctx context.Context, hc interp.HandlerContext, args []string) (error, bool) {
	switch args[0] {
	case renamed["kill"]:
		return s.builtinKill(ctx, hc, args[1:]), true
	case setCmd:
		return s.builtinSet(ctx, hc, args[1:]), true
	case loopCmd:
		return s.builtinLoop(args[1:]), true
	case listCmd:
		return builtinList(hc, args[1:]), true
	case readCmd:
		return s.builtinRead(ctx, hc, args[1:]), true
	case getoptsCmd:
		return s.builtinGetopts(ctx, hc, args[1:]), true
	case trapCmd:
		return s.builtinTrap(hc, args[1:]), true
	case renamed["umask"]:
		return s.builtinUmask(hc, args[1:]), true
	case renamed["ulimit"]:
		return s.builtinUlimit(hc, args[1:]), true
	case renamed["times"]:
		return builtinTimes(hc), true
	case renamed["printf"]:
		return builtinPrintf(hc, args[1:]), true
	case renamed["echo"]:
		return builtinEcho(hc, args[1:]), true
	case fatalCmd:
		s.mu.Lock()
		file, why := s.file(), s.lastLine
		s.mu.Unlock()
		if why == "" {
			why = "a redirection failed"
		}
		return &ScriptError{File: file, Line: int(hc.Pos.Line()), Msg: why + " (a redirection of a special builtin: sh stops a script here)", Err: ExitError(2)}, true
	case fatalNowCmd:
		return s.builtinFatalNow(args[1:]), true
	case assignedCmd:
		return s.builtinAssignFailed(hc, args[1:]), true
	case failCmd:
		return builtinFail(hc, args[1:]), true
	case fdCmd:
		return s.builtinFd(hc, args[1:]), true
	case quotePatternCmd:
		fmt.Fprint(hc.Stdout, patternQuote(strings.Join(args[1:], " ")))
		return nil, true
	}
	return nil, false
}
