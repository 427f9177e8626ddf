package proc

import (
	"bytes"
	"os"
	"strconv"

	"servicectl/internal/fsio"
)

// Usage is what the processes of one session use: CPU time so far (in
// clock ticks) and resident memory. A service's session is the one its
// launch made (§4.7), so this counts its helpers and children too, the
// way a cgroup would.
type Usage struct {
	Ticks uint64 // utime + stime of every live process of the session
	RSS   int64  // bytes
	Procs int
}

// ClockTicks is the kernel's USER_HZ, the unit of Usage.Ticks: 100 on
// every Linux servicectl runs on (sysconf(_SC_CLK_TCK) needs cgo).
const ClockTicks = 100

// SessionUsage reads /proc once and sums, per session leader in want,
// what its processes use. Sessions it cannot read are absent.
func SessionUsage(want map[int]bool) map[int]Usage {
	out := map[int]Usage{}
	ents, err := fsio.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name)
		if err != nil || pid <= 1 {
			continue
		}
		sid, one, ok := usageOf("/proc/" + e.Name + "/stat")
		if !ok || !want[sid] {
			continue
		}
		u := out[sid]
		u.Ticks += one.Ticks
		u.RSS += one.RSS
		u.Procs++
		out[sid] = u
	}
	return out
}

// SelfUsage is this process's own CPU ticks and resident memory.
func SelfUsage() Usage {
	_, u, _ := usageOf("/proc/self/stat")
	return u
}

// usageOf reads one /proc/PID/stat: session, CPU ticks, resident bytes.
func usageOf(path string) (sid int, u Usage, ok bool) {
	stat, err := fsio.ReadSnapshot(path)
	if err != nil {
		return 0, u, false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, u, false
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 22 {
		return 0, u, false
	}
	sid, _ = strconv.Atoi(string(f[3]))
	ut, _ := strconv.ParseUint(string(f[11]), 10, 64)
	st, _ := strconv.ParseUint(string(f[12]), 10, 64)
	rss, _ := strconv.ParseInt(string(f[21]), 10, 64)
	return sid, Usage{Ticks: ut + st, RSS: rss * int64(os.Getpagesize()), Procs: 1}, true
}
