package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"servicectl/hooks"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// A dry run of an upgrade's hooks (`upgrade plan --hooks`, issue 16): for
// each action of a plan, the hooks and replacement commands the upgrade
// would run, run in the embedded interpreter with every external command,
// file write, signal and rendering recorded instead of done
// (hooks.DryRun). Nothing on the machine changes; the new version's
// definitions are read from a scratch copy in the system's temporary
// directory, never from the playpen's var/.

// StepRun is what one step of an action would do.
type StepRun struct {
	Step string `json:"step"` // pre-stop, stop, post-stop, render, pre-start, start, post-start, restart, gate
	// Script is the script that would run (service_X in FILE, or the
	// hook file); empty for a built-in step, which Builtin describes.
	Script  string         `json:"script,omitempty"`
	Builtin string         `json:"builtin,omitempty"`
	Effects []hooks.Effect `json:"effects"`
	Output  string         `json:"output,omitempty"` // what the script would print
	Error   string         `json:"error,omitempty"`  // the script failed: the action would fail here
}

// ActionRun is one action of a plan with its steps.
type ActionRun struct {
	Action
	// Version is the definition the steps come from: the new version's
	// for what happens after the upgrade when it is unpacked.
	Version string    `json:"version"`
	Note    string    `json:"note,omitempty"`
	Steps   []StepRun `json:"steps"`
}

// Text is how `upgrade plan --hooks` and the dashboard show the action's
// steps, and how many of them would fail.
func (r ActionRun) Text() (string, int) {
	var b strings.Builder
	failed := 0
	fmt.Fprintf(&b, "%s %s (%s %s)\n", r.Service, r.Action.Action, r.Package, r.Version)
	if r.Note != "" {
		fmt.Fprintf(&b, "  note: %s\n", r.Note)
	}
	for _, st := range r.Steps {
		if st.Builtin != "" {
			fmt.Fprintf(&b, "  %-10s %s\n", st.Step, st.Builtin)
			continue
		}
		fmt.Fprintf(&b, "  %-10s %s\n", st.Step, st.Script)
		for _, e := range st.Effects {
			fmt.Fprintf(&b, "  %-10s   %s\n", "", e)
		}
		if len(st.Effects) == 0 {
			fmt.Fprintf(&b, "  %-10s   (no command, write or signal)\n", "")
		}
		if st.Output != "" {
			fmt.Fprintf(&b, "  %-10s   prints: %s\n", "", strings.ReplaceAll(st.Output, "\n", "\n             "))
		}
		if st.Error != "" && st.Step == "gate" {
			// The check runs once the new process is up: failing now,
			// before anything started, is no verdict.
			fmt.Fprintf(&b, "  %-10s   fails as things are now (%s); it runs once the service has started\n", "", st.Error)
		} else if st.Error != "" {
			failed++
			fmt.Fprintf(&b, "  %-10s   FAILS: %s\n", "", st.Error)
		}
	}
	return b.String(), failed
}

// DryRunHooks runs plan's hooks without effects and says what each
// would do.
func DryRunHooks(ctx context.Context, p *lifecycle.Manager, plan *Plan) ([]ActionRun, error) {
	newVer := map[string]string{}
	for _, c := range plan.Changes {
		newVer[c.Package] = c.New
	}
	var out []ActionRun
	for _, a := range plan.Actions {
		ar := ActionRun{Action: a, Steps: []StepRun{}}
		switch a.Action {
		case ActStopBefore, ActRemove:
			s, _, err := p.ResolveOrRecorded(a.Service)
			if err != nil {
				return nil, err
			}
			ar.Version = s.Version
			ar.Steps = dryStop(ctx, p, s)
		case ActStartAfter, ActRestartAfter:
			s, note, real, done, err := newDefinition(p, a.Service, a.Package, newVer[a.Package])
			if err != nil {
				return nil, err
			}
			ar.Version, ar.Note = s.Version, note
			upgraded := "0"
			if a.Action == ActRestartAfter {
				upgraded = "1"
				if !s.Hooks["restart"].Empty() {
					ar.Steps = append(ar.Steps, dryScripts(ctx, p, s, "restart", lifecycle.SetEnv(s.Env, "SERVICE_UPGRADED", "1"))...)
				} else {
					// As post does it: the new definition is registered
					// first, and its stop steps stop the old process.
					ar.Steps = append(ar.Steps, dryStop(ctx, p, s)...)
				}
			}
			if a.Action == ActStartAfter || s.Hooks["restart"].Empty() {
				ar.Steps = append(ar.Steps, dryStart(ctx, p, s, lifecycle.SetEnv(s.Env, "SERVICE_UPGRADED", upgraded))...)
			}
			ar.Steps = append(ar.Steps, dryGate(ctx, p, s)...)
			done()
			// Name the package's own files, not the scratch copies.
			for i := range ar.Steps {
				ar.Steps[i].Script = real(ar.Steps[i].Script)
				ar.Steps[i].Error = real(ar.Steps[i].Error)
				for k := range ar.Steps[i].Effects {
					ar.Steps[i].Effects[k].Where = real(ar.Steps[i].Effects[k].Where)
				}
			}
		default:
			continue // new (registered, not started) and untouched: nothing runs
		}
		out = append(out, ar)
	}
	return out, nil
}

