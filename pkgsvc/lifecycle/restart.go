package lifecycle

import (
	"context"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
	"syscall"
	"time"
)

// RestartOptions tune one restart.
type RestartOptions struct {
	Upgraded bool // caused by an upgrade: never SIGHUP, SERVICE_UPGRADED=1 (§4.5, §8.4)
	NoHUP    bool // a new binary must run: stop and start even with service_hup=1
	Launched func()
	outcome  *string // see StartOptions
}

func setOutcome(p *string, s string) {
	if p != nil {
		*p = s
	}
}

// Restart restarts one service by the order of preference of SPEC §4.5.
func (p *Manager) Restart(ctx context.Context, name string, opts RestartOptions) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if s.Template && s.Instance == "" {
		return pkgsvc.Errorf(pkgsvc.KindUsage, name, "is a template: restart instances of it, e.g. `servicectl restart %s@NAME`", name)
	}
	if err := p.EnsureDirs(); err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return pkgsvc.Wrap(pkgsvc.KindFailed, name, err)
	}
	defer unlock()
	return pkgsvc.Wrap(pkgsvc.KindFailed, name, p.restartLocked(ctx, s, opts))
}

func (p *Manager) restartLocked(ctx context.Context, s *pkgsvc.Service, opts RestartOptions) error {
	st, o := p.probe(ctx, s)
	if st.State != pkgsvc.StateRunning {
		if o != nil {
			o.Close()
		}
		setOutcome(opts.outcome, "started (it was not running)")
		return p.startLocked(ctx, s, StartOptions{Upgraded: opts.Upgraded, Launched: opts.Launched})
	}
	if opts.Launched != nil {
		defer opts.Launched()
	}
	if s.HUP && !opts.Upgraded && !opts.NoHUP && o != nil {
		defer o.Close()
		setOutcome(opts.outcome, "sent SIGHUP (service_hup=1), same pid")
		return o.Signal(syscall.SIGHUP, false)
	}
	if o != nil {
		o.Close()
	}
	if h := s.Hooks["restart"]; !h.Empty() {
		setOutcome(opts.outcome, "restarted by service_restart")
		env := s.Env
		if opts.Upgraded {
			env = SetEnv(env, "SERVICE_UPGRADED", "1")
		}
		return p.runStep(ctx, s, "restart", env)
	}
	old, err := p.stopLocked(ctx, s)
	if err != nil {
		return err
	}
	fault.Point("restart.stopped")
	if s.RestartDelay > 0 {
		select {
		case <-time.After(time.Duration(s.RestartDelay * float64(time.Second))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	restarts := 1
	if old != nil {
		restarts = old.Restarts + 1
	}
	return p.startLocked(ctx, s, StartOptions{Upgraded: opts.Upgraded, Launched: opts.Launched, Restarts: restarts})
}

// Reload sends SIGHUP to a service that takes it (service_hup=1, §4.5).
func (p *Manager) Reload(ctx context.Context, name string) error {
	s, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if !s.HUP {
		return pkgsvc.Errorf(pkgsvc.KindFailed, name, "does not take SIGHUP (service_hup is not 1); use `servicectl restart %s`", name)
	}
	st, o := p.probe(ctx, s)
	if o == nil {
		return pkgsvc.Errorf(pkgsvc.KindNotRunning, name, "is %s; nothing to reload", st.State)
	}
	defer o.Close()
	return pkgsvc.Wrap(pkgsvc.KindFailed, name, o.Signal(syscall.SIGHUP, false))
}
