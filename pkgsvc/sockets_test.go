package pkgsvc

import (
	"strings"
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
