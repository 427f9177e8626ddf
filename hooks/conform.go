package hooks

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// This file is the one place where servicectl corrects mvdan.cc/sh/v3
// (v3.14.1) so that a config means what dash makes of it (SPEC §3.2).
// The corrections are made to the script's text before the interpreter
// parses it for good: each is a rewrite of a few bytes into an equivalent
// form that the interpreter does read right, never adding or removing a
// newline, so every error still names the author's own line. The parsed,
// corrected tree is cached with the parse, so a file pays once.
//
// What upstream gets wrong, and what is rewritten:
//
//   - expand.Literal → (*Config).wordField keeps unquoted backslash escapes
//     of *syntax.Lit parts at quoteNone (compare wordFields, which removes
//     them), so `x=a\ b` is `a\ b`; and (*Config).paramExp expands the word
//     of `${x:-w}` with Literal whatever the surrounding quotes. Each `\X`
//     of an unquoted word becomes a quoted X ('X', or "'" for a quote);
//     inside double quotes, the escapes that dash removes there (\$ \` \"
//     \\ \}) become "\X", which the interpreter does unescape.
//   - paramExp expands the pattern of ${x%w} ${x#w} with Literal too, so
//     quotes in it are dropped and `${s%"*"}` matches any suffix. A quoted
//     part of a pattern becomes its backslash-escaped text; a quoted part
//     holding an expansion is passed through the internal builtin
//     quotePatternCmd, which escapes the value at run time.
//   - An assignment's tilde after ':' (`PATH=$PATH:~/bin`) is left as is;
//     it becomes ${HOME-~}.
//   - `X=1 :`: an assignment before a special builtin does not persist;
//     the command becomes `{ X=1; :; }`.
//   - `$'…'` and `$"…"` are bash's; dash reads a literal `$` before a quoted
//     string, and so does servicectl.
//
// What is corrected at run time, in the call handler (session.go): `.` and
// `source` (PATH search, a missing or broken file is fatal, the included
// file is corrected too), `eval` (its text is corrected), `return` at the
// top level of a config, and the builtins upstream lacks.
//
// TestUpstreamStillNeedsConform fails once upstream reads these idioms as
// dash does, so that this file can shrink.

// quotePatternCmd is the internal builtin that prints its argument with
// every pattern character escaped; see patternQuote.
const quotePatternCmd = "servicectl-quote-pattern"

type patch struct {
	off, end int // bytes of the source replaced (off == end: an insertion)
	text     string
}

// conformed is a script's text corrected for the interpreter, parsed.
type conformed struct {
	file      *syntax.File
	src       []byte // the corrected text (the original when nothing changed)
	topReturn bool   // a `return` outside any function: run it as a sourced file
	// closed counts the lines added after the last one to close
	// here-documents that the end of the script closes (parseBytes).
	closed int

	// readonly: the text has the word readonly, so its assignments are
	// guarded from the start (structural.go); a session that has run
	// such a file guards the files it runs after (guarded).
	readonly bool
	// guarded is the tree and text with every assignment guarded, made
	// on first use: the text is what eval, `.` and a trap hand the
	// interpreter to parse again.
	guarded func() (*syntax.File, []byte)
}

