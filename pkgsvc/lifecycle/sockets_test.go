package lifecycle

import (
	"fmt"
	"net"
	"os"
	"servicectl/pkgsvc"
	"strings"
	"syscall"
	"testing"
)

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
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("services/bad/config:%d:", line)) || !strings.Contains(fmt.Sprint(err), "$NOPE is not set") {
		t.Errorf("bad entry: %v (kind %v)", err, pkgsvc.KindOf(err))
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
	if _, err := bindSocket(pkgsvc.Socket{Entry: "unix:web.sock", Network: "unix", Address: path}, -1, -1); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
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
	f, err := bindSocket(pkgsvc.Socket{Entry: "unix:web.sock", Network: "unix", Address: path}, uid, gid)
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
	if pkgsvc.KindOf(err) != pkgsvc.KindConfig || !strings.Contains(fmt.Sprint(err), "WEB_PORT is required but not set") {
		t.Errorf("start: %v (kind %v)", err, pkgsvc.KindOf(err))
	}
}
