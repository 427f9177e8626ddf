package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
)

// RunOptions tune Exec.
type RunOptions struct {
	// Output sends the program's stdout and stderr to the service's
	// output file; otherwise they stay those of `run` (the engine that
	// runs it captures them).
	Output bool
}

// Exec is `servicectl run SERVICE` (SPEC §10.1): the steps of a start up
// to the launch — typed environment, rendering, pre-start — then the
// program replaces this process through the linkfarm: same pid, so
// systemd, s6, runit, supervisord, Nomad or a container runtime supervise
// the program itself and its signals reach it directly. The pidfile and
// state file are written first, so `status` and `stop` work on it. It
// returns only on failure, having executed nothing.
//
// Not done here, unlike start: no new session (the engine owns the
// process group), stdin is left as it is, post-start is the engine's to
// call (`servicectl hook SERVICE post-start`).
func (p *Manager) Exec(ctx context.Context, name string, opts RunOptions) error {
	s, err := p.ResolveContext(ctx, name)
	if err != nil {
		return err
	}
	if s.Template && s.Instance == "" {
		return pkgsvc.Errorf(pkgsvc.KindUsage, name, "is a template: run an instance of it, e.g. `servicectl run %s@NAME`", name)
	}
	if !s.Hooks["start"].Empty() || s.NoPidfile {
		return pkgsvc.Errorf(pkgsvc.KindUsage, name, "has a service_start command (or service_no_pidfile): `run` needs a program to execute; let the engine call the command itself")
	}
	if s.ProgramErr != "" {
		return pkgsvc.Errorf(pkgsvc.KindFailed, name, "%s; fix service_program in %v", s.ProgramErr, s.ConfigFiles)
	}
	if err := p.EnsureDirs(); err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	// The lock file is close-on-exec: the exec releases it.
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	defer unlock()
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
	}
	switch st.State {
	case pkgsvc.StateRunning:
		return pkgsvc.Errorf(pkgsvc.KindFailed, name, "is already running (pid %d): stop it first (`servicectl stop %s`)", st.Pid, name)
	case pkgsvc.StateDead:
		p.cleanStale(s)
	}
	env, err := p.prepare(ctx, s, StartOptions{})
	if err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	path, sys, err := p.execPlan(s)
	if err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	if opts.Output {
		out, err := fsio.OpenAppend(s.OutputFile(p.Playpen), 0o644)
		if err != nil {
			return pkgsvc.Wrap(pkgsvc.KindFailed, name, fmt.Errorf("output file: %w", err))
		}
		for _, fd := range []int{1, 2} {
			if err := syscall.Dup3(int(out.Fd()), fd, 0); err != nil {
				return pkgsvc.Wrap(pkgsvc.KindFailed, name, fmt.Errorf("output file: %w", err))
			}
		}
		out.Close()
	}
	self := os.Getpid()
	info, err := proc.ReadStat(self)
	if err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	info.Argv0 = path // what it will be once executed
	if !s.OwnPidfile {
		if err := pkgsvc.WritePidfile(s.Pidfile(p.Playpen), self); err != nil {
			return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
		}
	}
	rec := p.newState(s, self, info, StartOptions{})
	rec.Engine = true
	if err := pkgsvc.WriteState(s.StateFile(p.Playpen), rec); err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	if s.Nice != nil {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, *s.Nice); err != nil {
			p.Warnf(name, "service_nice=%d: %v", *s.Nice, err) // as start does
		}
	}
	if err := becomeService(s, sys.Credential); err != nil {
		p.cleanStale(s)
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	exe, argv, env, err := p.runSockets(s, sys.Credential, path, append([]string{path}, s.Flags...), env)
	if err != nil {
		p.cleanStale(s)
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	err = syscall.Exec(exe, argv, env)
	for wait := time.Millisecond; wait < time.Second && errors.Is(err, syscall.ETXTBSY); wait *= 2 {
		// A binary just written may be held open for writing by a child
		// forked meanwhile that has not executed yet
		// (golang.org/issue/22315): try again, for a second in all.
		time.Sleep(wait)
		err = syscall.Exec(exe, argv, env)
	}
	p.cleanStale(s)
	return pkgsvc.Wrap(pkgsvc.KindFailed, name, fmt.Errorf("cannot execute %s: %w", path, err))
}

// becomeService gives this process what a launched service gets before
// it executes the program: working directory, groups and user (Go
// applies them to every thread on Linux).
func becomeService(s *pkgsvc.Service, c *syscall.Credential) error {
	if err := os.Chdir(s.Workdir); err != nil {
		return err
	}
	if c == nil {
		return nil
	}
	groups := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return err
	}
	if err := syscall.Setgid(int(c.Gid)); err != nil {
		return err
	}
	return syscall.Setuid(int(c.Uid))
}

// runnableSteps are the steps `servicectl hook` runs for an engine that calls them
// itself (systemd's ExecStartPost=, ExecStopPost=, …).
var runnableSteps = []string{"pre-start", "post-start", "pre-stop", "post-stop"}

// Hook runs one hook step of a service with its environment (SPEC §10):
// the configured code, then the hook file, their output appended to the
// service's output file, as a start or stop would run them.
func (p *Manager) Hook(ctx context.Context, name, step string) error {
	if !slices.Contains(runnableSteps, step) {
		return pkgsvc.Errorf(pkgsvc.KindUsage, name, "%q is not a step: one of %v", step, runnableSteps)
	}
	s, err := p.ResolveContext(ctx, name)
	if err != nil {
		return err
	}
	if step == "pre-start" {
		// As a start would: rendering comes before pre-start.
		if err := p.render(ctx, s, s.Env); err != nil {
			return pkgsvc.Wrap(pkgsvc.KindConfig, name, err)
		}
	}
	if err := p.runStep(ctx, s, step, s.Env); err != nil {
		return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Service: name, Err: fmt.Errorf("%s failed: %w", step, err)}
	}
	return nil
}
