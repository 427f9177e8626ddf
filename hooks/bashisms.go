package hooks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// bash syntax that dash does not have. servicectl parses scripts as
// bash (mvdan.cc/sh/v3's POSIX mode also drops export, readonly and
// local, which dash has), then holds them to dash:
//
//   - what dash refuses to parse (`function f {`, `<<<`, arrays, `&>`,
//     `<(…)`, `|&`, `;&`, `select`, extended globs) and the expansions it
//     stops at with "Bad substitution" (${x:1:2}, ${x/a/b}, ${x^^},
//     ${!x}) are a syntax error naming the line, before the
//     script runs (dash would run the lines before it; servicectl runs
//     nothing of a script it cannot read as dash would);
//   - `cmd &> FILE` is, to dash, `cmd &` and then `> FILE` (the command
//     in the background, FILE emptied): rewritten so (ampPatch);
//   - arrays stay: SPEC §3.3 lets a config give a list as an sh array
//     (`service_flags=(--name "two words")`), and a hook may read one
//     ("${service_flags[@]}");
//   - what dash runs as a command that does not exist (`[[ … ]]`,
//     `(( … ))`, `let`, `declare`, `typeset`) fails as that command
//     would: "NAME: not found", status 127, and the script goes on.

// failCmd is the internal builtin `servicectl-fail STATUS MESSAGE`: the
// message on stderr, the status returned.
const failCmd = "servicectl-fail"

func builtinFail(hc interp.HandlerContext, args []string) error {
	code := 1
	if len(args) > 0 {
		fmt.Sscan(args[0], &code)
	}
	if len(args) > 1 {
		fmt.Fprintln(hc.Stderr, args[1])
	}
	return exitCode(code)
}

// bashNode names the construct dash cannot read that n is; "" for none.
func bashNode(n syntax.Node) string {
	switch n := n.(type) {
	case *syntax.FuncDecl:
		if n.RsrvWord {
			return "`function NAME` (write NAME() { …; })"
		}
	case *syntax.Redirect:
		switch n.Op {
		case syntax.WordHdoc:
			return "a here-string <<< (use a here-document or printf … |)"
		}
	case *syntax.ProcSubst:
		return "a process substitution <(…) or >(…)"
	case *syntax.ExtGlob:
		return "an extended glob @(…)"
	case *syntax.BinaryCmd:
		if n.Op == syntax.PipeAll {
			return "|& (write 2>&1 |)"
		}
	case *syntax.CaseItem:
		if n.Op != syntax.Break && n.OpPos.IsValid() {
			return "a case item ending in " + n.Op.String() + " (dash has only ;;)"
		}
	case *syntax.ForClause:
		if n.Select {
			return "select"
		}
	case *syntax.ParamExp:
		return bashParam(n)
	case *syntax.BinaryArithm:
		if n.Op == syntax.Pow {
			return "** in arithmetic"
		}
	}
	return ""
}

// bashParam names a parameter expansion dash stops at with "Bad
// substitution".
func bashParam(p *syntax.ParamExp) string {
	switch {
	case p.Slice != nil:
		return "${NAME:OFFSET:LENGTH}"
	case p.Repl != nil:
		return "${NAME/PATTERN/STRING}"
	case p.Excl || p.Names != 0:
		return "${!NAME}"
	case p.Exp != nil:
		switch p.Exp.Op {
		case syntax.UpperFirst, syntax.UpperAll, syntax.LowerFirst, syntax.LowerAll, syntax.OtherParamOps:
			return "${NAME" + p.Exp.Op.String() + "…}"
		}
	}
	return ""
}

// notFoundPatch rewrites the bash commands dash would look for in PATH
// into the failure it would meet there (see above); descend is false for
// a clause rewritten. A clause spanning lines is left to upstream: the
// rewrite may not remove a newline.
func notFoundPatch(ps []patch, n syntax.Node, src []byte) (_ []patch, descend bool) {
	name := ""
	switch n := n.(type) {
	case *syntax.TestClause:
		name = "[["
	case *syntax.ArithmCmd:
		name = "(("
	case *syntax.LetClause:
		name = "let"
	case *syntax.DeclClause:
		if v := n.Variant.Value; v == "declare" || v == "typeset" || v == "nameref" {
			name = v
		}
	}
	if name == "" {
		return ps, true
	}
	off, end := int(n.Pos().Offset()), int(n.End().Offset())
	if end > len(src) || strings.Contains(string(src[off:end]), "\n") {
		return ps, true
	}
	msg := name + ": not found (a bash keyword: dash has no " + name + ")"
	return append(ps, patch{off, end, failCmd + " 127 '" + msg + "'"}), false
}

// whileCondPatch: mvdan.cc/sh/v3 (v3.14.1, (*Runner).cmd's
// WhileClause) runs a loop's condition outside the loop (r.inLoop is
// false), so `while break; do …; done` prints "break is only useful in a
// loop" and loops on; bash and dash break. A loop whose condition holds
// break or continue becomes `while :; do if ! { COND; }; then break; fi;
// BODY; done` (`if { COND; }` for until). TestUpstreamStillNeedsConform
// tells when upstream runs the condition in the loop.
func whileCondPatch(ps []patch, w *syntax.WhileClause) []patch {
	if !loopControlIn(w.Cond) {
		return ps
	}
	neg := "! "
	if w.Until {
		neg = ""
	}
	kw := int(w.WhilePos.Offset())
	return append(ps, patch{kw, kw + 5, "while :; do if " + neg + "{"},
		patch{int(w.DoPos.Offset()), int(w.DoPos.Offset()) + 2, "}; then break; fi;"})
}

