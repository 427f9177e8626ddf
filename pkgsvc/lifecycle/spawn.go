package lifecycle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
	"strconv"
	"strings"
	"syscall"
	"time"

	"servicectl/hooks"
	"servicectl/linkfarm"
)

// launch executes the program through the linkfarm, detached in its own
// session, stdin /dev/null, output appended to the output file (§4.3).
// exited closes when the process ends (we are its parent until we exit).
func (p *Manager) launch(s *pkgsvc.Service, env []string) (int, <-chan struct{}, error) {
	if s.ProgramErr != "" {
		return 0, nil, errors.New(s.ProgramErr + "; fix service_program in " + strings.Join(s.ConfigFiles, ", "))
	}
	path, sys, err := p.execPlan(s)
	if err != nil {
		return 0, nil, err
	}
	sys.Setsid = true
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer devnull.Close()
	out, err := fsio.OpenAppend(s.OutputFile(p.Playpen), 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("output file: %w", err)
	}
	defer out.Close()
	exe, argv := path, append([]string{path}, s.Flags...)
	files := []*os.File{devnull, out, out}
	env = withoutListen(env)
	socks, fresh, err := p.sockets(s, sys.Credential)
	if err != nil {
		return 0, nil, err
	}
	defer closeAll(socks) // the child has its own; a holder its copy
	if len(socks) > 0 {
		files = append(files, socks...)
		env = append(env, listenEnv(s)...)
		if exe, argv, err = hooks.ListenTrampoline(path, argv, nil); err != nil {
			return 0, nil, err
		}
	}
	child, err := os.StartProcess(exe, argv, &os.ProcAttr{Dir: s.Workdir, Env: env, Files: files, Sys: sys})
	if err != nil {
		return 0, nil, fmt.Errorf("cannot execute %s: %w", path, err)
	}
	if fresh && p.Sockets != nil {
		p.Sockets.Hold(s, socks)
	}
	if s.Nice != nil {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, child.Pid, *s.Nice); err != nil {
			p.Warnf(s.Name, "service_nice=%d: %v", *s.Nice, err)
		}
	}
	return child.Pid, proc.WatchChild(child), nil
}

// execPlan is what launching a service's program needs, for `start`
// (a child) and `run` (an exec) alike: the path to execute (the
// linkfarm link unless service_no_symlink), a working directory that
// exists, and the credentials to switch to.
func (p *Manager) execPlan(s *pkgsvc.Service) (string, *syscall.SysProcAttr, error) {
	path := s.Program
	if !s.NoSymlink {
		lp, err := linkfarm.Farm{Dir: p.LinkDir}.Ensure(s.RunName, s.Program)
		if err != nil {
			return "", nil, err
		}
		path = lp
	}
	if fi, err := os.Stat(s.Workdir); err != nil || !fi.IsDir() {
		return "", nil, fmt.Errorf("service_workdir %s is not a directory", s.Workdir)
	}
	sys := &syscall.SysProcAttr{}
	if err := credential(s, sys); err != nil {
		return "", nil, err
	}
	return path, sys, nil
}

// credential applies service_user and service_group: as root, the process
// drops to them; otherwise asking for another user is an error.
func credential(s *pkgsvc.Service, sys *syscall.SysProcAttr) error {
	if s.User == "" && s.Group == "" {
		return nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if s.User != "" {
		u, err := user.Lookup(s.User)
		if err != nil {
			return fmt.Errorf("service_user=%s: %v", s.User, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if s.Group != "" {
		g, err := user.LookupGroup(s.Group)
		if err != nil {
			return fmt.Errorf("service_group=%s: %v", s.Group, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	if os.Geteuid() != 0 && (int(cred.Uid) != os.Getuid() || int(cred.Gid) != os.Getgid()) {
		return fmt.Errorf("service_user/service_group ask for uid %d gid %d, and only root can switch to them; run servicectl as root or unset them", cred.Uid, cred.Gid)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	cred.Groups = []uint32{cred.Gid}
	sys.Credential = cred
	return nil
}

// waitOwnPidfile waits up to 10 s for a program that writes its own
// pidfile (§4.3). The pid it names may be a forked child.
func (p *Manager) waitOwnPidfile(s *pkgsvc.Service, exited <-chan struct{}) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	diedAt := time.Time{}
	for {
		if pid, err := pkgsvc.ReadPidfile(s.Pidfile(p.Playpen)); err == nil && pid > 0 {
			if info, err := proc.ReadStat(pid); err == nil && !info.Zombie {
				return pid, nil
			}
		}
		if diedAt.IsZero() && exited != nil {
			select {
			case <-exited:
				// A daemonizing program exits after forking; give the child
				// a moment to write the pidfile, then give up.
				diedAt = time.Now()
			default:
			}
		}
		if !diedAt.IsZero() && time.Since(diedAt) > time.Second || time.Now().After(deadline) {
			return 0, fmt.Errorf("service_own_pidfile=1 but no live pid appeared in %s within 10 s%s", s.Pidfile(p.Playpen), p.tail(s))
		}
		<-tick.C
	}
}

// watchStart waits service_start_secs and fails the start when the
// process died meanwhile (§4.3), removing its pidfile and state.
func (p *Manager) watchStart(s *pkgsvc.Service, pid int, info proc.Info, exited <-chan struct{}, keepState bool) error {
	clean := func() {
		// A revival keeps the record of the process that died at once:
		// the supervisor counts it as a crash and revives it again.
		if !keepState {
			p.cleanStale(s)
		}
	}
	d := time.Duration(s.StartSecs * float64(time.Second))
	if d <= 0 {
		return nil
	}
	if exited != nil {
		select {
		case <-exited:
			clean()
			return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
		case <-time.After(d):
			return nil
		}
	}
	o, err := proc.Claim(pid, proc.Want{StartTime: info.StartTime, Sid: info.Sid})
	if err != nil {
		clean()
		return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
	}
	defer o.Close()
	if o.Wait(d) {
		clean()
		return fmt.Errorf("exited within service_start_secs=%g%s", s.StartSecs, p.tail(s))
	}
	return nil
}

// tail is the last 20 lines of the output file, for failure messages.
func (p *Manager) tail(s *pkgsvc.Service) string {
	lines, err := TailLines(s.OutputFile(p.Playpen), 20)
	if err != nil || len(lines) == 0 {
		return ""
	}
	return "\n--- last lines of " + s.OutputFile(p.Playpen) + " ---\n" + strings.Join(lines, "\n")
}

// TailLines returns the last n lines of a file (not through a link).
func TailLines(path string, n int) ([]string, error) {
	f, err := fsio.OpenRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lines, _, err := tailFile(f, n)
	return lines, err
}

// tailFile is TailLines of an open file; end is the size the lines were
// taken up to, where a follower goes on reading (so that nothing written
// meanwhile is skipped).
func tailFile(f *os.File, n int) ([]string, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var buf []byte
	chunk := int64(8192)
	for off := size; off > 0 && bytes.Count(buf, []byte{'\n'}) <= n; {
		step := min(chunk, off)
		off -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			return nil, 0, err
		}
		buf = append(b, buf...)
	}
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return nil, size, nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, size, nil
}
