// Package lifecycle moves a playpen's services (SPEC §4): it starts,
// stops, restarts, probes and logs them, where package pkgsvc only reads
// what they are. A Manager wraps one pkgsvc.Playpen; the command line,
// the supervisor, the dashboard and the upgrade engine all move services
// through it, so an upgrade stops and starts exactly as `stop` and
// `start` do.
//
// One file per verb: locks.go (the per-service lock, §4.10), probe.go (is
// it running: §4.7, §4.8), start.go (§4.3), spawn.go (the process itself:
// exec, credentials, the start watch), launch.go (the launch intent kept
// in the lock file), stop.go (§4.5), restart.go (§4.6, reload), steps.go
// (ping, test, hook steps, rendering), health.go (the upgrade's health
// gate), order.go (many services in dependency order, §4.1), run.go
// (`run` and `hook` for other engines, §10), sockets.go (binding and
// handing on sockets, §4.11), logs.go, held.go (state files kept open by
// the daemon), records.go (a failed verdict).
package lifecycle
