package lifecycle

// The lifecycle of SPEC §4, one file per verb: locks.go (the per-service
// lock), probe.go (is it running: §4.7, §4.8), start.go (§4.3), spawn.go
// (the process itself: exec, credentials, the start watch), stop.go
// (§4.5), restart.go (§4.6, reload), steps.go (ping, test, hook steps,
// rendering), records.go (states recorded by earlier commands).
