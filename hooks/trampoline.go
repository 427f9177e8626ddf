package hooks

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
)

// Trampoline must be the first call of a program's main (and of a test
// binary's TestMain) that runs scripts using umask or ulimit: in a
// process started as the trampoline it applies them and executes the
// command, never returning; elsewhere it enables the trampoline and
// returns.
func Trampoline() {
	if len(os.Args) > 1 && os.Args[1] == trampolineMarker {
		os.Exit(runTrampoline(os.Args[2:]))
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	trampolineMu.Lock()
	trampolineSelf = self
	trampolineMu.Unlock()
}

func runTrampoline(args []string) int {
	for len(args) > 0 && args[0] != "--" {
		k, v, _ := strings.Cut(args[0], "=")
		switch k {
		case "umask":
			n, _ := strconv.ParseUint(v, 8, 32)
			unix.Umask(int(n))
		case "listen_pid":
			os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		case "fds":
			if err := placeFds(strings.Split(v, ",")); err != nil {
				fmt.Fprintf(os.Stderr, "servicectl: sockets: %v\n", err)
				return 126
			}
		case "limit":
			var res int
			var cur, max uint64
			if _, err := fmt.Sscanf(v, "%d:%d:%d", &res, &cur, &max); err != nil {
				fmt.Fprintf(os.Stderr, "servicectl: bad limit %q\n", v)
				return 126
			}
			if err := unix.Setrlimit(res, &unix.Rlimit{Cur: cur, Max: max}); err != nil {
				fmt.Fprintf(os.Stderr, "servicectl: ulimit: %v\n", err)
				return 126
			}
		}
		args = args[1:]
	}
	if len(args) < 3 {
		return 126
	}
	path, argv := args[1], args[2:]
	err := unix.Exec(path, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "%s: %v\n", argv[0], err)
	if errors.Is(err, unix.ENOENT) {
		return 127
	}
	return 126
}

// ListenTrampoline is how a service handed sockets is launched (SPEC
// §4.11): through this program's trampoline, which sets LISTEN_PID to
// its own pid (the program's, once it execs path with argv) between the
// fork and the exec, where systemd's protocol wants it and Go gives no
// hook. It returns the program to start and its argv.
//
// fds, when given, are descriptors (open, not close-on-exec) that the
// trampoline moves to 3, 4, … first: for a caller that execs rather than
// forks (`servicectl run`), where the runtime's own descriptors may sit
// at those numbers until the exec.
func ListenTrampoline(path string, argv []string, fds []int) (string, []string, error) {
	trampolineMu.Lock()
	self := trampolineSelf
	trampolineMu.Unlock()
	if self == "" {
		return "", nil, errors.New("service_sockets needs the servicectl program (this program never called hooks.Trampoline)")
	}
	opts := []string{self, trampolineMarker, "listen_pid"}
	if len(fds) > 0 {
		nums := make([]string, len(fds))
		for i, fd := range fds {
			nums[i] = strconv.Itoa(fd)
		}
		opts = append(opts, "fds="+strings.Join(nums, ","))
	}
	return self, append(append(opts, "--", path), argv...), nil
}

// placeFds moves the descriptors named to 3, 4, … in order, open across
// the exec: each first above every target, so none overwrites another.
func placeFds(list []string) error {
	tmp := make([]int, len(list))
	for i, v := range list {
		fd, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("bad descriptor %q", v)
		}
		if tmp[i], err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3+len(list)); err != nil {
			return fmt.Errorf("descriptor %d: %w", fd, err)
		}
		if fd >= 3+len(list) {
			unix.Close(fd)
		}
	}
	for i, fd := range tmp {
		if err := unix.Dup3(fd, 3+i, 0); err != nil {
			return fmt.Errorf("descriptor %d: %w", 3+i, err)
		}
		unix.Close(fd)
	}
	return nil
}

// trampolineArgs wraps a command the script starts in the trampoline when
// the script changed its umask or limits; ok is false when it need not.
func (s *Session) trampolineArgs(hc interp.HandlerContext, args []string) ([]string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.umask < 0 && len(s.limits) == 0 {
		return args, false, nil
	}
	trampolineMu.Lock()
	self := trampolineSelf
	trampolineMu.Unlock()
	if self == "" {
		return nil, false, errors.New("umask/ulimit for the commands a script starts need the servicectl program (this program never called hooks.Trampoline)")
	}
	path, err := interp.LookPathDir(hc.Dir, hc.Env, args[0])
	if err != nil {
		return nil, false, err
	}
	out := []string{self, trampolineMarker}
	if s.umask >= 0 {
		out = append(out, fmt.Sprintf("umask=%o", s.umask))
	}
	for res, l := range s.limits {
		out = append(out, fmt.Sprintf("limit=%d:%d:%d", res, l.cur, l.max))
	}
	out = append(out, "--", path)
	return append(out, args...), true, nil
}
