package main

import (
	"errors"

	"servicectl/pkgsvc"
)

// The exit codes of SPEC §11: the one place where the library's kinds of
// failure become numbers.
const (
	exitOK         = 0
	exitFailed     = 1
	exitUsage      = 2
	exitNotRunning = 3
	exitUnknown    = 4
	exitConfig     = 6
)

var kindExit = map[pkgsvc.Kind]int{
	pkgsvc.KindNone:       exitOK,
	pkgsvc.KindFailed:     exitFailed,
	pkgsvc.KindUsage:      exitUsage,
	pkgsvc.KindNotRunning: exitNotRunning,
	pkgsvc.KindUnknown:    exitUnknown,
	pkgsvc.KindConfig:     exitConfig,
}

// exitCode is the exit code for err: a program status it carries (a
// self-test's, §4.9), else its kind's code.
func exitCode(err error) int {
	var e *pkgsvc.Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	return kindExit[pkgsvc.KindOf(err)]
}

// worstExit folds several failures into one exit code, the most serious
// kind's (§4.8 order).
func worstExit(errs []error) int {
	var kinds []pkgsvc.Kind
	for _, err := range errs {
		kinds = append(kinds, pkgsvc.KindOf(err))
	}
	return kindExit[pkgsvc.Worst(kinds...)]
}
