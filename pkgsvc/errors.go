// Package pkgsvc is servicectl's model of a playpen: its packages and
// registries, service definitions and their resolution, the environment
// and typed variables, versions and dependencies, and the records
// (state files, pidfiles) earlier commands left (SPEC §1–§3, §6, §7). It
// never starts or signals a process, which is pkgsvc/lifecycle's (§4),
// nor edits the registries, which is pkgsvc/install's (§1.6); what it
// writes is the local override (`POST /api/env`) and a service's files
// copied from its package (for install, and scratch copies that validate
// a version before an upgrade). The upgrade engine (pkgsvc/upgrade, §8)
// builds on all three.
package pkgsvc

import (
	"errors"
	"fmt"
	"servicectl/pkgsvc/internal/fault"

	"servicectl/hooks"
)

// Kind is what sort of failure an error is. The library says what went
// wrong; each front end decides what that means to its caller: the
// command line maps a Kind to an exit code of SPEC §11, the supervisor's
// HTTP side to a status.
type Kind int

// The kinds of failure, in rising order of seriousness for Worst (SPEC
// §4.8: unknown, then config, then failed, then usage, then not running).
const (
	KindNone       Kind = iota // no failure
	KindNotRunning             // a service that is not running (status, ping)
	KindFailed                 // an operation failed: a start, a hook, a refused downgrade
	KindUsage                  // bad arguments or playpen: a bad name, a template without instance
	KindConfig                 // a configuration or environment that does not hold (exit 6)
	KindUnknown                // a name that is no service
)

// Error carries the kind of a failure and the service it is about, so a
// front end prints `servicectl: SERVICE: ...` and answers without
// guessing. Status, when set, is a program's own exit status that the
// command should pass on (a self-test that exits 5, §4.9).
type Error struct {
	Kind    Kind
	Service string
	Err     error
	Status  int
}

func (e *Error) Error() string {
	if e.Service != "" {
		return e.Service + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an error of a kind: the kind is what the command line
// maps to an exit code (SPEC §7), for pkgsvc and the packages built on it.
func Errorf(kind Kind, service, format string, args ...any) *Error {
	return &Error{Kind: kind, Service: service, Err: fmt.Errorf(format, args...)}
}

// Wrap gives err a kind and the service it concerns, keeping it for
// errors.Is and errors.As; nil stays nil, so a call can wrap a result
// without checking it first.
func Wrap(kind Kind, service string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		if pe.Service == "" && service != "" {
			return &Error{Kind: pe.Kind, Service: service, Err: pe.Err, Status: pe.Status}
		}
		return err
	}
	return &Error{Kind: kind, Service: service, Err: err}
}

// KindOf is the kind of err: its own when it carries one, else failed.
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return KindFailed
}

// Worst folds the kinds of several results into one: the most serious.
func Worst(kinds ...Kind) Kind {
	best := KindNone
	for _, k := range kinds {
		if k > best {
			best = k
		}
	}
	return best
}

// ExecTrampoline must be the first call of main: scripts that set umask
// or ulimit start their commands through the servicectl binary itself
// (hooks.Trampoline), and in such a process this call never returns.
func ExecTrampoline() { hooks.Trampoline() }

// FaultPoint is a place the reliability tests can kill servicectl at
// (SERVICECTL_TEST_KILL_AT, package fault), for the command line's own
// steps.
func FaultPoint(name string) { fault.Point(name) }
