// Package proc is servicectl's process identity (SPEC §4.7): it reads
// /proc, claims a pid (pidfd first, then start time and session checked
// against the record, from one read of /proc/PID/stat), and hands back a Handle through which every signal
// and every wait goes, so nothing is ever sent to a bare number after
// the check. The CLI and the supervisor use the same Handle: Done fires
// when the process exits, whether servicectl started it or adopted it.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"servicectl/internal/fsio"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Info is what identifies a process beyond its pid, from one read of
// /proc/PID/stat: the kernel's start time (clock ticks since boot, field
// 22) and its session (field 6). Neither changes when the process execs,
// so a wrapper that ends in `exec prog` is the same process before and
// after (SPEC §4.7); a reused pid cannot carry the old start time.
type Info struct {
	StartTime uint64
	Pgrp      int
	Sid       int // session id: a service servicectl launched leads its own (Sid == pid)
	Zombie    bool
	Comm      string // the kernel's name for it: the executed file's base name, 15 bytes at most
	// Argv0 and Argv1 are filled only by ReadArgs: identity never rests
	// on them (exec changes them); the own-pidfile rule and messages do.
	Argv0 string
	Argv1 string // for `#!` scripts the kernel puts the interpreter first and the script second
}

// ReadArgs is ReadStat plus argv[0] and argv[1]: for the one rule that
// still looks at what a process runs (service_own_pidfile, §4.7).
func ReadArgs(pid int) (Info, error) {
	info, err := ReadStat(pid)
	if err != nil {
		return info, err
	}
	cmdline, err := fsio.ReadSnapshot("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return info, err
	}
	args := bytes.SplitN(cmdline, []byte{0}, 3)
	info.Argv0 = string(args[0])
	if len(args) > 1 {
		info.Argv1 = string(args[1])
	}
	return info, nil
}

// ReadStat reads /proc/PID/stat only: state, group, session, start time,
// comm. An error means the process is gone.
func ReadStat(pid int) (Info, error) {
	var info Info
	stat, err := fsio.ReadSnapshot("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return info, err
	}
	// comm may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	j := bytes.IndexByte(stat, '(')
	if i < 0 || j < 0 || j > i {
		return info, fmt.Errorf("pid %d: unreadable /proc stat", pid)
	}
	info.Comm = string(stat[j+1 : i])
	fields := bytes.Fields(stat[i+1:])
	if len(fields) < 20 {
		return info, fmt.Errorf("pid %d: short /proc stat", pid)
	}
	info.Zombie = string(fields[0]) == "Z" || string(fields[0]) == "X"
	info.Pgrp, _ = strconv.Atoi(string(fields[2]))
	info.Sid, _ = strconv.Atoi(string(fields[3]))
	info.StartTime, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return info, fmt.Errorf("pid %d: bad start time", pid)
	}
	return info, nil
}

// Want is what a claim checks a pid against: the identity servicectl
// recorded when it launched the process (SPEC §4.7).
type Want struct {
	// StartTime is the recorded kernel start time; 0 checks none (a
	// pidfile servicectl did not write with a state file).
	StartTime uint64
	// Sid is the session the process must be in: for a process
	// servicectl launched, its own pid (it leads the session made for
	// it); for `run` under another supervisor, the session it had. 0
	// checks none (a state file from before sessions were recorded).
	Sid int
	// Leader asks that the process lead its own session (Sid == pid):
	// the rule for a pid no state file describes.
	Leader bool
	// Argv0s, when set, must hold argv[0] (or argv[1], the script of a
	// `#!` interpreter): service_own_pidfile's rule only.
	Argv0s []string
}

// check is the whole identity rule over one stat read.
func (w Want) check(pid int, info Info) error {
	switch {
	case info.Zombie:
		return &NotOurs{Why: fmt.Sprintf("pid %d is not running", pid)}
	case w.StartTime != 0 && info.StartTime != w.StartTime:
		return &NotOurs{Why: fmt.Sprintf("pid %d was started at another time than the recorded one: the pid has been reused by another process", pid)}
	case w.Sid != 0 && info.Sid != w.Sid:
		return &NotOurs{Why: fmt.Sprintf("pid %d is in session %d, not in the session %d servicectl made for it", pid, info.Sid, w.Sid)}
	case w.Leader && info.Sid != pid:
		return &NotOurs{Why: fmt.Sprintf("pid %d does not lead a session of its own, as every process servicectl launches does", pid)}
	}
	return nil
}

// Matches is the read-only identity check of a status: one read of
// /proc/PID/stat, and the pid is the one recorded if it is alive, not a
// zombie, started at the recorded time and in the recorded session.
func Matches(pid int, w Want) bool {
	if pid <= 1 || w.StartTime == 0 {
		return false
	}
	info, err := ReadStat(pid)
	return err == nil && w.check(pid, info) == nil
}

