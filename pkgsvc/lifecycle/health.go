package lifecycle

import (
	"context"
	"servicectl/pkgsvc"
	"time"
)

// The health check of an upgrade's gate (issue 16, pkgsvc/upgrade): a
// service an upgrade started or restarted must pass it in time.

// AwaitHealthy waits until s passes its health check, for at most
// s.HealthTimeout: service_ping until it succeeds, or the pid check (a
// process that is gone fails at once: there is nothing to wait for).
func (p *Manager) AwaitHealthy(ctx context.Context, s *pkgsvc.Service) error {
	gate := s.HealthGate()
	timeout := time.Duration(s.HealthTimeout * float64(time.Second))
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	var last error // the last check that ran to its end
	for {
		var err error
		if gate == pkgsvc.GatePing {
			cctx, cancel := context.WithDeadline(ctx, deadline)
			err = p.runStep(cctx, s, "ping", s.Env)
			if err != nil && (cctx.Err() == nil || last == nil) {
				last = err
			}
			cancel()
		} else {
			st, o := p.probe(ctx, s)
			if o != nil {
				o.Close()
			} else {
				return pkgsvc.Errorf(pkgsvc.KindFailed, s.Name, "failed its health check (%s): it is %s", gate, st.State)
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return pkgsvc.Errorf(pkgsvc.KindFailed, s.Name, "failed its health check (%s) for %gs (service_health_timeout); the last check: %v", gate, s.HealthTimeout, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(wait, time.Until(deadline))):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}