// conform parses src under name and corrects it (see above). A syntax
// error is reported against the original text.
func conform(name string, src []byte) (*conformed, error) {
	closed := 0
	parse := func(text []byte) (*syntax.File, []byte, error) {
		f, out, err := parseBytes(name, text)
		if err == nil {
			closed += bytes.Count(out, []byte{'\n'}) - bytes.Count(text, []byte{'\n'})
		}
		return f, out, err
	}
	f, src, err := parse(src)
	if err != nil {
		return nil, err
	}
	// bash's $'…' and $"…" first: to dash they are a `$` and a quoted
	// string, which may end elsewhere than upstream's ($'\'' is one
	// string to bash, two to dash), so everything after is read again
	// before the other corrections (FuzzConform found $'\''\').
	for i := 0; i < 8; i++ {
		if r := heredocDollarQuote(f, src); r != nil {
			return nil, &ScriptError{File: name, Line: int(r.Pos().Line()), Msg: "syntax error: a here-document delimiter with bash's $'…' or $\"…\" quoting: dash reads a $ and a quoted string there; write the delimiter plainly quoted ('EOF')", Err: ExitError(2)}
		}
		dp := dollarQuotePatches(f)
		if len(dp) == 0 {
			break
		}
		f2, fixed, err := parse(applyPatches(src, dp))
		for k := 0; err != nil && k < 64; k++ {
			// What the correction uncovered can be one more $'…' that
			// bash cannot close ($'\'$'\' is $, '\', $, '\' to dash):
			// its $ is quoted too, where the error names it.
			at, ok := unclosedDollarQuote(err, fixed)
			if !ok {
				break
			}
			f2, fixed, err = parse(applyPatches(fixed, []patch{{at, at + 1, `'$'`}}))
		}
		if err != nil {
			return nil, &ScriptError{File: name, Msg: "syntax error as sh reads this script: " + err.Error(), Err: err}
		}
		f, src = f2, fixed
	}
	// Descriptors above 2 next: their redirections move in front of
	// their statements (fds.go), and what moved is read again.
	for i := 0; i < 8 && bytes.ContainsAny(src, "<>"); i++ {
		fp := fdPatches(f, src)
		if len(fp) == 0 {
			break
		}
		f2, fixed, err := parse(applyPatches(src, fp))
		if err != nil {
			return nil, &ScriptError{File: name, Msg: "syntax error as sh reads this script: " + err.Error(), Err: err}
		}
		f, src = f2, fixed
	}
	c := &conformed{file: f, src: src, closed: closed}
	patches, topReturn, bash := findPatches(f, src)
	if bash != nil {
		return nil, &ScriptError{File: name, Line: int(bash.Pos().Line()), Msg: "syntax error: " + bashNode(bash) + " is bash's, and dash cannot read it", Err: ExitError(2)}
	}
	patches = append(patches, returnPatches(f)...)
	c.topReturn = topReturn
	if len(patches) > 0 {
		f2, fixed, err := parse(applyPatches(src, patches))
		if err != nil {
			// A rewrite that does not parse is servicectl's bug, not the
			// author's: say so rather than run the script half-understood.
			return nil, &ScriptError{File: name, Msg: "syntax error as sh reads this script: " + err.Error(), Err: err}
		}
		c.file, c.src, c.closed = f2, fixed, closed
	}
	c.readonly = bytes.Contains(c.src, []byte("readonly"))
	c.guarded = sync.OnceValues(func() (*syntax.File, []byte) {
		g, _, err := parseBytes(name, c.src)
		if err != nil {
			return c.file, c.src // parsed before: cannot happen
		}
		return g, guardAssignments(g, c.src)
	})
	if c.readonly {
		c.file, _ = c.guarded()
	}
	return c, nil
}

// unclosedDollarQuote finds the $ of a $'…' or $"…" the correction
// uncovered, scanning the text with dash's quoting (a $ inside '…' is no
// expansion): when the parse error is a quote left unclosed, the last one
// before it; after any other error, the first one in the text, since
// what bash read as one string can end in an unquoted `(`
// (FuzzConform found one: a $'\' then a $'\' then a quoted paren).
func unclosedDollarQuote(err error, src []byte) (int, bool) {
	var pe syntax.ParseError
	if !errors.As(err, &pe) {
		return 0, false
	}
	end, first := int(pe.Pos.Offset()), !strings.Contains(pe.Text, "without closing quote")
	if first {
		end = len(src)
	}
	last := -1
	inS, inD := false, false
	for i := 0; i <= end && i < len(src) && (last < 0 || !first); i++ {
		c := src[i]
		switch {
		case inS:
			inS = c != '\''
		case c == '\\':
			i++
		case inD:
			inD = c != '"'
		case c == '\'':
			inS = true
		case c == '"':
			inD = true
		case c == '$' && i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '"'):
			last = i
		}
	}
	return last, last >= 0
}

