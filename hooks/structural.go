package hooks

import (
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Two errors that end a script in dash reach mvdan.cc/sh/v3 (v3.14.1)
// only as a message: (*Runner).expandErr prints an arithmetic error and
// goes on with 0, and (*Runner).setVar prints "NAME: readonly variable"
// and goes on with status 1. No error value or handler sees them, and a
// script that redirects its stderr (`exec 2>>log`) moves the message
// where servicectl cannot read it. So servicectl finds them by what they
// are, not by what upstream prints:
//
//   - a division or remainder by zero: conform gives every divisor a
//     guard, `X / ((Y) ? (Y) : $(servicectl-fatal …))`, so that a zero
//     divisor runs the internal builtin, which stops the script
//     (arithmeticPatches; Y is evaluated twice only when that has no
//     effect, else through a variable of servicectl's own);
//   - an assignment to a read-only variable: every assignment statement
//     becomes `{ NAME=… || servicectl-assign-failed NAME; }`; the
//     builtin runs only when the assignment's status is not 0, and
//     stops the script if NAME is read-only (the interpreter's own
//     attribute), else passes the status on (a failed command
//     substitution).

const (
	fatalNowCmd  = "servicectl-fatal"
	assignedCmd  = "servicectl-assign-failed"
	divisorScrap = "servicectl_divisor" // a divisor with side effects, evaluated once
)

// builtinFatalNow stops the run with the message given.
func (s *Session) builtinFatalNow(args []string) error {
	s.noteFatal(strings.Join(args, " "))
	return nil
}

// builtinAssignFailed: see above.
func (s *Session) builtinAssignFailed(hc interp.HandlerContext, args []string) error {
	for _, name := range args {
		if hc.Env.Get(name).ReadOnly {
			return s.scriptError(hc, name+": readonly variable (sh stops a script here)", ExitError(2))
		}
	}
	return exitCode(hc.LastExitStatus)
}

// arithmeticPatches guards divisors (see above).
func arithmeticPatches(f *syntax.File, src []byte) []patch {
	var ps []patch
	syntax.Walk(f, func(n syntax.Node) bool {
		b, ok := n.(*syntax.BinaryArithm)
		if !ok {
			return true
		}
		switch b.Op {
		case syntax.Quo, syntax.Rem, syntax.QuoAssgn, syntax.RemAssgn:
		default:
			return true
		}
		off, end := int(b.Y.Pos().Offset()), int(b.Y.End().Offset())
		if end > len(src) || off >= end {
			return true
		}
		y := string(src[off:end])
		fail := "$(" + fatalNowCmd + " division by zero)"
		if hasEffects(b.Y) {
			ps = append(ps, patch{off, off, "((" + divisorScrap + " = ("},
				patch{end, end, ")) ? " + divisorScrap + " : " + fail + ")"})
		} else {
			ps = append(ps, patch{off, off, "(("}, patch{end, end, ") ? (" + y + ") : " + fail + ")"})
		}
		return true
	})
	return ps
}

// hasEffects says whether evaluating x twice could differ from once.
func hasEffects(x syntax.Node) bool {
	found := false
	syntax.Walk(x, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.UnaryArithm:
			if n.Op == syntax.Inc || n.Op == syntax.Dec {
				found = true
			}
		case *syntax.BinaryArithm:
			switch n.Op {
			case syntax.Assgn, syntax.AddAssgn, syntax.SubAssgn, syntax.MulAssgn, syntax.QuoAssgn,
				syntax.RemAssgn, syntax.AndAssgn, syntax.OrAssgn, syntax.XorAssgn, syntax.ShlAssgn, syntax.ShrAssgn:
				found = true
			}
		case *syntax.CmdSubst, *syntax.ParamExp:
			if pe, ok := n.(*syntax.ParamExp); !ok || pe.Exp != nil {
				found = true
			}
		}
		return !found
	})
	return found
}

// assignPatches puts the check after every assignment statement (see
// above): NAME=… alone, and export, local and readonly with values.
func assignPatches(ps []patch, st *syntax.Stmt, src []byte) []patch {
	if st.Background || st.Coprocess || st.Negated || st.Cmd == nil {
		return ps
	}
	var names []string
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) > 0 {
			return ps
		}
		for _, a := range c.Assigns {
			if a.Name != nil {
				names = append(names, a.Name.Value)
			}
		}
	case *syntax.DeclClause:
		switch c.Variant.Value {
		case "export", "local", "readonly":
			for _, a := range c.Args {
				if a.Name != nil && (a.Value != nil || a.Array != nil) {
					names = append(names, a.Name.Value)
				}
			}
		}
	}
	if len(names) == 0 {
		return ps
	}
	off, end := int(st.Pos().Offset()), stmtEnd(st)
	if end > len(src) {
		return ps
	}
	return append(ps, patch{off, off, "{ "}, patch{end, end, " || " + assignedCmd + " " + strings.Join(names, " ") + "; }"})
}
