package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/internal/fault"
	"syscall"
	"time"
)

// Stopped is how a stop ended.
type Stopped struct {
	WasRunning bool
	// How: "signal TERM" (or the configured signal), "stop command",
	// "SIGKILL after 10s" when the first way did not end it in time.
	How string
}

// Stop stops one service (SPEC §4.4). Not running is success. A service
// whose config no longer evaluates is stopped as it was recorded at
// start, without hooks, with a warning.
// Its sockets (§4.11) are let go: a stop is for good.
func (p *Manager) Stop(ctx context.Context, name string) error {
	_, err := p.stop(ctx, name)
	if err == nil {
		p.releaseSockets(name)
	}
	return err
}

// StopService stops a resolved service under its lock (SPEC §4.4) and
// says how it ended.
func (p *Manager) StopService(ctx context.Context, s *pkgsvc.Service) (Stopped, error) {
	if err := p.EnsureDirs(); err != nil {
		return Stopped{}, pkgsvc.Wrap(pkgsvc.KindFailed, s.Name, err)
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return Stopped{}, pkgsvc.Wrap(pkgsvc.KindFailed, s.Name, err)
	}
	defer unlock()
	var r Stopped
	_, err = p.stopLockedHow(ctx, s, &r)
	return r, pkgsvc.Wrap(pkgsvc.KindFailed, s.Name, err)
}

// stop is Stop that also says whether the service was running.
func (p *Manager) stop(ctx context.Context, name string) (bool, error) {
	s, cerr, err := p.ResolveOrRecorded(name)
	if err != nil {
		return false, err
	}
	if cerr != nil {
		p.Warnf(name, "its config does not evaluate (%s); stopping it as recorded at start (SIG%s, %gs), without hooks", pkgsvc.ConfigErrText(cerr), s.StopSigName, s.StopTimeout)
	}
	r, err := p.StopService(ctx, s)
	return r.WasRunning, err
}

// stopLocked returns the state the service was in and any failure.
func (p *Manager) stopLocked(ctx context.Context, s *pkgsvc.Service) (*pkgsvc.State, error) {
	return p.stopLockedHow(ctx, s, nil)
}

// stopLockedHow is stopLocked; how, when set, learns how it ended.
func (p *Manager) stopLockedHow(ctx context.Context, s *pkgsvc.Service, how *Stopped) (*pkgsvc.State, error) {
	if how == nil {
		how = &Stopped{}
	}
	if err := p.recoverLaunch(s); err != nil {
		return nil, err
	}
	st, o := p.probe(ctx, s)
	old, _ := pkgsvc.ReadState(s.StateFile(p.Playpen))
	if st.State != pkgsvc.StateRunning {
		if !s.NoPidfile {
			p.cleanStale(s)
		}
		return nil, nil
	}
	how.WasRunning = true
	if o != nil {
		defer o.Close()
	}
	if o != nil {
		p.markStopping(s, o.Pid)
	}
	fault.Point("stop.want-down")
	var errs []error
	if err := p.runStep(ctx, s, "pre-stop", s.Env); err != nil {
		errs = append(errs, fmt.Errorf("pre-stop failed (stopping anyway): %w", err))
	}
	timeout := time.Duration(s.StopTimeout * float64(time.Second))
	if h := s.Hooks["stop"]; !h.Empty() {
		how.How = "stop command"
		if err := p.runStep(ctx, s, "stop", s.Env); err != nil {
			errs = append(errs, fmt.Errorf("stop command failed: %w", err))
		}
		if o != nil && !o.Wait(timeout) {
			how.How = fmt.Sprintf("SIGKILL after %gs", s.StopTimeout)
			o.Signal(syscall.SIGKILL, true)
			o.Wait(5 * time.Second)
		}
	} else if o != nil {
		how.How = "signal " + s.StopSigName
		if err := o.Signal(s.StopSignal, true); err != nil {
			errs = append(errs, err)
		}
		fault.Point("stop.signalled")
		if !o.Wait(timeout) {
			how.How = fmt.Sprintf("SIGKILL after %gs", s.StopTimeout)
			p.Warnf(s.Name, "did not stop within %gs of SIG%s; sending SIGKILL", s.StopTimeout, s.StopSigName)
			o.Signal(syscall.SIGKILL, true)
			if !o.Wait(5 * time.Second) {
				errs = append(errs, fmt.Errorf("pid %d survived SIGKILL", o.Pid))
				return old, errors.Join(errs...)
			}
		}
	}
	fault.Point("stop.exited")
	if !s.OwnPidfile || o == nil || !o.Alive() {
		p.cleanStale(s)
	}
	if err := p.runStep(ctx, s, "post-stop", s.Env); err != nil {
		errs = append(errs, fmt.Errorf("post-stop failed: %w", err))
	}
	return old, errors.Join(errs...)
}