// Handle is a process verified to be the service's: a pidfd taken
// before the check, so what is signalled is what was checked (SPEC §4.7).
type Handle struct {
	Pid  int
	Info Info // as read when claimed

	fd       int
	closed   bool
	fdMu     sync.Mutex // Close and Done may meet from two goroutines
	doneOnce sync.Once
	done     chan struct{}
}

// NotOurs says a pid names no process of ours: gone, a zombie, or
// somebody else's (start time or argv[0] differ).
type NotOurs struct{ Why string }

func (e *NotOurs) Error() string { return e.Why }

// Claim opens a pidfd for pid and then verifies the process against w
// (SPEC §4.7). Every signal servicectl sends goes through a claimed
// process, so what is signalled is what was checked.
func Claim(pid int, w Want) (*Handle, error) {
	if pid <= 1 {
		return nil, &NotOurs{Why: fmt.Sprintf("pid %d is never a service's", pid)}
	}
	fd := -1
	if havePidfd() {
		var err error
		if fd, err = unix.PidfdOpen(pid, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil, &NotOurs{Why: fmt.Sprintf("pid %d is not running", pid)}
			}
			// Out of descriptors or memory says nothing of the process:
			// check it by /proc alone, as without pidfds.
			fd = -1
		}
	}
	read := ReadStat
	if len(w.Argv0s) > 0 {
		read = ReadArgs
	}
	info, err := read(pid)
	if err == nil {
		err = w.check(pid, info)
	} else {
		err = &NotOurs{Why: fmt.Sprintf("pid %d is not running", pid)}
	}
	if err == nil && len(w.Argv0s) > 0 && !slices.ContainsFunc(w.Argv0s, func(a string) bool {
		return a != "" && (a == info.Argv0 || a == info.Argv1)
	}) {
		err = &NotOurs{Why: fmt.Sprintf("pid %d runs %q, not the service's program", pid, info.Argv0)}
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, err
	}
	return &Handle{Pid: pid, fd: fd, Info: info}, nil
}

// Close lets go of the pidfd; Done keeps its own.
func (o *Handle) Close() {
	o.fdMu.Lock()
	defer o.fdMu.Unlock()
	if o.fd >= 0 {
		unix.Close(o.fd)
		o.fd = -1
	}
	o.closed = true
}

// Alive reports whether the claimed process has not exited.
func (o *Handle) Alive() bool {
	if o.polling() {
		return o.procAlive()
	}
	fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// procAlive is liveness read from /proc: the pid runs, not a zombie,
// started at the claimed time.
func (o *Handle) procAlive() bool {
	info, err := ReadStat(o.Pid)
	return err == nil && !info.Zombie && info.StartTime == o.Info.StartTime
}

// polling says the handle has no pidfd (a kernel before 5.3): liveness
// is read from /proc (start time and state) and signals go to the pid
// after the same check, which leaves a reuse window of one /proc read.
func (o *Handle) polling() bool { return o.fd < 0 && !o.closed }

// pollEvery is how often a handle without a pidfd looks at /proc.
const pollEvery = 50 * time.Millisecond

// ForcePolling makes handles claimed afterwards work without pidfds, as
// on a kernel that has none: for the tests of that path.
func ForcePolling(on bool) { forcePolling.Store(on) }

var (
	forcePolling atomic.Bool
	pidfdWorks   = sync.OnceValue(func() bool {
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			return false
		}
		unix.Close(fd)
		return true
	})
)

func havePidfd() bool { return !forcePolling.Load() && pidfdWorks() }

