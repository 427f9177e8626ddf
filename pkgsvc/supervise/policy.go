package supervise

import "time"

// The timings of SPEC §9.2 and §12.
const (
	steadyRun    = time.Second // a run this long resets the backoff: restart at once
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
	crashWindow  = 60 * time.Second // more than maxCrashes crashes in it: failed
	maxCrashes   = 5
)

// Tracker is the restart policy of §9.2 for one service, with no clock
// of its own and no I/O: told when a run started and when it ended, it
// says how long to wait before the next start, or that the service has
// failed. runit restarts at once after a run of a second or more; below
// that the wait doubles from 100 ms up to 30 s; the sixth crash within
// 60 s gives up. (Nomad's client keeps a restart tracker of the same
// shape; this one is ours.)
type Tracker struct {
	crashes []time.Time // within crashWindow of the latest
	backoff time.Duration
}

// Verdict is what to do after a crash.
type Verdict struct {
	Delay   time.Duration // before the next start; 0: at once
	Failed  bool          // give up: status `failed` until a start
	Crashes int           // crashes counted within the window, this one included
}

// Crash records a run from started to died and decides.
func (t *Tracker) Crash(started, died time.Time) Verdict {
	recent := t.crashes[:0]
	for _, c := range t.crashes {
		if died.Sub(c) < crashWindow {
			recent = append(recent, c)
		}
	}
	t.crashes = append(recent, died)
	v := Verdict{Crashes: len(t.crashes)}
	if died.Sub(started) >= steadyRun {
		t.backoff = 0
	} else {
		if t.backoff == 0 {
			t.backoff = firstBackoff
		} else {
			t.backoff = min(2*t.backoff, maxBackoff)
		}
		v.Delay = t.backoff
	}
	v.Failed = v.Crashes > maxCrashes
	return v
}

// Reset forgets the history: a start by the user after `failed`.
func (t *Tracker) Reset() { t.crashes, t.backoff = nil, 0 }
