package pkgsvc

import (
	"strconv"
	"time"
)

// Exit is how a supervised process ended, as the daemon saw it (SPEC
// §9.4, `last_exit`). Code or Signal when the daemon was its parent (it
// revived it); a process a command started was reparented when the
// command exited, and only a parent learns an exit status: then Why says
// so and At is when the daemon saw the end.
type Exit struct {
	At     time.Time `json:"at"`
	Code   *int      `json:"code,omitempty"`
	Signal string    `json:"signal,omitempty"`
	Why    string    `json:"why,omitempty"`
	// Asked says a stop was asked for (not a crash).
	Asked bool `json:"asked"`
}

// Health is a service's latest liveness check (SPEC §9.4, `health`): its
// last service_ping when the daemon pings it, else the pid check.
type Health struct {
	OK     bool      `json:"ok"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail"`
}

// String is how a log line says it: "code 3", "signal KILL" or "unknown".
func (e *Exit) String() string {
	switch {
	case e.Signal != "":
		return "signal " + e.Signal
	case e.Code != nil:
		return "code " + strconv.Itoa(*e.Code)
	}
	return "unknown"
}
