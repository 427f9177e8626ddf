package dashboard

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// TestStatusAnswerRoundTrip: what the daemon writes, the command line
// reads back field for field, whatever the text holds; a cut or
// doctored answer is refused, never half read.
func TestStatusAnswerRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 6, 1, 2, 3, 456789, time.FixedZone("X", 3600))
	in := statusAnswer{
		Statuses: []lifecycle.Status{
			{Service: "web@a", Package: "web", Version: "1.2", State: "running", Pid: 42, StartedAt: &at, RunName: "web-a", Restarts: 3, Stale: true, Upgraded: true, Sockets: []string{"tcp::8080", "unix:/run/x.sock"}},
			{Service: "odd", State: "stopped", ConfigError: "config:3: tab\there, \"quotes\",\nnew line, ünïcode", Detail: "\\x00"},
		},
		Errors: []wireError{{Service: "odd", Kind: pkgsvc.KindConfig, Message: "line 1\nline 2"}, {Kind: pkgsvc.KindFailed, Message: "x", Status: 5}},
	}
	body := in.encode()
	out, err := decodeStatus(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	got := out.Statuses[0].StartedAt
	if got == nil || !got.Equal(at) || got.Format(time.RFC3339Nano) != at.Format(time.RFC3339Nano) {
		t.Errorf("started_at %v, want %v", got, at)
	}
	out.Statuses[0].StartedAt = &at // a parsed zone is another *Location
	if !reflect.DeepEqual(*out, in) {
		t.Errorf("round trip:\n%+v\n%+v", *out, in)
	}
	if err := out.about([]string{"web", "odd"}); err != nil {
		t.Errorf("about: %v", err)
	}
	if err := out.about([]string{"odd"}); err == nil {
		t.Errorf("an answer naming web@a passed for one about odd")
	}
	lines := strings.SplitAfter(string(body), "\n")
	for i := 1; i < len(lines); i++ {
		cut := strings.Join(lines[:i], "")
		if _, err := decodeStatus([]byte(cut)); err == nil && cut != string(body) {
			t.Errorf("an answer cut after %d lines was read", i)
		}
	}
	for _, bad := range []string{"S\t\"a\"\nend\n", "X\nend\n", "S" + strings.Repeat("\t1", 13) + "\nend\n", "E\t1\t0\t\"a\"\t\"unterminated\nend\n"} {
		if _, err := decodeStatus([]byte(bad)); err == nil {
			t.Errorf("garbage read: %q", bad)
		}
	}
}