// dollarQuotePatches quote the `$` of bash's $'…' and $"…": dash reads
// a literal `$` there, then an ordinary quoted string.
func dollarQuotePatches(f *syntax.File) []patch {
	var ps []patch
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			return !n.Backquotes // positions inside `…` are not the source's (see findPatches)
		case *syntax.SglQuoted:
			if n.Dollar {
				ps = append(ps, patch{int(n.Pos().Offset()), int(n.Pos().Offset()) + 1, `'$'`})
			}
		case *syntax.DblQuoted:
			if n.Dollar {
				ps = append(ps, patch{int(n.Pos().Offset()), int(n.Pos().Offset()) + 1, `'$'`})
			}
		}
		return true
	})
	return ps
}

// heredocDollarQuote is the first here-document whose delimiter word has
// a $'…' or $"…" part. dash reads `$` and a quoted string there, and
// upstream's parser does not find such a delimiter again once corrected
// to that reading (`<<'$'0`), so the script is refused, naming the line,
// rather than run with a body that ends elsewhere than dash's
// (FuzzConform: a delimiter of $ and an empty $'…' before 0 or {).
func heredocDollarQuote(f *syntax.File, src []byte) *syntax.Redirect {
	if !bytes.Contains(src, []byte("<<")) || !bytes.Contains(src, []byte("$")) {
		return nil // no walk of the tree for the configs of every command
	}
	var found *syntax.Redirect
	syntax.Walk(f, func(n syntax.Node) bool {
		r, ok := n.(*syntax.Redirect)
		if found != nil || !ok || (r.Op != syntax.Hdoc && r.Op != syntax.DashHdoc) || r.Word == nil {
			return found == nil
		}
		for _, wp := range r.Word.Parts {
			switch wp := wp.(type) {
			case *syntax.SglQuoted:
				if wp.Dollar {
					found = r
				}
			case *syntax.DblQuoted:
				if wp.Dollar {
					found = r
				}
			}
		}
		return found == nil
	})
	return found
}

// returnPatches makes a bare `return` say `return $?`. POSIX (and dash,
// and bash) return the last command's status when `return` has no
// operand; mvdan.cc/sh/v3 (v3.14.1, interp's builtin "return", case 0)
// leaves the status at 0. TestBareReturnKeepsTheStatus fails once
// upstream agrees, and this can go.
func returnPatches(f *syntax.File) []patch {
	var ps []patch
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) == 1 && c.Args[0].Lit() == "return" {
			end := int(c.Args[0].End().Offset())
			ps = append(ps, patch{end, end, " $?"})
		}
		return true
	})
	return ps
}

func applyPatches(src []byte, ps []patch) []byte {
	// By offset; at one offset an insertion before a replacement, which
	// would otherwise swallow it (FuzzConform: `<&0 7<0`, where the
	// statement's own first redirection is rewritten where fds.go
	// inserts in front of it).
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].off != ps[j].off {
			return ps[i].off < ps[j].off
		}
		return ps[i].end == ps[i].off && ps[j].end != ps[j].off
	})
	var b bytes.Buffer
	b.Grow(len(src) + 16*len(ps))
	at := 0
	for _, p := range ps {
		if p.off < at {
			continue // nested in an earlier replacement: already covered
		}
		b.Write(src[at:p.off])
		if p.off == len(src) && p.off > at && !evenBackslashes(src[:p.off]) {
			// A backslash that ends the input is a literal one to dash
			// (`A= . x\`); text added after it must not be what it
			// escapes (FuzzConform: "A= . \\").
			b.WriteByte('\\')
		}
		b.WriteString(p.text)
		at = p.end
	}
	b.Write(src[at:])
	return b.Bytes()
}

// specialBuiltins are POSIX's special built-ins before which an
// assignment persists (exec left out: its assignments go to the program).
var specialBuiltins = map[string]bool{
	":": true, ".": true, "eval": true, "exit": true, "return": true,
	"set": true, "shift": true, "times": true, "trap": true, "unset": true,
	"break": true, "continue": true, "export": true, "readonly": true,
}

func isPatternOp(op syntax.ParExpOperator) bool {
	switch op {
	case syntax.RemSmallPrefix, syntax.RemLargePrefix, syntax.RemSmallSuffix, syntax.RemLargeSuffix:
		return true
	}
	return false
}

