package hooks

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// inParamWord says whether the node on top of stack lies in the word of a
// ${x-…} expansion, up to the nearest command substitution.
func inParamWord(stack []syntax.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		switch stack[i].(type) {
		case *syntax.ParamExp:
			return true
		case *syntax.CmdSubst, *syntax.ProcSubst:
			return false
		}
	}
	return false
}

type role int

const (
	roleOther   role = iota // case patterns, arithmetic, indexes, heredoc bodies: left alone
	roleWord                // an unquoted word: arguments, assignment values, redirection targets
	roleParamDQ             // the word of ${x:-w} inside double quotes or a heredoc
	rolePattern             // the pattern of ${x#w} and friends
)

// wordRole says how the shell reads the word on top of the stack.
func wordRole(stack []syntax.Node) role {
	w := len(stack) - 1
	if w < 1 {
		return roleOther
	}
	word, _ := stack[w].(*syntax.Word)
	switch p := stack[w-1].(type) {
	case *syntax.ParamExp:
		// The word of ${x:-w} (Expansion is not a node of its own).
		if p.Exp == nil || p.Exp.Word != word {
			return roleOther
		}
		if isPatternOp(p.Exp.Op) {
			return rolePattern
		}
		if quotedContext(stack[:w-1]) {
			return roleParamDQ
		}
		return roleWord
	case *syntax.CaseClause:
		if p.Word == word {
			return roleWord // the subject; the patterns are the items'
		}
		return roleOther
	case *syntax.CallExpr, *syntax.Assign, *syntax.WordIter, *syntax.ArrayElem, *syntax.DeclClause:
		return roleWord
	case *syntax.Redirect:
		if p.Op == syntax.Hdoc || p.Op == syntax.DashHdoc {
			return roleOther // the delimiter and the body
		}
		return roleWord
	}
	return roleOther
}

// quotedContext says whether the node on top of stack sits inside double
// quotes or a heredoc body, up to the nearest command substitution.
func quotedContext(stack []syntax.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		switch n := stack[i].(type) {
		case *syntax.DblQuoted:
			return true
		case *syntax.Redirect:
			if n.Op == syntax.Hdoc || n.Op == syntax.DashHdoc {
				return true
			}
		case *syntax.CmdSubst, *syntax.ProcSubst:
			return false
		}
	}
	return false
}

// litPatches rewrites the backslash escapes of an unquoted literal. It
// scans the source, not Lit.Value, which has line continuations removed.
func litPatches(ps []patch, l *syntax.Lit, src []byte, r role, prevDollar bool) []patch {
	off, end := int(l.Pos().Offset()), int(l.End().Offset())
	if end > len(src) || off >= end || bytes.IndexByte(src[off:end], '\\') < 0 {
		return ps
	}
	s := src[off:end]
	for i := 0; i < len(s)-1; i++ {
		if s[i] != '\\' {
			continue
		}
		c := s[i+1]
		if c == '\n' {
			i++
			continue
		}
		_, size := utf8.DecodeRune(s[i+1:])
		x := string(s[i+1 : i+1+size])
		// A literal `$` just before would make the quote that follows it
		// `$'…'` or `$"…"`: it goes inside the quotes too.
		from, dollar, cont := i, "", ""
		// The `$` may stand before line continuations (`$\<newline>\0`,
		// found by FuzzConform): they are kept, ahead of the quote, so
		// the script keeps its lines.
		j := i - 1
		for j >= 1 && s[j] == '\n' && s[j-1] == '\\' {
			j -= 2
		}
		switch {
		case j < 0 && prevDollar:
			// The `$` ends the literal before this one, maybe before
			// continuations of its own.
			g := off + j
			for g >= 1 && src[g] == '\n' && src[g-1] == '\\' {
				g -= 2
			}
			if g >= 0 && src[g] == '$' {
				from, dollar, cont = g-off, "$", string(src[g+1:off+i])
			}
		case j >= 0 && s[j] == '$' && evenBackslashes(s[:j]):
			from, dollar, cont = j, "$", string(s[j+1:i])
		}
		switch r {
		case roleWord:
			// A `#` right after goes inside the quotes too: upstream's
			// lexer would start a comment at a `#` after a closing quote
			// (`\0#x` read as `'0'` and a comment; FuzzConform found it).
			hash := ""
			if i+1+size < len(s) && s[i+1+size] == '#' {
				hash = "#"
			}
			q := cont + "'" + dollar + x + hash + "'"
			if c == '\'' {
				q = cont + `"` + dollar + `'` + hash + `"`
			}
			ps = append(ps, patch{off + from, off + i + 1 + size + len(hash), q})
			i += len(hash)
		case roleParamDQ:
			if strings.IndexByte("$`\"\\}", c) >= 0 {
				q := cont + `"` + dollar + `\` + x + `"`
				if c == '}' {
					q = cont + `"` + dollar + `}"`
				}
				ps = append(ps, patch{off + from, off + i + 2, q})
			}
		}
		i += size
	}
	return ps
}

// endsInDollar says whether the part before l in w is a literal ending
// in an unescaped `$` right before it: upstream lexes `$\x` as two
// literals, and a quote put after that `$` would read as `$'…'`.
func endsInDollar(w *syntax.Word, l *syntax.Lit) bool {
	for i, p := range w.Parts {
		if p != l || i == 0 {
			continue
		}
		prev, ok := w.Parts[i-1].(*syntax.Lit)
		if !ok {
			return false
		}
		v := prev.Value
		return prev.End() == l.Pos() && strings.HasSuffix(v, "$") && evenBackslashes([]byte(v[:len(v)-1]))
	}
	return false
}

// evenBackslashes says whether b ends in an even number of backslashes,
// so that what follows it is not escaped.
func evenBackslashes(b []byte) bool {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}
