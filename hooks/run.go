package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Interpreted reports whether a hook file runs in the embedded interpreter:
// anything but a binary or a `#!` line naming something other than sh or
// bash (SPEC §5.2).
func Interpreted(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.IndexByte(head, 0) >= 0 || bytes.HasPrefix(head, []byte("\x7fELF")) {
		return false, nil
	}
	if !bytes.HasPrefix(head, []byte("#!")) {
		return true, nil
	}
	line := string(head[2:])
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return true, nil
	}
	prog := filepath.Base(fields[0])
	if prog == "env" && len(fields) > 1 {
		prog = filepath.Base(fields[1])
	}
	return prog == "sh" || prog == "bash" || prog == "dash", nil
}

// RunFile runs a hook or replacement script file with opts.Args as its
// arguments, bounded by timeout: interpreted when Interpreted says so,
// otherwise executed directly in its own process group, which is killed
// whole at the bound.
func RunFile(ctx context.Context, path string, timeout time.Duration, opts Options) error {
	interpreted, err := Interpreted(path)
	if err != nil {
		return fmt.Errorf("hook %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !interpreted {
		if opts.Dry != nil {
			opts.Dry.add(Effect{Kind: "exec", Argv: append([]string{path}, opts.Args...), Where: path})
			return nil
		}
		return execDirect(ctx, path, opts)
	}
	s, err := NewSession(opts)
	if err != nil {
		return err
	}
	s.adoptContext(ctx, cancel)
	err = s.runExitTrap(ctx, path, IgnoreExitZero(s.Source(ctx, path, false)))
	s.drain(ctx, path)
	s.closeFds()
	return err
}

// RunCode runs sh code from a config variable (service_pre_start...) with
// the same bound and arguments as a hook file.
func RunCode(ctx context.Context, name, code string, timeout time.Duration, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := NewSession(opts)
	if err != nil {
		return err
	}
	s.adoptContext(ctx, cancel)
	err = s.runExitTrap(ctx, name, IgnoreExitZero(s.Eval(ctx, name, code)))
	s.drain(ctx, name)
	s.closeFds()
	return err
}

// IgnoreExitZero turns a script's last-command status into an ExitError
// (a hook's status is its result), leaving real errors alone.
func IgnoreExitZero(err error) error {
	var so *statusOnly
	if errors.As(err, &so) {
		return ExitError(so.code)
	}
	return err
}

func execDirect(ctx context.Context, path string, opts Options) error {
	cmd := exec.CommandContext(ctx, path, opts.Args...)
	cmd.Env = opts.Env
	cmd.Dir = opts.Dir
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The whole group: a hook that forked must not leave children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &ScriptError{File: path, Msg: "killed: did not finish within its time limit", Err: ErrTimeout}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return ExitError(ee.ExitCode())
		}
		return &ScriptError{File: path, Msg: ee.String(), Err: err}
	}
	if err != nil {
		return &ScriptError{File: path, Msg: err.Error(), Err: err}
	}
	return nil
}