// newDefinition is the definition name will have after the upgrade: the
// unpacked new version's, else (not unpacked yet, or a project service)
// the current one, with a note saying so.
func newDefinition(p *lifecycle.Manager, name, pkg, ver string) (s *pkgsvc.Service, note string, real func(string) string, done func(), err error) {
	same := func(m string) string { return m }
	cur, _, err := p.ResolveOrRecorded(name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if ver == "" || cur.Project || ver == cur.Version {
		return cur, "", same, func() {}, nil
	}
	if _, err := os.Stat(p.PackageDir(pkg, ver)); err != nil {
		return cur, fmt.Sprintf("%s %s is not unpacked yet: its hooks are shown as %s %s has them", pkg, ver, pkg, cur.Version), same, func() {}, nil
	}
	s, real, done, err = p.Candidate(pkgsvc.Registered{Service: cur.Base, Package: pkg, Version: ver}, name, "")
	if err != nil {
		return nil, "", nil, nil, err
	}
	return s, "", real, done, nil
}

func dryStop(ctx context.Context, p *lifecycle.Manager, s *pkgsvc.Service) []StepRun {
	steps := dryScripts(ctx, p, s, "pre-stop", s.Env)
	if !s.Hooks["stop"].Empty() {
		steps = append(steps, dryScripts(ctx, p, s, "stop", s.Env)...)
	} else {
		what := "not running: nothing to signal"
		if st, _ := p.ServiceState(s.Name); st != nil && st.Pid > 0 {
			what = fmt.Sprintf("would send SIG%s to pid %d and its process group, SIGKILL after %gs (service_stop_timeout)", s.StopSigName, st.Pid, s.StopTimeout)
		}
		steps = append(steps, StepRun{Step: "stop", Builtin: what, Effects: []hooks.Effect{}})
	}
	return append(steps, dryScripts(ctx, p, s, "post-stop", s.Env)...)
}

func dryStart(ctx context.Context, p *lifecycle.Manager, s *pkgsvc.Service, env []string) []StepRun {
	var steps []StepRun
	for _, f := range s.RenderFiles {
		steps = append(steps, StepRun{Step: "render", Builtin: fmt.Sprintf("would render etc/%s (or ext/etc/%s) to %s", f, f, filepath.Join(p.LocalVar, "etc", f)), Effects: []hooks.Effect{}})
	}
	steps = append(steps, dryScripts(ctx, p, s, "pre-start", env)...)
	if !s.Hooks["start"].Empty() {
		steps = append(steps, dryScripts(ctx, p, s, "start", env)...)
	} else {
		argv := append([]string{s.Program}, s.Flags...)
		what := fmt.Sprintf("would start %q as %s (through %s)", argv, s.RunName, filepath.Join(p.LinkDir, s.RunName))
		if s.ProgramErr != "" {
			what = "would fail: " + s.ProgramErr
		}
		steps = append(steps, StepRun{Step: "start", Builtin: what, Effects: []hooks.Effect{}})
	}
	return append(steps, dryScripts(ctx, p, s, "post-start", env)...)
}

func dryGate(ctx context.Context, p *lifecycle.Manager, s *pkgsvc.Service) []StepRun {
	if s.HealthGate() == pkgsvc.GatePing {
		steps := dryScripts(ctx, p, s, "ping", s.Env)
		for i := range steps {
			steps[i].Step = "gate"
		}
		return steps
	}
	return []StepRun{{Step: "gate", Builtin: fmt.Sprintf("the pid check: the process must run, within %gs (service_health_timeout)", s.HealthTimeout), Effects: []hooks.Effect{}}}
}

// dryScripts runs step's config code and hook file with effects recorded.
func dryScripts(ctx context.Context, p *lifecycle.Manager, s *pkgsvc.Service, step string, env []string) []StepRun {
	h, ok := s.Hooks[step]
	if !ok || h.Empty() {
		return nil
	}
	args := []string{s.Name}
	if !s.Project {
		args = append(args, s.Version)
	}
	var out []StepRun
	run := func(script string, fn func(hooks.Options) error) {
		var buf bytes.Buffer
		d := &hooks.DryRun{}
		err := fn(hooks.Options{Env: env, Dir: s.Workdir, Stdout: &buf, Stderr: &buf, Args: args, Dry: d})
		r := StepRun{Step: step, Script: script, Effects: d.Effects, Output: strings.TrimSpace(buf.String())}
		if r.Effects == nil {
			r.Effects = []hooks.Effect{}
		}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	if h.Code != "" {
		name := "service_" + strings.ReplaceAll(step, "-", "_") + " (" + filepath.Base(s.ConfigFiles[len(s.ConfigFiles)-1]) + ")"
		run(name, func(o hooks.Options) error { return hooks.RunCode(ctx, name, h.Code, hooks.HookTimeout, o) })
	}
	if h.File != "" {
		run(h.File, func(o hooks.Options) error { return hooks.RunFile(ctx, h.File, hooks.HookTimeout, o) })
	}
	return out
}
