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
//     (divisorPatch; Y is evaluated twice only when that has no
//     effect, else through a variable of servicectl's own);
//   - an assignment to a read-only variable: every assignment statement
//     becomes `NAME=… || servicectl-assign-failed NAME`; the
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

// divisorPatch guards a divisor (see above).
func divisorPatch(ps []patch, b *syntax.BinaryArithm, src []byte) []patch {
	switch b.Op {
	case syntax.Quo, syntax.Rem, syntax.QuoAssgn, syntax.RemAssgn:
	default:
		return ps
	}
	off, end := int(b.Y.Pos().Offset()), int(b.Y.End().Offset())
	if end > len(src) || off >= end {
		return ps
	}
	fail := "$(" + fatalNowCmd + " division by zero)"
	if hasEffects(b.Y) {
		return append(ps, patch{off, off, "((" + divisorScrap + " = ("},
			patch{end, end, ")) ? " + divisorScrap + " : " + fail + ")"})
	}
	return append(ps, patch{off, off, "(("}, patch{end, end, ") ? (" + string(src[off:end]) + ") : " + fail + ")"})
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

// guardAssignments gives every assignment statement its check (see
// above) in the parsed tree itself, `NAME=… || servicectl-assign-failed
// NAME`, and returns the text so guarded. Nearly every config assigns,
// and few ever see `readonly`: a file is guarded when it has the word,
// and the files a session runs after one that had it (conformed.guarded).
// The added command carries the statement's position, for the error's
// line.
func guardAssignments(f *syntax.File, src []byte) (text []byte) {
	var gs []guard
	syntax.Walk(f, func(n syntax.Node) bool {
		if st, ok := n.(*syntax.Stmt); ok {
			if names := assignedNames(st); len(names) > 0 {
				gs = append(gs, guard{st, int(st.Pos().Offset()), stmtEnd(st), names})
			}
		}
		return true
	})
	for _, g := range gs {
		pos := g.st.Pos()
		args := []*syntax.Word{litWord(assignedCmd, pos)}
		for _, n := range g.names {
			args = append(args, litWord(n, pos))
		}
		orig := &syntax.Stmt{Position: pos, Cmd: g.st.Cmd}
		check := &syntax.Stmt{Position: pos, Cmd: &syntax.CallExpr{Args: args}}
		g.st.Cmd = &syntax.BinaryCmd{Op: syntax.OrStmt, OpPos: pos, X: orig, Y: check}
	}
	return guardText(gs, src)
}

// guard is one assignment statement guarded, and where its text is.
type guard struct {
	st       *syntax.Stmt
	off, end int
	names    []string
}

func litWord(s string, pos syntax.Pos) *syntax.Word {
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: s}}}
}

// assignedNames are the variables an assignment statement sets: NAME=…
// alone, and export, local and readonly with values.
func assignedNames(st *syntax.Stmt) []string {
	if st.Background || st.Coprocess || st.Negated || st.Cmd == nil {
		return nil
	}
	var names []string
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) > 0 {
			return nil
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
	return names
}

// guardText is guardAssignments for the text: what eval and `.` hand the
// interpreter to parse again.
func guardText(gs []guard, src []byte) []byte {
	var ps []patch
	for _, g := range gs {
		if g.end <= len(src) {
			ps = append(ps, patch{g.off, g.off, "{ "}, patch{g.end, g.end, " || " + assignedCmd + " " + strings.Join(g.names, " ") + "; }"})
		}
	}
	if len(ps) == 0 {
		return src
	}
	return applyPatches(src, ps)
}
