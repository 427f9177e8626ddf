package pkgsvc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"

	"servicectl/pkgsvc/proc"
)

// Crash-safe launch (issue 15). Between the fork of a service and the
// writing of its pidfile, servicectl can be killed; the program then runs
// with nothing naming it, and the next start would run a second one. So a
// start first records its intent — a state file with no pid that says a
// launch is under way, and the launcher's own start time — and the next
// start or stop, under the service's lock, looks for the orphan and
// adopts it before doing anything else.

// recordLaunch writes the intent; the state the start writes next
// replaces it.
func (p *Playpen) recordLaunch(s *Service) error {
	self, err := selfStart()
	if err != nil {
		return err
	}
	return writeState(s.StateFile(p), &State{Launching: true, LauncherStart: self, Argv0: s.argv0s()[0],
		RunName: s.RunName, Package: s.Package, Version: s.Version, Want: WantUp})
}

// selfStart is servicectl's own start time, read once.
var selfStart = sync.OnceValues(func() (uint64, error) {
	info, err := proc.ReadStat(os.Getpid())
	return info.StartTime, err
})

// recoverLaunch adopts the process of a launch that a killed servicectl
// never recorded: the one run through the service's argv[0] as a session
// leader (every service is), started no earlier than the launcher, whose
// environment is this service's in this playpen. Anything less is not
// taken for ours. With none found the intent is dropped.
func (p *Playpen) recoverLaunch(s *Service) error {
	st, err := readState(s.StateFile(p))
	if err != nil || !st.Launching {
		return nil
	}
	var found []int
	var infos []proc.Info
	consider := func(pid int, argv0 bool) {
		info, err := proc.Read(pid)
		if err != nil || info.Zombie || argv0 && info.Argv0 != st.Argv0 || info.StartTime < st.LauncherStart || !p.launchedAs(pid, s) {
			return
		}
		found = append(found, pid)
		infos = append(infos, info)
	}
	if pid, err := readPidfile(s.Pidfile(p)); err == nil && pid > 1 {
		// Written before the kill (the pidfile comes before the state;
		// a custom start writes it itself): the pid it names, if ours.
		consider(pid, s.Hooks["start"].Empty())
	} else {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 1 {
				consider(pid, true)
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
		ns := p.newState(s, found[0], infos[0], StartOptions{})
		return writeState(s.StateFile(p), ns)
	}
	return fmt.Errorf("a killed start left %d processes that look like this service's (%v): stop those that are not, then start again", len(found), found)
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
