package hooks

import (
	"strconv"

	"mvdan.cc/sh/v3/syntax"
)

// A while or until loop's status is its body's last command's, or 0 when
// the body never ran (POSIX; dash and bash). mvdan.cc/sh/v3 (v3.14.1,
// (*Runner).cmd, WhileClause) clears the status the failing condition
// left and ends with 0, so `f() { while …; do …; false; done; }` returns
// 0, and `set -e` never sees such a loop fail. servicectl keeps the
// status itself (loopStatusPatches):
//
//	{ while C; do servicectl-loop N $?; B; servicectl-loop N $? keep; done; servicectl-loop N end; }
//
// The first call starts the body at 0 (a break or continue leaves that),
// the second records its status; each returns the status it is given, so
// $? in the body and in the next condition is what sh says. The last
// returns the recorded status.

const loopCmd = "servicectl-loop"

func (s *Session) builtinLoop(args []string) error {
	if len(args) < 2 {
		return exitCode(2)
	}
	id := args[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loops == nil {
		s.loops = map[string]int{}
	}
	if args[1] == "end" {
		code := s.loops[id]
		delete(s.loops, id)
		return exitCode(code)
	}
	code, _ := strconv.Atoi(args[1])
	if len(args) > 2 && args[2] == "keep" {
		s.loops[id] = code
	} else {
		s.loops[id] = 0
	}
	return exitCode(code)
}

func loopStatusPatches(ps []patch, w *syntax.WhileClause) []patch {
	if !w.DoPos.IsValid() || !w.DonePos.IsValid() {
		return ps
	}
	id := "l" + strconv.Itoa(int(w.WhilePos.Offset()))
	do, done := int(w.DoPos.Offset())+2, int(w.DonePos.Offset())
	return append(ps,
		patch{int(w.WhilePos.Offset()), int(w.WhilePos.Offset()), "{ "},
		patch{do, do, " " + loopCmd + " " + id + " $?;"},
		patch{done, done, loopCmd + " " + id + " $? keep; "},
		patch{done + 4, done + 4, "; " + loopCmd + " " + id + " end; }"})
}
