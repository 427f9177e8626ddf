package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/proc"
)

// Crash-safe launch (issue 15). Between the fork of a service and the
// writing of its pidfile and state, servicectl can be killed; the program
// then runs with nothing naming it, and the next start would run a second
// one. So a start first records its intent — the argv[0] it will run and
// the launcher's own start time — in the service's lock file, which it
// holds locked, and empties it once the state is written. The next start
// or stop, under the same lock, finds a leftover intent, adopts the
// orphan it stands for and only then goes on. The lock file, not a file
// of its own: it exists already, so recording and clearing the intent
// allocate no inode and rename nothing (a file created and removed per
// start was a quarter of a cold start of 200 services on ext4); not the
// state file: the supervisor watches state files, and a start must not
// cost it an extra event.

// markStopping records, in the lock file the caller holds, that a stop
// of pid is under way (before any signal). No file is made or renamed:
// a stop of 200 services spent 40% of its time writing 200 state files
// only to say this.
func (p *Manager) markStopping(s *pkgsvc.Service, pid int) {
	data, _ := json.Marshal(pkgsvc.LaunchIntent{StopPid: pid})
	fsio.Rewrite(s.LockFile(p.Playpen), append(data, '\n'))
}

// recordLaunch writes the intent into the lock file the caller holds.
func (p *Manager) recordLaunch(s *pkgsvc.Service) error {
	self, err := selfStart()
	if err != nil {
		return err
	}
	data, _ := json.Marshal(pkgsvc.LaunchIntent{Argv0: argv0s(s)[0], LauncherStart: self})
	return fsio.Rewrite(s.LockFile(p.Playpen), append(data, '\n'))
}

// clearLaunch says the launch is recorded (or never happened).
func (p *Manager) clearLaunch(s *pkgsvc.Service) { fsio.TruncateFile(s.LockFile(p.Playpen)) }

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
func (p *Manager) recoverLaunch(s *pkgsvc.Service) error {
	data, err := fsio.ReadRegular(s.LockFile(p.Playpen))
	if err != nil || len(data) == 0 {
		return nil // no intent left: the usual case
	}
	var in pkgsvc.LaunchIntent
	if json.Unmarshal(data, &in) != nil || in.StopPid != 0 || in.LauncherStart == 0 {
		// Torn by a kill mid-write (no launch followed it), or what a
		// killed stop left: nothing to adopt.
		p.clearLaunch(s)
		return nil
	}
	if st, err := pkgsvc.ReadState(s.StateFile(p.Playpen)); err == nil && st.Pid > 0 {
		// Killed after the state was written: nothing to adopt.
		p.clearLaunch(s)
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
	if pid, err := pkgsvc.ReadPidfile(s.Pidfile(p.Playpen)); err == nil && pid > 1 {
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
		p.Warnf(s.Name, "adopting pid %d: a start that was killed launched it and did not record it", found[0])
		if err := pkgsvc.WritePidfile(s.Pidfile(p.Playpen), found[0]); err != nil {
			return err
		}
		if err := pkgsvc.WriteState(s.StateFile(p.Playpen), p.newState(s, found[0], infos[0], StartOptions{})); err != nil {
			return err
		}
		p.clearLaunch(s)
		return nil
	}
	return fmt.Errorf("a killed start left %d processes that look like this service's (%v): stop those that are not, then start again", len(found), found)
}

// claimStateless is the rule for a pidfile no state file backs (§4.7):
// the process is ours only when it leads its own session and carries
// this service's launch environment.
func (p *Manager) claimStateless(s *pkgsvc.Service, pid int) (*proc.Handle, error) {
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
func (p *Manager) launchedAs(pid int, s *pkgsvc.Service) bool {
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