// loopControlIn says whether break or continue appears in stmts outside
// any nested loop or function.
func loopControlIn(stmts []*syntax.Stmt) bool {
	found := false
	for _, st := range stmts {
		syntax.Walk(st, func(n syntax.Node) bool {
			switch n := n.(type) {
			case *syntax.WhileClause, *syntax.ForClause, *syntax.FuncDecl:
				return false
			case *syntax.CallExpr:
				if len(n.Args) > 0 {
					if w := n.Args[0].Lit(); w == "break" || w == "continue" {
						found = true
					}
				}
			}
			return !found
		})
	}
	return found
}

// testCheck holds `[` and `test` to dash where upstream's test accepts
// bash's: `==` is no operator (status 2, "unexpected operator"), and an
// integer comparison's operands are decimal numbers with optional blanks
// and sign (0x10, 1a, "" and numbers past int64 are "Illegal number",
// status 2; upstream reads some as 0). It returns the internal command
// that fails as dash does, or nil.
func testCheck(args []string) []string {
	expr := args[1:]
	if args[0] == "[" && len(expr) > 0 && expr[len(expr)-1] == "]" {
		expr = expr[:len(expr)-1]
	}
	fail := func(msg string) []string { return []string{failCmd, "2", args[0] + ": " + msg} }
	if len(expr) == 3 && expr[1] == "==" || len(expr) == 4 && expr[0] == "!" && expr[2] == "==" {
		return fail(expr[len(expr)-3] + ": unexpected operator (== is bash's; dash's test has =)")
	}
	for i := 1; i+1 < len(expr); i++ {
		switch expr[i] {
		case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
			for _, operand := range []string{expr[i-1], expr[i+1]} {
				if !dashInteger(operand) {
					return fail("Illegal number: " + operand)
				}
			}
		}
	}
	return nil
}

// dashInteger is what dash's test takes as a number.
func dashInteger(s string) bool {
	t := strings.Trim(s, " \t\n")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	if t == "" || len(t) > 19 {
		return t != "" && strings.Trim(t, "0123456789") == "" && len(strings.TrimLeft(t, "0")) <= 18
	}
	return strings.Trim(t, "0123456789") == ""
}

// cdArgs does what dash's cd does before changing directory and
// upstream's does not: -L and -P (-P resolves symbolic links), and a
// relative name looked up in CDPATH, the directory printed when found
// through a non-empty entry. It returns the arguments for upstream's cd.
func cdArgs(hc interp.HandlerContext, args []string) []string {
	physical := false
	i := 1
	for ; i < len(args) && (args[i] == "-L" || args[i] == "-P"); i++ {
		physical = args[i] == "-P"
	}
	if i < len(args) && args[i] == "--" {
		i++
	}
	rest := args[i:]
	if len(rest) != 1 || rest[0] == "-" {
		return append([]string{"cd"}, rest...)
	}
	dir := rest[0]
	if cdpath := hc.Env.Get("CDPATH").String(); cdpath != "" && !filepath.IsAbs(dir) &&
		dir != "." && dir != ".." && !strings.HasPrefix(dir, "./") && !strings.HasPrefix(dir, "../") {
		for _, entry := range strings.Split(cdpath, ":") {
			base := entry
			if base == "" {
				base = "."
			}
			cand := filepath.Join(base, dir)
			if !filepath.IsAbs(cand) {
				cand = filepath.Join(hc.Dir, cand)
			}
			if fi, err := os.Stat(cand); err == nil && fi.IsDir() {
				if entry != "" {
					fmt.Fprintln(hc.Stdout, cand)
				}
				dir = cand
				break
			}
		}
	}
	if physical {
		abs := dir
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(hc.Dir, abs)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			dir = real
		}
	}
	return []string{"cd", dir}
}

// notExecutable: the interpreter reports a path it may not execute as
// not found (127); dash says "Permission denied", status 126. (A name
// looked up in PATH is left to the interpreter: a stat per PATH entry
// for every command would cost every script.)
func notExecutable(hc interp.HandlerContext, name string) bool {
	if !strings.Contains(name, "/") {
		return false
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(hc.Dir, p)
	}
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && unix.Access(p, unix.X_OK) != nil
}

// ampPatch reads bash's `&>` and `&>>` as dash does (see above).
func ampPatch(ps []patch, r *syntax.Redirect) []patch {
	if r.Op != syntax.RdrAll && r.Op != syntax.AppAll {
		return ps
	}
	off := int(r.OpPos.Offset())
	return append(ps, patch{off, off + 1, "& "})
}

// cdPatches: upstream's cd sets PWD and OLDPWD afresh, unexported
// ((*Runner).changeDir calls setVarString), where dash exports both; and
// it fails with status 1 where dash's is 2. `cd ARGS` becomes
// `{ cd ARGS && export PWD OLDPWD || servicectl-fail 2; }`.
func cdPatches(ps []patch, call *syntax.CallExpr) []patch {
	if len(call.Args) == 0 || call.Args[0].Lit() != "cd" {
		return ps
	}
	off, end := int(call.Pos().Offset()), int(call.End().Offset())
	return append(ps, patch{off, off, "{ "}, patch{end, end, " && export PWD OLDPWD || " + failCmd + " 2; }"})
}