// findPatches walks f with a stack of ancestors (syntax.Walk calls the
// function with nil after a node's children) and lists the rewrites.
func findPatches(f *syntax.File, src []byte) (ps []patch, topReturn bool, bash syntax.Node) {
	var stack []syntax.Node
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			if b, ok := stack[len(stack)-1].(*syntax.BinaryCmd); ok {
				// After what is inside: a loop's closing brace at the
				// same offset must come before this parenthesis.
				ps = pipeClose(ps, b, src)
			}
			stack = stack[:len(stack)-1]
			return true
		}
		parent := syntax.Node(nil)
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		if bash == nil && bashNode(n) != "" {
			bash = n
		}
		var descend bool
		ps, descend = nodePatches(ps, n, src)
		switch n := n.(type) {
		case *syntax.CmdSubst:
			if n.Backquotes {
				// Upstream parses `…` from its unescaped text, so the
				// positions of what is inside do not match the source:
				// a rewrite there would land in the wrong place (FuzzConform
				// found `\\a` breaking the script). Its contents keep
				// upstream's reading; $(…) is corrected in full.
				descend = false
			}
		case *syntax.Lit:
			if w, ok := parent.(*syntax.Word); ok {
				if wordRole(stack) == roleParamDQ && w.Parts[0] == n && strings.HasPrefix(n.Value, "~") {
					// "${U:-~/x}": no tilde expansion inside double
					// quotes in dash; upstream expands a word's
					// leading ~ whatever the quotes. An empty ""
					// first makes it no leading ~ (first, so that the
					// Lit's own rewrite at this offset still applies).
					ps = append(ps, patch{int(n.Pos().Offset()), int(n.Pos().Offset()), `""`})
				}
				ps = litPatches(ps, n, src, wordRole(stack), endsInDollar(w, n))
			} else if _, ok := parent.(*syntax.DblQuoted); ok && inParamWord(stack) {
				// "…\}…" inside ${x-…}: dash removes that backslash.
				off, end := int(n.Pos().Offset()), int(n.End().Offset())
				for i := off; i+1 < end && end <= len(src); i++ {
					if src[i] == '\\' {
						if src[i+1] == '}' {
							ps = append(ps, patch{i, i + 1, ""})
						}
						i++
					}
				}
			}
		case *syntax.SglQuoted:
			if _, ok := parent.(*syntax.Word); ok {
				var whole bool
				ps, whole = sglPatches(ps, n, wordRole(stack))
				descend = descend && !whole
			}
		case *syntax.DblQuoted:
			if _, ok := parent.(*syntax.Word); ok && wordRole(stack) == rolePattern {
				ps = dqPatternPatches(ps, n, src)
				descend = allLits(n.Parts) == ""
			}
		case *syntax.Stmt:
			ps = redirectPatches(ps, n, parent)
			// `&>f` is `&` then `>f` only after a command's words: alone or
			// first (`&>f cmd`) it would leave `&` with nothing before it
			// (FuzzConform: CR&>0, CR&>0 0).
			for _, r := range n.Redirs {
				// ... and when nothing follows it: `cmd &>f arg` would make
				// `>f arg` a statement upstream may not read as dash does
				// (FuzzConform: 0&>0 !); it keeps bash's reading.
				if n.Cmd != nil && n.Cmd.Pos().Offset() < r.OpPos.Offset() && n.Cmd.End().Offset() <= r.OpPos.Offset() {
					ps = ampPatch(ps, r)
				}
			}
		case *syntax.Assign:
			if n.Value != nil && !n.Append {
				ps = tildePatches(ps, n.Value, src)
			}
		case *syntax.CallExpr:
			var top bool
			ps, top = callPatches(ps, n, parent, inFunc(stack))
			topReturn = topReturn || top
		}
		if descend {
			stack = append(stack, n)
		}
		return descend
	})
	return ps, topReturn, bash
}

