// Command servicectl manages the services of a playpen (see SPEC.md and
// the README). This package only parses flags, calls pkgsvc and prints;
// exit codes are chosen in one place, exitCode.
package main

import (
	"os"
	"runtime/debug"

	"servicectl/pkgsvc"
)

// cliMemoryLimit bounds the heap of one command, for which the collector
// is otherwise off (see main).
const cliMemoryLimit = 256 << 20

func main() {
	pkgsvc.ExecTrampoline() // first: a trampoline process never returns
	// A command lives for milliseconds: resolving a thousand services
	// allocates some 60 MiB, and on two cores collecting it costs a third
	// of the wall time. So the collector only runs if the heap nears
	// cliMemoryLimit. GOGC or GOMEMLIMIT in the environment still win; a
	// long-running mode (the supervisor) must restore the defaults.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(cliMemoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
