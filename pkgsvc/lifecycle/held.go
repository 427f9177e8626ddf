package lifecycle

import (
	"errors"
	"io/fs"
	"maps"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
)

// heldState is pkgsvc.ReadState through p.Held when the caller keeps one. The
// copy it returns is the caller's: its maps are its own.
func (p *Manager) heldState(path string) (*pkgsvc.State, error) {
	if p.Held == nil {
		return pkgsvc.ReadState(path)
	}
	v, err := p.Held.Load(path, func(data []byte) (any, error) { return pkgsvc.ParseState(path, data) })
	if err != nil {
		return nil, err
	}
	st := *v.(*pkgsvc.State)
	st.Deps, st.Ports = maps.Clone(st.Deps), maps.Clone(st.Ports)
	return &st, nil
}

// heldPidfile is pkgsvc.ReadPidfile through p.Held when the caller keeps one.
func (p *Manager) heldPidfile(path string) (int, error) {
	if p.Held == nil {
		return pkgsvc.ReadPidfile(path)
	}
	v, err := p.Held.Load(path, func(data []byte) (any, error) { return pkgsvc.ParsePidfile(path, data) })
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return -1, err
	}
	return v.(int), nil
}

// Identity is what a claim of the state's pid checks (§4.7): the
// Recorded start time and session.
func Identity(st *pkgsvc.State) proc.Want {
	return proc.Want{StartTime: st.StartTime, Sid: st.Sid}
}
