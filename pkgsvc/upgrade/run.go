package upgrade

import (
	"context"
	"fmt"
	"io"
	"os/exec"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// Command is `upgrade run` (SPEC §8.3): pre, the package manager's
// command, post. The command and the rollback are found in PATH before
// anything is stopped (a typo must not leave services down until post),
// and run as given, never through a shell.
type Command struct {
	Pre, Post Options
	Argv      []string // the package manager's command and its arguments
	Rollback  string   // --rollback: one string, split into words as sh would
	Stdin     io.Reader
	Output    io.Writer // the command's stdout and stderr
	// Planned is told the plan once pre has made it (the CLI prints it).
	Planned func(*Plan)
}

// Run runs c: pre, the command, then post, which runs even when the
// command fails, so an upgrade never leaves a service down. A command or
// rollback that cannot be found is a usage error and stops nothing.
func Run(ctx context.Context, p *lifecycle.Manager, c Command) error {
	if len(c.Argv) == 0 {
		return &pkgsvc.Error{Kind: pkgsvc.KindUsage, Err: fmt.Errorf("upgrade run needs `-- COMMAND`")}
	}
	argv := append([]string{}, c.Argv...)
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return &pkgsvc.Error{Kind: pkgsvc.KindUsage, Err: fmt.Errorf("upgrade run: %s: %w; nothing was stopped", argv[0], err)}
	}
	argv[0] = path
	pre := c.Pre
	if c.Rollback != "" {
		words, err := SplitCommand(c.Rollback)
		if err != nil {
			return &pkgsvc.Error{Kind: pkgsvc.KindUsage, Err: fmt.Errorf("--rollback %w; nothing was stopped", err)}
		}
		rpath, err := exec.LookPath(words[0])
		if err != nil {
			return &pkgsvc.Error{Kind: pkgsvc.KindUsage, Err: fmt.Errorf("--rollback: %s: %w; nothing was stopped", words[0], err)}
		}
		words[0] = rpath
		pre.Rollback = words
	}
	plan, err := Pre(ctx, p, pre)
	if plan != nil && c.Planned != nil {
		c.Planned(plan)
	}
	if err != nil {
		return err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Output, c.Output
	cmdErr := cmd.Run()
	pkgsvc.FaultPoint("run.command")
	if _, postErr := Post(ctx, p, c.Post); postErr != nil {
		return postErr
	}
	if cmdErr != nil {
		return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Err: fmt.Errorf("upgrade command %s: %w (post ran; services are up)", argv[0], cmdErr)}
	}
	return nil
}
