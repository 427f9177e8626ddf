package pkgsvc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc/proc"
)

// Crash-safe launch (issue 15). Between the fork of a service and the
// writing of its pidfile and state, servicectl can be killed; the program
// then runs with nothing naming it, and the next start would run a second
// one. So a start first records its intent in NAME.launch — the argv[0] it
// will run and the launcher's own start time — and removes it once the
// state is written. The next start or stop, under the service's lock,
// finds a leftover intent, adopts the orphan it stands for and only then
// goes on. A file of its own, not the state file: the supervisor watches
// state files, and a start must not cost it an extra event.

// launchIntent is what NAME.launch holds.
type launchIntent struct {
	Argv0         string `json:"argv0"`
	LauncherStart uint64 `json:"launcher_start"`
}

func (p *Playpen) launchFile(s *Service) string { return filepath.Join(p.RunVar, s.Name+".launch") }

// recordLaunch writes the intent.
func (p *Playpen) recordLaunch(s *Service) error {
	self, err := selfStart()
	if err != nil {
		return err
	}
	data, _ := json.Marshal(launchIntent{Argv0: s.argv0s()[0], LauncherStart: self})
	return fsio.WriteAtomic(p.launchFile(s), data, 0o644, false)
}

// selfStart is servicectl's own start time, read once.
var selfStart = sync.OnceValues(func() (uint64, error) {
	info, err := proc.ReadStat(os.Getpid())
	return info.StartTime, err
})

// recoverLaunch adopts the process of a launch that a killed servicectl
// never recorded: one that leads its own session (every launch does),
// started no earlier than the launcher, and whose environment is this
// service's in this playpen (§4.7). What it runs does not matter: a
// wrapper may have exec'd its program since. Anything less is not taken
// for ours. With none found the intent and what it left are dropped.
func (p *Playpen) recoverLaunch(s *Service) error {
	data, err := fsio.ReadSnapshot(p.launchFile(s))
	if err != nil {
		return nil // no intent left: the usual case
	}
	var in launchIntent
	if json.Unmarshal(data, &in) != nil {
		os.Remove(p.launchFile(s))
		return nil
	}
	if st, err := readState(s.StateFile(p)); err == nil && st.Pid > 0 {
		// Killed after the state was written: nothing to adopt.
		os.Remove(p.launchFile(s))
		return nil
	}
	var found []int
	var infos []proc.Info
	consider := func(pid int) {
		info, err := proc.ReadStat(pid)
		if err != nil || info.Zombie || info.Sid != pid || info.StartTime < in.LauncherStart || !p.launchedAs(pid, s) {
			return
		}
		info.Argv0 = in.Argv0
		found = append(found, pid)
		infos = append(infos, info)
	}
	if pid, err := readPidfile(s.Pidfile(p)); err == nil && pid > 1 {
		// Written before the kill (the pidfile comes before the state;
		// a custom start writes it itself): the pid it names, if ours.
		consider(pid)
	} else {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 1 {
				consider(pid)
			}
		}
	}
	switch len(found) {
	case 0:
		p.cleanStale(s)
		return nil
	case 1:
		p.warn(s.Name, "adopting pid %d: a start that was killed launched it and did not record it", found[0])
		if err := writePidfile(s.Pidfile(p), found[0]); err != nil {
			return err
		}
		if err := writeState(s.StateFile(p), p.newState(s, found[0], infos[0], StartOptions{})); err != nil {
			return err
		}
		os.Remove(p.launchFile(s))
		return nil
	}
	return fmt.Errorf("a killed start left %d processes that look like this service's (%v): stop those that are not, then start again", len(found), found)
}

// claimStateless is the rule for a pidfile no state file backs (§4.7):
// the process is ours only when it leads its own session and carries
// this service's launch environment.
func (p *Playpen) claimStateless(s *Service, pid int) (*proc.Handle, error) {
	h, err := proc.Claim(pid, proc.Want{Leader: true})
	if err != nil {
		return nil, &proc.NotOurs{Why: fmt.Sprintf("the pidfile names pid %d and there is no state file: %v", pid, err)}
	}
	if !p.launchedAs(pid, s) {
		h.Close()
		return nil, &proc.NotOurs{Why: fmt.Sprintf("the pidfile names pid %d, but there is no state file and that process does not carry this service's SERVICE_NAME, SERVICE_INSTANCE and PLAYPEN_ROOT: servicectl did not start it", pid)}
	}
	return h, nil
}

// launchedAs says whether pid runs in s's service environment: its
// SERVICE_NAME, SERVICE_INSTANCE and PLAYPEN_ROOT are s's.
func (p *Playpen) launchedAs(pid int, s *Service) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := map[string]string{"SERVICE_NAME": s.Base, "SERVICE_INSTANCE": s.Instance, "PLAYPEN_ROOT": p.Root}
	seen := 0
	for _, kv := range bytes.Split(env, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if w, in := want[string(k)]; ok && in {
			if string(v) != w {
				return false
			}
			seen++
		}
	}
	return seen == len(want) || (s.Instance == "" && seen == len(want)-1)
}
