package lifecycle

import (
	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
)

// Manager is a playpen's services in motion: it starts, stops, restarts
// and probes them (SPEC §4), where pkgsvc.Playpen only reads what they
// are. It embeds the playpen so a verb reads definitions as every other
// reader does; what only moving services needs — progress lines, the
// supervisor's liveness, the socket holder, the held state files — lives
// here.
type Manager struct {
	*pkgsvc.Playpen

	// Log receives progress lines (one per finished service); nil drops them.
	Log func(service, msg string)
	// Liveness, when set, answers whether pid (started at start, in
	// clock ticks) still runs as service name, from what the caller
	// already watches — the supervisor holds a pidfd on each service, so
	// its dashboard answers status without reading /proc. known false:
	// it does not know, and status reads /proc as usual.
	Liveness func(name string, pid int, start uint64) (alive, known bool)
	// Sockets, when set, holds services' bound sockets between their
	// processes (§4.11): the daemon's holder, or a command's client of
	// it. Nil: every launch binds its sockets afresh.
	Sockets SocketSource
	// Held, when set, keeps the state files and pidfiles status reads
	// open and parsed, re-reading one only when it was replaced: a
	// long-running caller (the daemon) answers the status of hundreds of
	// services with one fstatat each.
	Held *fsio.Held
}

// New is the lifecycle of p's services, with nothing held and no
// progress lines.
func New(p *pkgsvc.Playpen) *Manager { return &Manager{Playpen: p} }

// KeepFiles makes status answer from held state files and pidfiles (see
// Held): for a long-running caller, never a one-shot command.
func (p *Manager) KeepFiles() {
	if p.Held == nil {
		p.Held = &fsio.Held{}
	}
}

// Open is pkgsvc.Open with the lifecycle over the playpen: what a command
// that moves services opens.
func Open(opts pkgsvc.OpenOptions) (*Manager, error) {
	p, err := pkgsvc.Open(opts)
	if err != nil {
		return nil, err
	}
	return New(p), nil
}
