// Package fault kills servicectl at a named point of its work, for the
// reliability tests (issue 15, docs/RELIABILITY.md): with
// SERVICECTL_TEST_KILL_AT=POINT in the environment, the process sends
// itself SIGKILL when it reaches POINT (POINT#N: the Nth time). It stands
// for a crash, an OOM kill or a power cut of servicectl there: nothing
// after it runs, no deferred cleanup. Unset, a point costs one comparison.
package fault

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

var (
	at    = os.Getenv("SERVICECTL_TEST_KILL_AT")
	point string
	nth   int64 = 1
	hits  atomic.Int64
)

func init() {
	point = at
	if name, n, ok := strings.Cut(at, "#"); ok {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v > 0 {
			point, nth = name, v
		}
	}
}

// Point is a place servicectl can be killed at in the tests. The names are
// listed in docs/RELIABILITY.md.
func Point(name string) {
	if point == "" || name != point {
		return
	}
	if hits.Add(1) == nth {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is not caught; never go on past the point
	}
}
