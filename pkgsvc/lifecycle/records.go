package lifecycle

import (
	"context"
	"servicectl/pkgsvc"
)

// MarkFailed records the supervisor's verdict (§9.2) under the service's
// lock, if the state file still names the dead pid: status then shows
// `failed` until a start.
func (p *Manager) MarkFailed(ctx context.Context, name string, pid, crashes int) error {
	s, err := p.Recorded(name)
	if err != nil {
		return err
	}
	unlock, err := p.lockCtx(ctx, s)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := pkgsvc.CurrentState(s.StateFile(p.Playpen), s.LockFile(p.Playpen))
	if err != nil || st.Pid != pid || st.Want == pkgsvc.WantDown {
		return ErrNotWanted
	}
	st.Failed, st.Crashes = true, crashes
	return pkgsvc.WriteState(s.StateFile(p.Playpen), st)
}
