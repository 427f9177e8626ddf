package pkgsvc

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestParseSockets: the entries of service_sockets (§4.11), resolved
// against the service environment, and the rule a bad one breaks.
func TestParseSockets(t *testing.T) {
	env := map[string]string{"WEB_PORT": "8080", "EMPTY": "", "BAD": "http"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	cases := []struct{ entry, network, addr, err string }{
		{"tcp:8080", "tcp", ":8080", ""},
		{"tcp:127.0.0.1:$WEB_PORT", "tcp", "127.0.0.1:8080", ""},
		{"tcp:${WEB_PORT}", "tcp", ":8080", ""},
		{"tcp6:[::1]:8081", "tcp6", "[::1]:8081", ""},
		{"tcp6:8081", "tcp6", ":8081", ""},
		{"udp:0.0.0.0:5353", "udp", "0.0.0.0:5353", ""},
		{"unix:web.sock", "unix", "/run/x/web.sock", ""},
		{"unix:/tmp/a.sock", "unix", "/tmp/a.sock", ""},
		{"tcp:0", "", "", "not a number from 1 to 65535"},
		{"tcp:65536", "", "", "not a number from 1 to 65535"},
		{"tcp:$NOPE", "", "", "$NOPE is not set"},
		{"tcp:$EMPTY", "", "", "$EMPTY is not set"},
		{"tcp:$BAD", "", "", `port "http"`},
		{"tcp:example.com:80", "", "", "not an IP address"},
		{"sctp:80", "", "", "unknown kind"},
		{"8080", "", "", "want tcp:[ADDR:]PORT"},
		{"unix:" + strings.Repeat("x", 120), "", "", "longer than a socket's 107 bytes"},
	}
	for _, c := range cases {
		got, err := parseSocket(c.entry, "/run/x", lookup)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want an error with %q", c.entry, err, c.err)
		case c.err == "" && (err != nil || got.Network != c.network || got.Address != c.addr):
			t.Errorf("%s: %+v %v, want %s %s", c.entry, got, err, c.network, c.addr)
		}
	}
	if _, err := parseSockets([]string{"tcp:8080", "tcp:$WEB_PORT"}, "/run/x", lookup); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("the same socket twice: %v", err)
	}
	if n := (Socket{Entry: "tcp:127.0.0.1:$WEB_PORT"}).FDName(); n != "tcp-127.0.0.1-$WEB_PORT" {
		t.Errorf("FDName %q", n)
	}
}

// TestSocketConfigErrors: a bad entry is a config error (exit 6) naming
// the file and line; two services handed the same port clash (§6.4)
// before anything starts.
func TestSocketConfigErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	x := newTP(t, merge(
		project("bad", "sleep", "\n\nservice_sockets='tcp:$NOPE'\n"),
		project("a", "sleep", fmt.Sprintf("service_sockets='tcp:127.0.0.1:%d'\n", port)),
		project("b", "sleep", fmt.Sprintf("service_sockets=tcp:%d\n", port)),
	))
	cfg, _ := os.ReadFile(x.root + "/services/bad/config")
	line := 1 + strings.Count(string(cfg[:strings.Index(string(cfg), "service_sockets")]), "\n")
	_, err = x.p.Resolve("bad")
	if KindOf(err) != KindConfig || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("services/bad/config:%d:", line)) || !strings.Contains(fmt.Sprint(err), "$NOPE is not set") {
		t.Errorf("bad entry: %v (kind %v)", err, KindOf(err))
	}
	rs := x.reopen().StartMany(bg, []string{"a", "b"}, ManyOptions{})
	clash := false
	for _, r := range rs {
		clash = clash || r.Err != nil && strings.Contains(r.Err.Error(), fmt.Sprint(port))
	}
	if !clash {
		t.Errorf("two services handed port %d started: %v", port, rs)
	}
}

// TestUnixSocketNeverFollowsALink: a link planted where a unix socket
// goes is refused by name, and what it points to is untouched; a stale
// socket file a stopped service left is replaced.
func TestUnixSocketNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	target := dir + "/precious"
	os.WriteFile(target, []byte("keep"), 0o600)
	path := dir + "/web.sock"
	os.Symlink(target, path)
	if _, err := bindSocket(Socket{Entry: "unix:web.sock", Network: "unix", Address: path}, -1, -1); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Errorf("a planted link: %v", err)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep" {
		t.Errorf("the link's target changed: %q", data)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // a stale socket file
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = 65534, 65534 // the service's user and group (service_user=nobody)
	}
	f, err := bindSocket(Socket{Entry: "unix:web.sock", Network: "unix", Address: path}, uid, gid)
	if err != nil {
		t.Fatalf("over a stale socket file: %v", err)
	}
	f.Close()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the socket file: %v %v", fi, err)
	}
	if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
		t.Errorf("the socket file is owned by %d:%d, want the service's %d:%d", st.Uid, st.Gid, uid, gid)
	}
}

// TestSocketOnAnUnsetPortVariable: an entry on a declared port variable
// that has no value yet does not hide the environment check's own
// message (which says how to set it); the start is refused all the same.
func TestSocketOnAnUnsetPortVariable(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "service_required_envars=WEB_PORT\nservice_envar_WEB_PORT_type=port\nservice_sockets='tcp:127.0.0.1:$WEB_PORT'\n")))
	if _, err := x.p.Resolve("web"); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	err := x.reopen().Start(bg, "web", StartOptions{})
	if KindOf(err) != KindConfig || !strings.Contains(fmt.Sprint(err), "WEB_PORT is required but not set") {
		t.Errorf("start: %v (kind %v)", err, KindOf(err))
	}
}
