package hooks

import (
	"slices"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// fdPatches rewrites the redirections of descriptors above 2 (see the
// top of fds.go). A statement inside the words of another's rewritten
// redirection, or one sharing its text, waits for the next pass: conform
// runs this until it finds nothing (the moved text is then read again).
func fdPatches(f *syntax.File, src []byte) []patch {
	var ps []patch
	var taken [][2]int
	syntax.Walk(f, func(n syntax.Node) bool {
		st, ok := n.(*syntax.Stmt)
		if !ok || len(st.Redirs) == 0 {
			return true
		}
		start, end := int(st.Pos().Offset()), stmtEnd(st)
		for _, r := range taken {
			if start < r[1] && r[0] < end {
				return true
			}
		}
		var fdRedirs []*syntax.Redirect
		for _, r := range st.Redirs {
			if r.N != nil && len(r.N.Value) > 1 {
				// dash reads a descriptor of one digit only: `10>x` is
				// the word 10 and `>x` (echo hi 10>x writes "hi 10").
				at := int(r.N.End().Offset())
				ps = append(ps, patch{at, at, " "})
				continue
			}
			if r.N != nil && highFd(r.N.Value) {
				fdRedirs = append(fdRedirs, r)
			} else if p, ok := dupPatch(r, src); ok {
				ps = append(ps, p)
			}
		}
		if len(fdRedirs) == 0 || st.Background || st.Coprocess || !movable(st, fdRedirs) {
			return true
		}
		taken = append(taken, [2]int{start, end})
		if call, ok := st.Cmd.(*syntax.CallExpr); ok && len(call.Assigns) == 0 && len(call.Args) == 1 && call.Args[0].Lit() == "exec" {
			text := execFdText(st, src)
			// Line continuations between the redirections stay as
			// lines: every error keeps naming the author's line.
			if lost := strings.Count(string(src[start:end]), "\n") - strings.Count(text, "\n"); lost > 0 {
				text = strings.TrimSuffix(text, "; }") + strings.Repeat(" \\\n", lost) + "; }"
			}
			ps = append(ps, patch{start, end, text})
			return true
		}
		tok := "s" + strconv.Itoa(start)
		var pre strings.Builder
		pre.WriteString("{ ")
		for _, r := range fdRedirs {
			pre.WriteString(fdCmd + " push " + tok + " " + fdRedirText(r, src) + " && { ")
		}
		if st.Cmd == nil {
			pre.WriteString(":")
		}
		// The insertion first: a redirection at the statement's start
		// (`3>f cmd`) is removed at the same offset, after it.
		ps = append(ps, patch{start, start, pre.String()})
		for _, r := range fdRedirs {
			ps = append(ps, patch{int(r.Pos().Offset()), redirEnd(r), keptLines(src, r)})
		}
		ps = append(ps, patch{end, end, strings.Repeat("; "+fdCmd+" pop "+tok+" $?; }", len(fdRedirs)) + "; }"})
		return true
	})
	return ps
}

// keptLines is what stays where a redirection moved from: a line
// continuation for each newline its text had outside its word (the word
// moved with it), so that the script keeps its line count.
func keptLines(src []byte, r *syntax.Redirect) string {
	span := string(src[r.Pos().Offset():redirEnd(r)])
	word := string(src[r.Word.Pos().Offset():r.Word.End().Offset()])
	return strings.Repeat("\\\n", strings.Count(span, "\n")-strings.Count(word, "\n"))
}

// highFd says whether a redirection's descriptor number is one the
// interpreter lacks.
func highFd(n string) bool {
	v, err := strconv.Atoi(n)
	return err == nil && v >= 3
}

// dupPatch turns `>&W` and `<&W` on a standard descriptor into
// `>/dev/fd/W` and `</dev/fd/W` unless upstream handles W itself
// (`>&1`, `>&2`, `>&-`, `<&-`).
func dupPatch(r *syntax.Redirect, src []byte) (patch, bool) {
	if r.Op != syntax.DplOut && r.Op != syntax.DplIn || r.Word == nil {
		return patch{}, false
	}
	switch w := r.Word.Lit(); {
	case w == "-", r.Op == syntax.DplOut && (w == "1" || w == "2"):
		return patch{}, false
	}
	op := ">"
	if r.Op == syntax.DplIn {
		op = "<"
	}
	return patch{int(r.OpPos.Offset()), int(r.Word.Pos().Offset()), op + "/dev/fd/"}, true
}

// movable says whether the statement's descriptor redirections can be
// moved in front of it: not a function definition, no `<>`, and no
// here-document of a standard descriptor before one of them (the bodies
// would change places).
func movable(st *syntax.Stmt, fdRedirs []*syntax.Redirect) bool {
	if _, ok := st.Cmd.(*syntax.FuncDecl); ok {
		return false
	}
	stdHdoc := false
	dupFrom := map[string]bool{} // descriptors a standard redirection copies before they are set
	for _, r := range st.Redirs {
		isFd := slices.Contains(fdRedirs, r)
		if isFd && dupFrom[r.N.Value] {
			// `cat <&6 6<<EOF`: dash fails on <&6 first; moving 6<<EOF
			// in front would make it work. Left as it is, it fails.
			return false
		}
		if !isFd && (r.Op == syntax.DplIn || r.Op == syntax.DplOut) && r.Word != nil {
			dupFrom[r.Word.Lit()] = true
		}
		switch {
		case r.Op == syntax.RdrInOut && isFd:
			return false
		case (r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc) && !isFd:
			stdHdoc = true
		case (r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc) && stdHdoc:
			return false
		}
	}
	return true
}

// stmtEnd is where a statement's own text ends on its line: after its
// command and its redirections' words, before a here-document's body and
// before its `;` or `&`.
func stmtEnd(st *syntax.Stmt) int {
	end := int(st.Pos().Offset())
	if st.Cmd != nil {
		end = int(st.Cmd.End().Offset())
	}
	for _, r := range st.Redirs {
		if e := redirEnd(r); e > end {
			end = e
		}
	}
	return end
}

func redirEnd(r *syntax.Redirect) int {
	if r.Word != nil {
		return int(r.Word.End().Offset())
	}
	return int(r.OpPos.Offset()) + len(r.Op.String())
}

// fdRedirText is `N MODE REDIR` for the push or set of one redirection:
// the redirection as the command's own stdout (w) or stdin (r).
func fdRedirText(r *syntax.Redirect, src []byte) string {
	word := string(src[r.Word.Pos().Offset():r.Word.End().Offset()])
	n := r.N.Value
	switch r.Op {
	case syntax.DplOut, syntax.DplIn:
		if word == "-" {
			return n + " close"
		}
		if r.Op == syntax.DplOut {
			return n + " w >/dev/fd/" + word
		}
		return n + " r </dev/fd/" + word
	case syntax.RdrOut, syntax.ClbOut:
		return n + " w >" + word
	case syntax.AppOut:
		return n + " w >>" + word
	case syntax.RdrIn:
		return n + " r <" + word
	}
	// Here-documents and <<<: a space before the word, so that `<< -`
	// stays a here-document ended by `-` and does not become `<<-`
	// (FuzzConform: "10<< -").
	return n + " r " + r.Op.String() + " " + word
}

// execFdText is `exec` with descriptor redirections as a sequence in their
// order: each descriptor set by the builtin, fatal when it fails (exec is
// a special builtin), the standard ones left to exec.
func execFdText(st *syntax.Stmt, src []byte) string {
	var parts []string
	var std []string
	flush := func() {
		if len(std) > 0 {
			parts = append(parts, "exec "+strings.Join(std, " "))
			std = nil
		}
	}
	for _, r := range st.Redirs {
		if r.N != nil && highFd(r.N.Value) {
			flush()
			parts = append(parts, "{ "+fdCmd+" set "+fdRedirText(r, src)+" || "+fatalCmd+" $?; }")
			continue
		}
		std = append(std, string(src[r.Pos().Offset():redirEnd(r)]))
	}
	flush()
	return "{ " + strings.Join(parts, "; ") + "; }"
}
