package hooks

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// patternEscape makes s match itself as a pattern: every byte that is not
// a letter, digit or harmless punctuation gets a backslash. Multi-byte
// characters pass as they are.
func patternEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			// A backslash-newline would be a line continuation.
			b.WriteString(`'` + "\n" + `'`)
			continue
		}
		if c < utf8.RuneSelf && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./,:@%+=", c) >= 0) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// allLits returns the text of a double-quoted string made of literals
// only, with dash's double-quote escapes removed, or "" when it holds an
// expansion (or is empty).
func allLits(parts []syntax.WordPart) string {
	var b strings.Builder
	for _, p := range parts {
		l, ok := p.(*syntax.Lit)
		if !ok {
			return ""
		}
		s := l.Value
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0 {
				i++
			}
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// dqPatternPatches makes a double-quoted part of a pattern literal: text
// alone is escaped here; with an expansion the value is escaped at run
// time by quotePatternCmd.
func dqPatternPatches(ps []patch, n *syntax.DblQuoted, src []byte) []patch {
	off, end := int(n.Pos().Offset()), int(n.End().Offset())
	if n.Dollar {
		off++
	}
	// A line continuation inside the quotes: left to upstream's reading
	// (a rewrite would have to keep the line; FuzzConform found
	// "${0#"\<newline>"}" and its variants).
	if end <= len(src) && bytes.Contains(src[off:end], []byte("\\\n")) {
		return ps
	}
	if len(n.Parts) == 0 {
		return append(ps, patch{off, end, ""})
	}
	if s := allLits(n.Parts); s != "" {
		return append(ps, patch{off, end, patternEscape(s)})
	}
	return append(ps, patch{off, off, "$(" + quotePatternCmd + " "}, patch{end, end, ")"})
}

// tildePatches expands `~` after ':' in an assignment, as sh does for
// PATH-like values: each such `~` (followed by '/', ':' or the end of the
// word) becomes ${HOME-~}, in the value and in the words of its unquoted
// ${x:-w}. `~user` after ':' is left alone.
func tildePatches(ps []patch, w *syntax.Word, src []byte) []patch {
	for i, part := range w.Parts {
		if pe, ok := part.(*syntax.ParamExp); ok && pe.Exp != nil && pe.Exp.Word != nil && !isPatternOp(pe.Exp.Op) {
			ps = tildePatches(ps, pe.Exp.Word, src)
		}
		l, ok := part.(*syntax.Lit)
		if !ok {
			continue
		}
		off, end := int(l.Pos().Offset()), int(l.End().Offset())
		if end > len(src) {
			continue
		}
		s := src[off:end]
		last := i == len(w.Parts)-1
		for j := 0; j+1 < len(s); j++ {
			if s[j] != ':' || s[j+1] != '~' || (j > 0 && s[j-1] == '\\') {
				continue
			}
			k := j + 2
			if k < len(s) && s[k] != '/' && s[k] != ':' {
				continue
			}
			if k == len(s) && !last {
				continue
			}
			ps = append(ps, patch{off + j + 1, off + j + 2, "${HOME-~}"})
		}
	}
	return ps
}

// patternQuote escapes every pattern character of s (run time half of the
// pattern correction above).
func patternQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
