package hooks

import (
	"bytes"
	"fmt"
	"sort"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// `export -p`, `export`, `readonly -p` and `readonly` list variables in
// dash's form (`export NAME='value'`, reusable as input). mvdan.cc/sh/v3
// (v3.14.1) fails on `export -p` and prints bash's `declare -x` form
// otherwise. conform turns such a listing into the internal builtin
// (listingPatches).

const listCmd = "servicectl-builtin-list"

func builtinList(hc interp.HandlerContext, args []string) error {
	if len(args) != 1 {
		return exitCode(2)
	}
	kind := args[0]
	type nv struct{ name, value string }
	var vars []nv
	unset := map[string]bool{}
	hc.Env.Each(func(name string, vr expand.Variable) bool {
		if kind == "export" && !vr.Exported || kind == "readonly" && !vr.ReadOnly {
			return true
		}
		if vr.Kind == expand.Indexed || vr.Kind == expand.Associative {
			return true
		}
		if !vr.IsSet() {
			unset[name] = true
		}
		vars = append(vars, nv{name, vr.String()})
		return true
	})
	sort.Slice(vars, func(i, j int) bool { return vars[i].name < vars[j].name })
	for _, v := range vars {
		if unset[v.name] {
			fmt.Fprintf(hc.Stdout, "%s %s\n", kind, v.name)
			continue
		}
		fmt.Fprintf(hc.Stdout, "%s %s=%s\n", kind, v.name, dashQuote(v.value))
	}
	return nil
}

// listingPatches: see above.
func listingPatches(ps []patch, d *syntax.DeclClause) []patch {
	kind := d.Variant.Value
	if kind != "export" && kind != "readonly" {
		return ps
	}
	switch {
	case len(d.Args) == 0:
	case len(d.Args) == 1 && d.Args[0].Name == nil && d.Args[0].Value != nil && d.Args[0].Value.Lit() == "-p":
	default:
		return ps
	}
	return append(ps, patch{int(d.Pos().Offset()), int(d.End().Offset()), listCmd + " " + kind})
}

// pipePatches run the last command of a pipeline in a subshell, as dash
// runs every one: mvdan.cc/sh/v3 (v3.14.1, (*Runner).cmd, syntax.Pipe)
// runs it in the shell itself (bash's lastpipe), so `… | while read l;
// do n=$((n+1)); done` changed n, and an `exit` there ended the script.
func pipePatches(ps []patch, b *syntax.BinaryCmd, src []byte) []patch {
	if !wrapPipe(b) || !closable(b.Y, src) {
		return ps
	}
	off := int(b.Y.Pos().Offset())
	return append(ps, patch{off, off, "( "})
}

// pipeClose closes what pipePatches opened; findPatches adds it once the
// pipeline's insides are done, so that their insertions at the same
// offset come first.
func pipeClose(ps []patch, b *syntax.BinaryCmd, src []byte) []patch {
	if !wrapPipe(b) || !closable(b.Y, src) {
		return ps
	}
	end := stmtEnd(b.Y)
	return append(ps, patch{end, end, " )"})
}

func wrapPipe(b *syntax.BinaryCmd) bool {
	if b.Op != syntax.Pipe || b.Y == nil || b.Y.Cmd == nil {
		return false
	}
	switch b.Y.Cmd.(type) {
	case *syntax.Subshell, *syntax.BinaryCmd:
		return false // already one, or a pipeline whose own last part is
	}
	return true
}

// closable says whether a parenthesis can follow st's text: not after a
// simple command with a # in its words, where upstream's lexer may read
// the # as a comment once the text around it changed (`0$0#`: found by
// FuzzConform). Such a command stays in the shell, as upstream runs it; a
// program there runs in a process of its own either way.
func closable(st *syntax.Stmt, src []byte) bool {
	switch st.Cmd.(type) {
	case *syntax.Block, *syntax.Subshell, *syntax.IfClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseClause:
		return true
	}
	off, end := int(st.Pos().Offset()), stmtEnd(st)
	return end <= len(src) && bytes.IndexByte(src[off:end], '#') < 0
}
