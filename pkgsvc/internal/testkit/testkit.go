// Package testkit holds what the tests of pkgsvc's packages share: a
// buffer that a goroutine writes while a test reads it, and waiting on a
// condition with a deadline (never a bare sleep as synchronisation).
package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer safe for concurrent use (a logger, a process's
// output) that a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count is how many times s was written.
func (l *Buffer) Count(s string) int { return strings.Count(l.String(), s) }

// Has says whether s was written.
func (l *Buffer) Has(s string) bool { return strings.Contains(l.String(), s) }

// WaitFor polls cond every 10 ms until it holds, failing the test after
// 20 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Until polls cond every 10 ms until it returns nil, failing the test with
// its last reason after d.
func Until(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
