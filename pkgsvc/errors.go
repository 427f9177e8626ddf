// Package pkgsvc is servicectl's model of a playpen: packages, service
// definitions, their environment, their lifecycle and the upgrade
// policies (SPEC §1–§4, §7, §8). Resolving and planning are pure; applying
// is a thin layer that starts, signals and records processes.
package pkgsvc

import (
	"errors"
	"fmt"

	"servicectl/hooks"
)

// Exit codes of SPEC §11, chosen once here and mapped by the command line.
const (
	ExitOK         = 0
	ExitFailed     = 1
	ExitUsage      = 2
	ExitNotRunning = 3
	ExitUnknown    = 4
	ExitConfig     = 6
)

// Error carries the exit code a failure stands for and the service it is
// about, so the command line prints `servicectl: SERVICE: ...` and exits
// with the right code without guessing.
type Error struct {
	Code    int
	Service string
	Err     error
}

func (e *Error) Error() string {
	if e.Service != "" {
		return e.Service + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func errf(code int, service, format string, args ...any) *Error {
	return &Error{Code: code, Service: service, Err: fmt.Errorf(format, args...)}
}

func wrap(code int, service string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		if pe.Service == "" && service != "" {
			return &Error{Code: pe.Code, Service: service, Err: pe.Err}
		}
		return err
	}
	return &Error{Code: code, Service: service, Err: err}
}

// Code is the exit code for err: its own when it carries one, else 1.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ExitFailed
}

// WorstCode folds several results into one exit code: the most serious by
// the order of SPEC §4.8 (unknown, then config, then failed, then usage,
// then not running).
func WorstCode(codes ...int) int {
	rank := map[int]int{ExitOK: 0, ExitNotRunning: 1, ExitFailed: 2, ExitUsage: 3, ExitConfig: 4, ExitUnknown: 5}
	best := ExitOK
	for _, c := range codes {
		if rank[c] > rank[best] {
			best = c
		}
	}
	return best
}

// ExecTrampoline must be the first call of main: scripts that set umask
// or ulimit start their commands through the servicectl binary itself
// (hooks.Trampoline), and in such a process this call never returns.
func ExecTrampoline() { hooks.Trampoline() }
