package hooks

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// getopts as dash has it. mvdan.cc/sh/v3 (v3.14.1) follows bash: OPTIND
// stays on a word of grouped options until its last (`getopts ab o -ab`
// leaves OPTIND 1, dash 2), OPTARG is unset after an option without an
// argument (dash: empty), and `--` leaves OPTIND on itself (dash: past
// it). servicectl runs its own, under an internal name; conform gives a
// call without operands "$@", the positional parameters of the function
// or script it is in, which a handler cannot see.

const getoptsCmd = "servicectl-builtin-getopts"

// optState is where getopts is within a word of grouped options: the
// OPTIND it last set and the offset in the word before it.
type optState struct {
	optind int // OPTIND as getopts set it; another value means a restart
	off    int // offset of the next option letter in args[optind-2]; 0: none
}

// builtinGetopts is `getopts OPTSTRING NAME ARG...`.
func (s *Session) builtinGetopts(ctx context.Context, hc interp.HandlerContext, args []string) error {
	if len(args) < 2 {
		fmt.Fprintln(hc.Stderr, "getopts: usage: getopts optstring var [arg]")
		return exitCode(2)
	}
	optstr, name, argv := args[0], args[1], args[2:]
	if !syntax.ValidName(name) {
		fmt.Fprintf(hc.Stderr, "getopts: %s: bad variable name\n", name)
		return exitCode(2)
	}
	optind, _ := strconv.Atoi(hc.Env.Get("OPTIND").String())
	s.mu.Lock()
	st := s.opts
	s.mu.Unlock()
	if optind != st.optind || optind < 1 {
		st = optState{}
		if optind < 1 {
			optind = 1
		}
	}
	c, optarg, hasArg, done := nextOpt(hc, optstr, argv, &optind, &st.off)
	st.optind = optind
	s.mu.Lock()
	s.opts = st
	s.mu.Unlock()
	assign := [][2]string{{name, string(c)}, {"OPTIND", strconv.Itoa(optind)}}
	if hasArg {
		assign = append(assign, [2]string{"OPTARG", optarg})
	}
	if err := setShellVars(ctx, hc, assign, !hasArg && !done); err != nil {
		return err
	}
	if done {
		return exitCode(1)
	}
	return nil
}

// nextOpt steps through argv as dash's getopts does; hasArg says whether
// OPTARG gets a value (else it is unset).
func nextOpt(hc interp.HandlerContext, optstr string, argv []string, optind, off *int) (c byte, optarg string, hasArg, done bool) {
	word := ""
	if *off > 0 && *optind >= 2 && *optind-2 < len(argv) && *off < len(argv[*optind-2]) {
		word = argv[*optind-2][*off:]
	} else {
		*off = 0
		if *optind-1 >= len(argv) {
			return '?', "", false, true
		}
		w := argv[*optind-1]
		if len(w) < 2 || w[0] != '-' {
			return '?', "", false, true
		}
		*optind++
		if w == "--" {
			return '?', "", false, true
		}
		word, *off = w[1:], 1
	}
	c = word[0]
	*off++
	silent := strings.HasPrefix(optstr, ":")
	i := strings.IndexByte(strings.TrimPrefix(optstr, ":"), c)
	if i < 0 || c == ':' {
		if silent {
			return '?', string(c), true, false
		}
		fmt.Fprintf(hc.Stderr, "Illegal option -%c\n", c)
		return '?', "", false, false
	}
	spec := strings.TrimPrefix(optstr, ":")
	if i+1 >= len(spec) || spec[i+1] != ':' {
		return c, "", true, false // dash sets OPTARG to ""
	}
	if len(word) > 1 { // -avalue
		*off = 0
		return c, word[1:], true, false
	}
	*off = 0
	if *optind-1 >= len(argv) {
		if silent {
			return ':', string(c), true, false
		}
		fmt.Fprintf(hc.Stderr, "No arg for -%c option\n", c)
		return '?', "", false, false
	}
	optarg = argv[*optind-1]
	*optind++
	return c, optarg, true, false
}

// setShellVars assigns shell variables from a handler, which the
// interpreter offers no call for: through its eval, each name checked
// and each value in single quotes (any byte but ' stands for itself
// there; ' is written '"'"'), as `trap` and `export -p` print what sh
// reads back. unsetOptarg adds `unset OPTARG`.
func setShellVars(ctx context.Context, hc interp.HandlerContext, assign [][2]string, unsetOptarg bool) error {
	var b strings.Builder
	for _, kv := range assign {
		if !syntax.ValidName(kv[0]) {
			return fmt.Errorf("%s: bad variable name", kv[0])
		}
		b.WriteString(kv[0] + "=" + dashQuote(kv[1]) + " ")
	}
	code := strings.TrimSpace(b.String())
	if unsetOptarg {
		code += "; unset OPTARG"
	}
	return hc.Builtin(ctx, []string{"eval", code})
}

// getoptsPatches gives `getopts OPTSTRING NAME` its operands, "$@" (see
// above).
func getoptsPatches(ps []patch, call *syntax.CallExpr) []patch {
	if len(call.Args) != 3 || call.Args[0].Lit() != "getopts" {
		return ps
	}
	end := int(call.End().Offset())
	return append(ps, patch{end, end, ` "$@"`})
}