// sglPatches corrects a single-quoted part of a word: in a pattern, its
// text escaped (whole: it is replaced); inside "${x:-…}", where dash
// reads ' as a plain character and what lies between as double-quoted
// text ('$HOME' is a quote, the expansion, a quote).
func sglPatches(ps []patch, n *syntax.SglQuoted, role role) (_ []patch, whole bool) {
	switch role {
	case rolePattern:
		return append(ps, patch{int(n.Pos().Offset()), int(n.End().Offset()), patternEscape(n.Value)}), true
	case roleParamDQ:
		// An expansion opened inside the quotes ('${', '$(', '`') would be
		// cut in two by the rewrite: left to upstream's reading
		// (FuzzConform: "${0+'${'}}").
		if n.Dollar || strings.ContainsAny(n.Value, "\"`") || strings.Contains(n.Value, "${") || strings.Contains(n.Value, "$(") {
			return ps, false
		}
		off, end := int(n.Pos().Offset()), int(n.End().Offset())
		ps = append(ps, patch{off, off + 1, `"'`}, patch{end - 1, end, `'"`})
		// `$[` is no expansion to dash; upstream would read it as
		// bash's old arithmetic once quoted. A `\$[` is escaped already
		// (FuzzConform: "${0+'\$['}").
		for i := strings.Index(n.Value, "$["); i >= 0; {
			if evenBackslashes([]byte(n.Value[:i])) {
				ps = append(ps, patch{off + 1 + i, off + 1 + i, `\`})
			}
			j := strings.Index(n.Value[i+2:], "$[")
			if j < 0 {
				break
			}
			i += 2 + j
		}
	}
	return ps, false
}

// callPatches corrects a simple command: cd, getopts, and an assignment
// before a special builtin (`X=1 :` becomes `{ X=1; :; }`, so that it
// persists); topReturn says it is a `return` outside any function.
func callPatches(ps []patch, n *syntax.CallExpr, parent syntax.Node, inFunc bool) (_ []patch, topReturn bool) {
	ps = cdPatches(ps, n)
	ps = getoptsPatches(ps, n)
	if len(n.Args) == 0 {
		return ps, false
	}
	name := n.Args[0].Lit()
	if len(n.Assigns) > 0 && specialBuiltins[name] && !hasRedirs(parent) {
		last := n.Assigns[len(n.Assigns)-1]
		ps = append(ps,
			patch{int(n.Pos().Offset()), int(n.Pos().Offset()), "{ "},
			patch{int(last.End().Offset()), int(last.End().Offset()), ";"},
			patch{int(n.End().Offset()), int(n.End().Offset()), "; }"})
	}
	return ps, name == "return" && !inFunc
}

// nodePatches are the corrections of bashisms.go, loops.go, listing.go
// and structural.go for one node; descend is false when the node was
// replaced whole.
func nodePatches(ps []patch, n syntax.Node, src []byte) (_ []patch, descend bool) {
	switch n := n.(type) {
	case *syntax.TestClause, *syntax.ArithmCmd, *syntax.LetClause:
		return notFoundPatch(ps, n, src)
	case *syntax.DeclClause:
		return notFoundPatch(listingPatches(ps, n), n, src)
	case *syntax.WhileClause:
		return whileCondPatch(loopStatusPatches(ps, n), n), true
	case *syntax.BinaryArithm:
		return divisorPatch(ps, n, src), true
	case *syntax.BinaryCmd:
		return pipePatches(ps, n, src), true
	case *syntax.Assign:
		if n.Append && n.Name != nil && int(n.Name.End().Offset()) < len(src) && src[n.Name.End().Offset()] == '+' {
			// `A+=x` is bash's; to dash it is a command word (not
			// found, 127): the + escaped, upstream reads it so too
			// (FuzzConform: "0|A+=").
			at := int(n.Name.End().Offset())
			return append(ps, patch{at, at, `\`}), false
		}
	}
	return ps, true
}

func hasRedirs(n syntax.Node) bool {
	st, ok := n.(*syntax.Stmt)
	return ok && len(st.Redirs) > 0
}

// inFunc says whether the innermost statement list is a function body
// (a subshell or command substitution counts as one: `return` there is
// not the file's).
func inFunc(stack []syntax.Node) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		switch stack[i].(type) {
		case *syntax.FuncDecl, *syntax.Subshell, *syntax.CmdSubst, *syntax.ProcSubst:
			return true
		}
	}
	return false
}
