package testkit

import (
	"bytes"
	"os"
	"strconv"
)

// Shape is a program shape real services take (issue 22): how the
// process servicectl launches becomes the program that serves. Each
// ends in /bin/sleep 1000, the program, so a test can tell from
// /proc/PID/cmdline when it runs.
type Shape struct {
	Name string
	// Files are written under the playpen (Tree's map form); Config is
	// the service's config body.
	Files  map[string]string
	Config string
	// Forks is set when the launched process stays a shell that waits on
	// the program (no exec): the program is another pid of its session.
	Forks bool
}

// Shapes are the wrappers the identity tests run: exec at once, after
// service_start_secs, after 3 s; a wrapper exec'ing a wrapper; bash's
// `exec -a`; a program re-exec'ing itself (a binary upgrade, same pid);
// a launcher that forks and waits; a launcher named like the binary it
// runs; and one that ignores SIGTERM.
func Shapes(long bool) []Shape {
	cfg := func(prog, extra string) string {
		return "service_program=" + prog + "\nservice_start_secs=0.3\nservice_stop_timeout=2\n" + extra
	}
	s := []Shape{
		{Name: "exec-at-once", Files: map[string]string{"bin/w1*": "#!/bin/sh\nexec /bin/sleep 1000\n"}, Config: cfg("w1", "")},
		{Name: "exec-late", Files: map[string]string{"bin/w2*": "#!/bin/sh\n/bin/sleep 0.6\nexec /bin/sleep 1000\n"}, Config: cfg("w2", "")},
		{Name: "exec-twice", Files: map[string]string{"bin/outer*": "#!/bin/sh\nexport STAGE=outer\nexec /bin/sh -c '/bin/sleep 0.2; exec /bin/sleep 1000'\n"}, Config: cfg("outer", "")},
		{Name: "exec-a", Files: map[string]string{"bin/wa*": "#!/bin/bash\nexec -a my-server /bin/sleep 1000\n"}, Config: cfg("wa", "")},
		{Name: "reexec-self", Files: map[string]string{"bin/nginxish*": "#!/bin/sh\nif [ -z \"$REEXECED\" ]; then\n  /bin/sleep 0.5\n  export REEXECED=1\n  exec /bin/sh \"$0\" \"$@\"\nfi\nexec /bin/sleep 1000\n"}, Config: cfg("nginxish", "")},
		{Name: "fork-and-wait", Files: map[string]string{"bin/launcher*": "#!/bin/sh\n/bin/sleep 1000 &\nwait\n"}, Config: cfg("launcher", ""), Forks: true},
		{Name: "named-java", Files: map[string]string{"bin/java*": "#!/bin/sh\nexec /bin/sleep 1000\n"}, Config: cfg("java", "")},
		{Name: "ignores-term", Files: map[string]string{"bin/stubborn*": "#!/bin/sh\ntrap '' TERM\nexec /bin/sleep 1000\n"}, Config: cfg("stubborn", "service_stop_timeout=0.5\n")},
	}
	if long {
		s = append(s, Shape{Name: "exec-after-3s", Files: map[string]string{"bin/w3*": "#!/bin/sh\n/bin/sleep 3\nexec /bin/sleep 1000\n"}, Config: cfg("w3", "")})
	}
	return s
}

// ProgramPid is the pid of the program (/bin/sleep 1000) in the session
// that pid leads, or 0 while it does not run yet: the launched process
// itself once it exec'd, or its child for a shape that forks. It looks
// only at processes of that session, which the test started.
func ProgramPid(pid int) int {
	if isProgram(pid) {
		return pid
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		q, err := strconv.Atoi(e.Name())
		if err != nil || q == pid || SessionOf(q) != pid {
			continue
		}
		if isProgram(q) {
			return q
		}
	}
	return 0
}

func isProgram(pid int) bool {
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := bytes.Split(cmd, []byte{0})
	return len(args) >= 2 && string(args[1]) == "1000"
}

// SessionOf is pid's session id, or -1.
func SessionOf(pid int) int {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 4 || string(f[0]) == "Z" {
		return -1
	}
	sid, _ := strconv.Atoi(string(f[3]))
	return sid
}

// SessionMembers counts the live processes of the session sid leads:
// what a stop must leave none of.
func SessionMembers(sid int) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if q, err := strconv.Atoi(e.Name()); err == nil && SessionOf(q) == sid {
			n++
		}
	}
	return n
}
