package hooks

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// SplitWords splits a command line into words by sh's quoting rules —
// blanks separate, '…' and "…" quote, a backslash escapes — so that a
// command given as one string (`upgrade run --rollback 'pkgmgr undo
// "my pkg"'`) can be run directly, never through a shell. Anything that
// would need a shell to mean something is refused: expansions, command
// substitutions, globs, redirections, operators, several commands.
func SplitWords(line string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, fmt.Errorf("%q: %v", line, err)
	}
	refuse := func(what string) ([]string, error) {
		return nil, fmt.Errorf("%q: %s needs a shell; give plain words (quoted as sh quotes them), and put anything more in a script", line, what)
	}
	if len(f.Stmts) != 1 {
		return refuse("more than one command")
	}
	st := f.Stmts[0]
	if st.Negated || st.Background || st.Coprocess || len(st.Redirs) > 0 {
		return refuse("an operator or redirection")
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Assigns) > 0 || len(call.Args) == 0 {
		return refuse("this construct")
	}
	var out []string
	for _, w := range call.Args {
		var b strings.Builder
		for _, part := range w.Parts {
			switch x := part.(type) {
			case *syntax.Lit:
				if strings.ContainsAny(x.Value, "*?[") || strings.HasPrefix(x.Value, "~") && part == w.Parts[0] {
					return refuse("a glob or ~")
				}
				b.WriteString(unescape(x.Value, ""))
			case *syntax.SglQuoted:
				if x.Dollar {
					return refuse("$'…'")
				}
				b.WriteString(x.Value)
			case *syntax.DblQuoted:
				if x.Dollar {
					return refuse(`$"…"`)
				}
				for _, dp := range x.Parts {
					lit, ok := dp.(*syntax.Lit)
					if !ok {
						return refuse("an expansion")
					}
					b.WriteString(unescape(lit.Value, "$`\"\\\n"))
				}
			default:
				return refuse("an expansion")
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// unescape removes the backslashes sh removes: before any character
// outside quotes (special == ""), before one of special inside double
// quotes; a backslash-newline goes altogether.
func unescape(s, special string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (special == "" || strings.IndexByte(special, s[i+1]) >= 0) {
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
