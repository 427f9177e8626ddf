// Command servicectl manages the services of a playpen (see SPEC.md and
// the README). This package only parses flags, calls pkgsvc and prints;
// exit codes are chosen in one place, exitCode.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
