package pkgsvc

import (
	"fmt"
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

// FormatUptime is how status and the dashboard show how long a service
// has run: 42s, 3m07s, 5h12m, 3d.
func FormatUptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
