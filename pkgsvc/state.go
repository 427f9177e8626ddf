package pkgsvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"servicectl/internal/fsio"
	"strconv"
	"strings"
	"time"
)

// State is servicectl's own record of a started service (SPEC §1.3): what
// lets a later command prove a pid is still ours (§4.7) and tell whether
// it runs stale code (§8.5).
type State struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	// Sid is the session the process was launched in: its own pid for a
	// `start` (setsid), the inherited one for `run`. With StartTime it
	// is the process's identity (§4.7); exec changes neither.
	Sid int `json:"sid,omitempty"`
	// Argv0 is what servicectl executed (the linkfarm path): shown, and
	// the own-pidfile rule's witness; never the identity of the process.
	Argv0     string            `json:"argv0"`
	RunName   string            `json:"run_name,omitempty"`
	Package   string            `json:"package,omitempty"`
	Version   string            `json:"version"`
	StartedAt time.Time         `json:"started_at"`
	Restarts  int               `json:"restarts"`
	Upgraded  bool              `json:"upgraded"`
	Deps      map[string]string `json:"deps,omitempty"` // package → version it was started with
	NoPidfile bool              `json:"no_pidfile,omitempty"`
	// How to stop it, recorded at start: a running service whose config
	// no longer evaluates is still stopped as it was started (§4.4).
	StopSignal  string  `json:"stop_signal,omitempty"`
	StopTimeout float64 `json:"stop_timeout,omitempty"`
	OwnPidfile  bool    `json:"own_pidfile,omitempty"`
	// Want is the user's intent: "up" from a start, "down" written by a
	// stop before it signals, so whoever sees the process die (the
	// supervisor) tells a requested stop from a crash without guessing.
	Want string `json:"want,omitempty"`
	// Failed is the supervisor's verdict (§9.2): it gave up restarting
	// the service after Crashes crashes; status shows `failed` until a
	// start.
	Failed  bool `json:"failed,omitempty"`
	Crashes int  `json:"crashes,omitempty"`
	// Ports are the service's port variables as it was started with
	// (§6.4): what a later start checks for a clash without evaluating
	// this service's config again.
	Ports map[string]string `json:"ports,omitempty"`
	// Engine is set by `run`: another supervisor (systemd, supervisord,
	// Nomad) owns the process's life, so its end is that engine's stop or
	// the program's exit, not a crash of servicectl's: status shows it
	// stopped, not dead.
	Engine bool `json:"engine,omitempty"`
	// Sockets are the sockets it was handed (§4.11): a daemon started
	// later takes them from the process to hold them.
	Sockets []Socket `json:"sockets,omitempty"`
}

// Intents of State.Want.
const (
	WantUp   = "up"
	WantDown = "down"
)

// ReadState reads a state file (§4.9) without following a link: a
// replaced file is read whole or not at all.
func ReadState(path string) (*State, error) {
	data, err := fsio.ReadSnapshot(path)
	if err != nil {
		return nil, err
	}
	return ParseState(path, data)
}

// ParseState is ReadState for bytes already read (the daemon keeps its
// state files open; see fsio.Held); path names the file in errors.
func ParseState(path string, data []byte) (*State, error) {
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: corrupt state file: %v", path, err)
	}
	return &st, nil
}

// WriteState replaces a state file atomically, never in place: a reader
// sees the old record or the new, never half of one.
func WriteState(path string, st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return fsio.WriteAtomic(path, append(data, '\n'), 0o644, false)
}

// ReadPidfile returns the pid, or 0 and nil when there is no pidfile.
// Garbage is an error that the caller treats as a stale pidfile.
func ReadPidfile(path string) (int, error) {
	data, err := fsio.ReadSnapshot(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return ParsePidfile(path, data)
}

// ParsePidfile is ReadPidfile for bytes already read; path names the
// file in errors.
func ParsePidfile(path string, data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		if len(s) > 20 {
			s = s[:20] + "..."
		}
		return -1, fmt.Errorf("%s holds %q, not a pid", path, s)
	}
	return pid, nil
}

// WritePidfile replaces a pidfile atomically (§4.7): a reader never sees
// an empty or partial pid.
func WritePidfile(path string, pid int) error {
	return fsio.WriteAtomic(path, []byte(strconv.Itoa(pid)+"\n"), 0o644, false)
}

// recordedState is every service's state file as this command first
// read them: the run names and ports that running services hold, which
// start checks a new service against without evaluating their configs
// (§4.2, §6.4). Read once per command (snapshot): a start of 1,000
// services must not read 1,000 state files for each. Services started by
// the same command are checked among themselves (StartMany).
func (p *Playpen) recordedState() map[string]*State {
	sn := p.c()
	p.mu.Lock()
	m := sn.runState
	p.mu.Unlock()
	if m != nil {
		return m
	}
	m = map[string]*State{}
	names, _ := p.StateNames()
	for _, n := range names {
		if st, err := ReadState(filepath.Join(p.RunVar, n+".state")); err == nil && st.Want != WantDown {
			m[n] = st
		}
	}
	p.mu.Lock()
	if sn.runState == nil {
		sn.runState = m
	}
	m = sn.runState
	p.mu.Unlock()
	return m
}

// Service states of SPEC §4.8.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	StateDead    = "dead"
	StateFailed  = "failed"
)

// LaunchIntent is what the lock file holds while its holder works: a
// launch between fork and record (Argv0, LauncherStart), or a stop under
// way (StopPid: the pid it is stopping, written before the first signal,
// so that the supervisor never takes the death for a crash; see
// CurrentState). Empty between commands.
type LaunchIntent struct {
	Argv0         string `json:"argv0,omitempty"`
	LauncherStart uint64 `json:"launcher_start,omitempty"`
	StopPid       int    `json:"stop_pid,omitempty"`
}

// CurrentState is a service's state file as the supervisor must see it: with
// Want down while a stop of its pid is under way. The lock file is read
// first: a stop removes the state file before it empties the lock file,
// so no order of events reads an old state with an emptied record.
func CurrentState(stateFile, lockFile string) (*State, error) {
	var in LaunchIntent
	if data, err := fsio.ReadRegular(lockFile); err == nil && len(data) > 0 {
		json.Unmarshal(data, &in) // torn or empty: no stop under way
	}
	st, err := ReadState(stateFile)
	if err == nil && in.StopPid != 0 && in.StopPid == st.Pid {
		st.Want = WantDown
	}
	return st, err
}
