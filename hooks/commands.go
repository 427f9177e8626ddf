package hooks

import (
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// Command is a command a script may run, found without running it.
type Command struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Name string `json:"command"` // the command word; "" when it is known only at run time
	Word string `json:"word,omitempty"`
	// Kind is "external", "source" (a `.` of another file), "dynamic" (a
	// command named only at run time), "builtin" (a builtin with an effect
	// outside the interpreter: kill, umask, ulimit, cd, the sub-conf
	// renderers) or "write" (a redirection that writes a file; Word is
	// its target).
	Kind string `json:"kind"`
}

// outsideBuiltins are the builtins whose effect reaches past the
// interpreter: signals, the mode and limits of what it starts, the
// working directory of what it starts, files rendered.
var outsideBuiltins = map[string]bool{"kill": true, "umask": true, "ulimit": true, "cd": true, "sub": true, "sub-conf": true, "sub-conf-dir": true}

// writesFile says whether a redirection writes a file: >, >>, >|, <>,
// &>, &>> to a target that is not a descriptor (>&2) nor /dev/null.
func writesFile(r *syntax.Redirect) bool {
	switch r.Op {
	case syntax.RdrOut, syntax.AppOut, syntax.ClbOut, syntax.RdrInOut, syntax.RdrAll, syntax.AppAll:
	default:
		return false
	}
	return r.Word == nil || r.Word.Lit() != "/dev/null"
}

// Commands lists the external commands, `.` includes, run-time command
// names, builtins with an effect outside the interpreter and
// redirections that write files of the script at path, in order, without
// running it: what `show --commands` reports (SPEC §3.2), since a config
// runs whenever servicectl reads it. Other builtins and the script's own
// functions are left out; commands in function bodies are listed (they
// run if called).
func Commands(path string) ([]Command, error) {
	c, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	funcs := map[string]bool{}
	syntax.Walk(c.file, func(n syntax.Node) bool {
		if fd, ok := n.(*syntax.FuncDecl); ok {
			funcs[fd.Name.Value] = true
		}
		return true
	})
	var out []Command
	syntax.Walk(c.file, func(n syntax.Node) bool {
		if st, ok := n.(*syntax.Stmt); ok {
			for _, r := range st.Redirs {
				if writesFile(r) {
					var b strings.Builder
					syntax.NewPrinter().Print(&b, r.Word)
					out = append(out, Command{File: path, Line: int(r.Pos().Line()), Name: r.Op.String(), Word: b.String(), Kind: "write"})
				}
			}
			return true
		}
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		w := call.Args[0]
		line := int(w.Pos().Line())
		name := w.Lit()
		if (name == "command" || name == "exec") && len(call.Args) > 1 && !strings.HasPrefix(call.Args[1].Lit(), "-") {
			w = call.Args[1] // `command foo`, `exec foo`: foo runs
			name = w.Lit()
		}
		switch {
		case name == "":
			var b strings.Builder
			syntax.NewPrinter().Print(&b, w)
			out = append(out, Command{File: path, Line: line, Word: b.String(), Kind: "dynamic"})
		case name == "." || name == "source":
			var b strings.Builder
			if len(call.Args) > 1 {
				syntax.NewPrinter().Print(&b, call.Args[1])
			}
			out = append(out, Command{File: path, Line: line, Name: name, Word: b.String(), Kind: "source"})
		case funcs[name]:
		case outsideBuiltins[name]:
			var b strings.Builder
			for i, a := range call.Args[1:] {
				if i > 0 {
					b.WriteByte(' ')
				}
				syntax.NewPrinter().Print(&b, a)
			}
			out = append(out, Command{File: path, Line: line, Name: name, Word: b.String(), Kind: "builtin"})
		case interp.IsBuiltin(name) || renamed[name] != "" || strings.HasPrefix(name, "servicectl-"):
			// servicectl-…: the internal builtins the corrections call
		default:
			out = append(out, Command{File: path, Line: line, Name: name, Kind: "external"})
		}
		return true
	})
	return out, nil
}

// AssignedAt finds where a variable gets its value in files sourced in
// that order: the last assignment to name (plain, `export`, `readonly`,
// or `${name:=…}`) in the last file that has one, by reading the files,
// not running them. It answers "where does this value come from" for
// `env --verbose`; an assignment inside a branch that did not run is
// still named, so it is a good hint, not a proof. ok is false when no
// file assigns name (the value came from the caller's environment).
func AssignedAt(files []string, name string) (file string, line int, ok bool) {
	for _, f := range files {
		c, err := parseFile(f)
		if err != nil {
			continue
		}
		syntax.Walk(c.file, func(n syntax.Node) bool {
			switch n := n.(type) {
			case *syntax.Assign:
				if n.Name != nil && n.Name.Value == name && (n.Value != nil || n.Array != nil || !n.Naked) {
					file, line, ok = f, int(n.Pos().Line()), true
				}
			case *syntax.ParamExp:
				if n.Param != nil && n.Param.Value == name && n.Exp != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) {
					file, line, ok = f, int(n.Pos().Line()), true
				}
			}
			return true
		})
	}
	return file, line, ok
}
