package supervise

import (
	"testing"
	"time"
)

// TestTrackerTable (§9.2, §12): the restart policy over an injected
// clock, in microseconds: at once after a steady run, a doubling backoff
// after short ones, capped at 30 s, reset by a steady run, and failed at
// the sixth crash within 60 s — not when the crashes are spread out.
func TestTrackerTable(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type run struct{ ran, gap time.Duration } // how long it ran; the gap after its death until the next start
	cases := []struct {
		name   string
		runs   []run
		delays []time.Duration
		failed []bool
	}{
		{"steady runs restart at once", []run{{2 * time.Second, 0}, {time.Second, 0}, {90 * time.Second, 0}},
			[]time.Duration{0, 0, 0}, []bool{false, false, false}},
		{"short runs back off, doubling", []run{{200 * time.Millisecond, 100 * time.Millisecond}, {200 * time.Millisecond, 200 * time.Millisecond}, {200 * time.Millisecond, 400 * time.Millisecond}},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, []bool{false, false, false}},
		{"the sixth crash within 60 s fails",
			[]run{{200 * time.Millisecond, 100 * time.Millisecond}, {200 * time.Millisecond, 200 * time.Millisecond}, {200 * time.Millisecond, 400 * time.Millisecond}, {200 * time.Millisecond, 800 * time.Millisecond}, {200 * time.Millisecond, 1600 * time.Millisecond}, {200 * time.Millisecond, 0}},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond},
			[]bool{false, false, false, false, false, true}},
		{"a steady run resets the backoff", []run{{100 * time.Millisecond, 100 * time.Millisecond}, {100 * time.Millisecond, 200 * time.Millisecond}, {5 * time.Second, 0}, {100 * time.Millisecond, 0}},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 0, 100 * time.Millisecond}, []bool{false, false, false, false}},
		{"crashes spread over more than 60 s never fail", []run{{20 * time.Second, 0}, {20 * time.Second, 0}, {20 * time.Second, 0}, {20 * time.Second, 0}, {20 * time.Second, 0}, {20 * time.Second, 0}, {20 * time.Second, 0}},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0}, []bool{false, false, false, false, false, false, false}},
		{"the backoff stops at 30 s", []run{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}, []bool{false, false, false, false, false}},
	}
	for _, c := range cases {
		var tr Tracker
		now := t0
		for i, r := range c.runs {
			started := now
			now = now.Add(r.ran)
			v := tr.Crash(started, now)
			if v.Delay != c.delays[i] || v.Failed != c.failed[i] {
				t.Errorf("%s, crash %d: %+v, want delay %v failed %v", c.name, i+1, v, c.delays[i], c.failed[i])
			}
			now = now.Add(v.Delay + r.gap)
		}
	}
	var tr Tracker
	for i := 0; i < 12; i++ {
		tr.Crash(t0, t0)
	}
	if v := tr.Crash(t0, t0); v.Delay != maxBackoff {
		t.Errorf("after many short runs: %v, want the 30 s cap", v.Delay)
	}
	tr.Reset()
	if v := tr.Crash(t0, t0); v.Delay != firstBackoff || v.Failed {
		t.Errorf("after Reset: %+v", v)
	}
}
