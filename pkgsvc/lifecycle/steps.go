package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"strings"

	"servicectl/hooks"
)

// Ping exits 0 when alive (§4.9): service_ping when set, else the pid
// check (the only check left when the config does not evaluate).
func (p *Manager) Ping(ctx context.Context, name string) error {
	if err := p.CheckDirs(); err != nil {
		return err
	}
	s, cerr, err := p.ResolveOrRecorded(name)
	if err != nil {
		return err
	}
	if cerr != nil {
		p.Warnf(name, "its config does not evaluate (%s); checking the recorded pid only", pkgsvc.ConfigErrText(cerr))
	}
	if !s.Hooks["ping"].Empty() {
		if err := p.runStep(ctx, s, "ping", s.Env); err != nil {
			return pkgsvc.Errorf(pkgsvc.KindNotRunning, name, "ping failed: %v", err)
		}
		return nil
	}
	st, o := p.probe(ctx, s)
	if o != nil {
		o.Close()
		return nil
	}
	return pkgsvc.Errorf(pkgsvc.KindNotRunning, name, "is %s", st.State)
}

// ErrNoTest says the service has no self-test; it counts as passed.
var ErrNoTest = errors.New("has no test (service_test or a test hook); counted as passed")

// Test runs the service's self-test (§4.9) and returns its status.
func (p *Manager) Test(ctx context.Context, name string) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if s.Hooks["test"].Empty() {
		return ErrNoTest
	}
	if err := p.runStep(ctx, s, "test", s.Env); err != nil {
		return &pkgsvc.Error{Kind: pkgsvc.KindFailed, Status: max(1, hooks.Status(err)), Service: name, Err: fmt.Errorf("test failed: %w", err)}
	}
	return nil
}

// SetEnv is env with key set to value, once: a later duplicate would
// win for some programs and lose for others.
func SetEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// runStep runs what is configured for a hook step or replacement command
// (§5.1–§5.3): the config variable's code, then the hook file. Output goes
// to the service's output file, never to servicectl's own stdout.
func (p *Manager) runStep(ctx context.Context, s *pkgsvc.Service, step string, env []string) error {
	h, ok := s.Hooks[step]
	if !ok || h.Empty() {
		return nil
	}
	out, err := fsio.OpenAppend(s.OutputFile(p.Playpen), 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := p.EnsureDirs(); err != nil {
			return err
		}
		out, err = fsio.OpenAppend(s.OutputFile(p.Playpen), 0o644)
	}
	if err != nil {
		return fmt.Errorf("output file: %w", err)
	}
	defer out.Close()
	args := []string{s.Name}
	if !s.Project {
		args = append(args, s.Version)
	}
	opts := hooks.Options{Env: env, Dir: s.Workdir, Stdout: out, Stderr: out, Args: args}
	if h.Code != "" {
		name := "service_" + strings.ReplaceAll(step, "-", "_") + " (" + filepath.Base(s.ConfigFiles[len(s.ConfigFiles)-1]) + ")"
		if err := hooks.RunCode(ctx, name, h.Code, hooks.HookTimeout, opts); err != nil {
			return namedErr(name, err)
		}
	}
	if h.File != "" {
		if err := hooks.RunFile(ctx, h.File, hooks.HookTimeout, opts); err != nil {
			return namedErr(h.File, err)
		}
	}
	return nil
}

// namedErr says which script failed, unless the error names it already.
func namedErr(name string, err error) error {
	var se *hooks.ScriptError
	if errors.As(err, &se) && strings.HasPrefix(se.Error(), name) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// render runs sub-conf for each of service_config_files (§5.4) with the
// service environment.
func (p *Manager) render(ctx context.Context, s *pkgsvc.Service, env []string) error {
	if len(s.RenderFiles) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	for _, f := range s.RenderFiles {
		if err := hooks.SubConf(lookup, f); err != nil {
			return pkgsvc.Errorf(pkgsvc.KindConfig, "", "service_config_files: %v", err)
		}
	}
	return nil
}