// Signal sends sig to the process through its pidfd and, when it leads
// its own process group (every service is started with setsid), to the
// whole group. Where the kernel has PIDFD_SIGNAL_PROCESS_GROUP (6.9+) the
// group is signalled through the pidfd too; elsewhere through kill(-pgid),
// which is safe because the leader is alive and claimed, so its pgid
// cannot have been reused.
func (o *Handle) Signal(sig syscall.Signal, group bool) error {
	if o.polling() {
		if !o.Alive() { // the same check as the claim, just before
			return nil
		}
		target := o.Pid
		if group && o.Info.Pgrp == o.Pid {
			target = -o.Pid
		}
		if err := unix.Kill(target, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal %d: %w", target, err)
		}
		return nil
	}
	if group && o.Info.Pgrp == o.Pid {
		err := unix.PidfdSendSignal(o.fd, sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
		switch {
		case err == nil, errors.Is(err, unix.ESRCH):
			return nil
		case !errors.Is(err, unix.EINVAL):
			return fmt.Errorf("signal group %d: %w", o.Pid, err)
		}
		// An older kernel: the leader through its pidfd, then the group.
	}
	if err := unix.PidfdSendSignal(o.fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("signal pid %d: %w", o.Pid, err)
	}
	if group && o.Info.Pgrp == o.Pid {
		if err := unix.Kill(-o.Pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal group %d: %w", o.Pid, err)
		}
	}
	return nil
}

// Done returns a channel closed when the process exits, whether it is
// servicectl's child or an adopted pid: it waits on a duplicate of the
// pidfd in the runtime's poller, so a supervisor watching hundreds of
// services parks goroutines, not threads. The handle may be closed
// meanwhile; Done keeps its own descriptor.
func (o *Handle) Done() <-chan struct{} {
	o.doneOnce.Do(func() {
		o.done = make(chan struct{})
		o.fdMu.Lock()
		poll := o.fd < 0 && !o.closed
		o.fdMu.Unlock()
		if poll {
			go func() { // the polling fallback: no pidfd on this kernel
				defer close(o.done)
				for o.procAlive() {
					time.Sleep(pollEvery)
				}
			}()
			return
		}
		o.fdMu.Lock()
		fd, err := -1, error(unix.EBADF)
		if o.fd >= 0 {
			fd, err = unix.FcntlInt(uintptr(o.fd), unix.F_DUPFD_CLOEXEC, 0)
		}
		o.fdMu.Unlock()
		if err == nil {
			err = unix.SetNonblock(fd, true)
		}
		if err != nil {
			close(o.done) // cannot watch: say so by reporting at once
			return
		}
		f := os.NewFile(uintptr(fd), "pidfd")
		go func() {
			defer close(o.done)
			defer f.Close()
			if rc, err := f.SyscallConn(); err == nil {
				rc.Read(func(fd uintptr) bool {
					n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
					return n > 0 || err != nil && err != unix.EINTR
				})
			}
		}()
	})
	return o.done
}

// Wait blocks until the process exits or d passes; it reports whether
// the process is gone. It waits on the pidfd: no polling.
func (o *Handle) Wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	if o.polling() {
		for o.Alive() {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(min(pollEvery, time.Until(deadline)+time.Millisecond))
		}
		return true
	}
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		ms := int(left / time.Millisecond)
		if left > 0 && ms == 0 {
			ms = 1
		}
		fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return !o.Alive()
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// WatchChild returns a channel closed when our child proc exits, and reaps
// it then. It waits on a pidfd through the runtime's poller, so a start
// of 200 services watched through service_start_secs parks 200 goroutines
// instead of blocking 200 threads in wait4.
func WatchChild(proc *os.Process) <-chan struct{} {
	ch := make(chan struct{})
	rec := children.add(proc.Pid)
	reap := func() {
		ps, err := proc.Wait()
		if err == nil {
			rec.ws, rec.ok = ps.Sys().(syscall.WaitStatus)
		}
		close(rec.done)
	}
	fd, err := unix.PidfdOpen(proc.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		go func() {
			reap()
			close(ch)
		}()
		return ch
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	go func() {
		defer close(ch)
		if rc, err := f.SyscallConn(); err == nil {
			rc.Read(func(fd uintptr) bool {
				n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
				return n > 0 || err != nil && err != unix.EINTR
			})
		}
		f.Close()
		reap()
	}()
	return ch
}

// childExits are the exit statuses of this process's children as
// WatchChild reaped them, for a supervisor that wants to say how its
// revived services ended (the kernel tells only the parent).
type childExits struct {
	mu sync.Mutex
	m  map[int]*childExit
}

type childExit struct {
	done chan struct{}
	ws   syscall.WaitStatus
	ok   bool
}

var children = &childExits{m: map[int]*childExit{}}

func (c *childExits) add(pid int) *childExit {
	rec := &childExit{done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 4096 { // nobody asked for these: forget the oldest lot
		for p := range c.m {
			delete(c.m, p)
		}
	}
	c.m[pid] = rec
	return rec
}

// ChildExit is how this process's child pid ended: it waits up to wait
// for WatchChild to reap it. ok is false for a process that is not a
// child WatchChild watched (or not reaped in time).
func ChildExit(pid int, wait time.Duration) (ws syscall.WaitStatus, ok bool) {
	children.mu.Lock()
	rec := children.m[pid]
	children.mu.Unlock()
	if rec == nil {
		return 0, false
	}
	select {
	case <-rec.done:
	case <-time.After(wait):
		return 0, false
	}
	children.mu.Lock()
	delete(children.m, pid)
	children.mu.Unlock()
	return rec.ws, rec.ok
}

// TakeFd duplicates the claimed process's descriptor target into this
// process (pidfd_getfd(2)): how a supervisor started after a service
// takes the sockets it was handed, to hold them across its restarts. It
// needs the right to ptrace the process (root, or the same user where
// the Yama policy allows it).
func (o *Handle) TakeFd(target int) (*os.File, error) {
	o.fdMu.Lock()
	defer o.fdMu.Unlock()
	if o.fd < 0 {
		return nil, errors.New("no pidfd for this process")
	}
	fd, err := unix.PidfdGetfd(o.fd, target, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_getfd of pid %d's fd %d: %w", o.Pid, target, err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("pid %d fd %d", o.Pid, target)), nil
}
