package dashboard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
)

// AskWithin is how long the command line waits for the daemon's answer
// before it works alone (SPEC §9.5).
const AskWithin = 100 * time.Millisecond

// statusAnswer is the status of some services as the daemon computed
// it, failures included, so that the command line prints and exits
// exactly as it would have on its own.
type statusAnswer struct {
	Statuses []lifecycle.Status
	Errors   []wireError
}

// wireError carries a library error across daemon.sock with what the
// command line needs of it: the message and the kind (its exit code).
type wireError struct {
	Service string
	Kind    pkgsvc.Kind
	Message string
	Status  int
}

func toWire(err error) wireError {
	var pe *pkgsvc.Error
	if errors.As(err, &pe) {
		if err == error(pe) {
			return wireError{Service: pe.Service, Kind: pe.Kind, Message: pe.Err.Error(), Status: pe.Status}
		}
		return wireError{Kind: pe.Kind, Message: err.Error(), Status: pe.Status}
	}
	return wireError{Kind: pkgsvc.KindOf(err), Message: err.Error()}
}

func (w wireError) err() error {
	return &pkgsvc.Error{Kind: w.Kind, Service: w.Service, Err: errors.New(w.Message), Status: w.Status}
}

// status answers GET /api/status?name=A&name=B…: what `status` would
// compute for those services, from the daemon's view of them. An empty
// list is an empty answer.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	names := r.URL.Query()["name"]
	var ans statusAnswer
	if len(names) > 0 {
		var errs []error
		ans.Statuses, errs = s.fresh().StatusMany(r.Context(), names)
		for _, e := range errs {
			ans.Errors = append(ans.Errors, toWire(e))
		}
	}
	w.Header().Set("Content-Type", statusType)
	w.Write(ans.encode())
}

// AskStatus asks the daemon on daemon.sock for the status of names
// (SPEC §9.5). ok is false, and the caller works alone, when there is no
// socket, it is not a socket this user owns, or the daemon does not
// answer well within AskWithin: late, garbage, or an answer about other
// services. It never blocks longer than that.
func AskStatus(p *pkgsvc.Playpen, names []string) (sts []lifecycle.Status, errs []error, ok bool, why error) {
	ans, err := ask(SocketFile(p), names, AskWithin)
	if err != nil {
		return nil, nil, false, err
	}
	for _, e := range ans.Errors {
		errs = append(errs, e.err())
	}
	return ans.Statuses, errs, true, nil
}

// ownSocket refuses a daemon.sock this user (or root) does not own: a
// file some other user put there is not our daemon. The run directory is
// ours, so nobody swaps it between this look and the connect.
func ownSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSocket == 0 || st == nil || st.Uid != uint32(os.Geteuid()) && st.Uid != 0 {
		return fmt.Errorf("%s is not a socket of this user's", path)
	}
	return nil
}

func ask(path string, names []string, within time.Duration) (*statusAnswer, error) {
	if err := ownSocket(path); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(within)
	conn, err := net.DialTimeout("unix", path, within)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	q := url.Values{"name": names}
	if _, err := fmt.Fprintf(conn, "GET /api/status?%s HTTP/1.1\r\nHost: daemon.sock\r\nConnection: close\r\n\r\n", q.Encode()); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != statusType {
		return nil, fmt.Errorf("daemon answered %s (%s)", resp.Status, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	ans, err := decodeStatus(body)
	if err != nil {
		return nil, fmt.Errorf("daemon's answer: %w", err)
	}
	if err := ans.about(names); err != nil {
		return nil, err
	}
	return ans, nil
}

// about checks that an answer is about the services asked: each status
// names one of them or an instance of one. (A template with no instance
// running has no row and no error, so an answer may be shorter.)
func (a *statusAnswer) about(names []string) error {
	asked := map[string]bool{}
	for _, n := range names {
		asked[n] = true
	}
	for _, st := range a.Statuses {
		base, _, _ := strings.Cut(st.Service, "@")
		if !asked[st.Service] && !asked[base] {
			return fmt.Errorf("daemon's answer names %q, which was not asked", st.Service)
		}
	}
	return nil
}

// statusType names the answer's format and its version: a command line
// newer or older than the daemon that does not know the format works
// alone.
const statusType = "text/x-servicectl-status; v=1"

// encode writes the answer one line per status or error, fields
// separated by tabs, text quoted: a command line reads 200 of them in
// a fraction of what decoding as many JSON objects costs it. The last
// line says the answer is whole.
//
//	S service package version state pid started_at run_name restarts stale upgraded config_error detail sockets
//	E kind status service message
//	end
func (a *statusAnswer) encode() []byte {
	var b []byte
	q := func(s string) { b = strconv.AppendQuote(append(b, '\t'), s) }
	n := func(i int) { b = strconv.AppendInt(append(b, '\t'), int64(i), 10) }
	for _, st := range a.Statuses {
		b = append(b, 'S')
		q(st.Service)
		q(st.Package)
		q(st.Version)
		q(st.State)
		n(st.Pid)
		started := ""
		if st.StartedAt != nil {
			started = st.StartedAt.Format(time.RFC3339Nano)
		}
		q(started)
		q(st.RunName)
		n(st.Restarts)
		n(btoi(st.Stale))
		n(btoi(st.Upgraded))
		q(st.ConfigError)
		q(st.Detail)
		q(strings.Join(st.Sockets, " "))
		b = append(b, '\n')
	}
	for _, e := range a.Errors {
		b = append(b, 'E')
		n(int(e.Kind))
		n(e.Status)
		q(e.Service)
		q(e.Message)
		b = append(b, '\n')
	}
	return append(b, "end\n"...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decodeStatus reads what encode wrote; anything else is an error.
func decodeStatus(body []byte) (*statusAnswer, error) {
	text, ok := strings.CutSuffix(string(body), "end\n")
	if !ok {
		return nil, errors.New("cut short")
	}
	a := &statusAnswer{}
	for line := range strings.Lines(text) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		d := fieldReader{f: f}
		switch {
		case f[0] == "S" && len(f) == 14:
			st := lifecycle.Status{Service: d.str(1), Package: d.str(2), Version: d.str(3), State: d.str(4), Pid: d.num(5),
				RunName: d.str(7), Restarts: d.num(8), Stale: d.num(9) == 1, Upgraded: d.num(10) == 1,
				ConfigError: d.str(11), Detail: d.str(12)}
			if socks := strings.Fields(d.str(13)); len(socks) > 0 {
				st.Sockets = socks
			}
			if t := d.str(6); t != "" && d.err == nil {
				at, err := time.Parse(time.RFC3339Nano, t)
				st.StartedAt, d.err = &at, err
			}
			a.Statuses = append(a.Statuses, st)
		case f[0] == "E" && len(f) == 5:
			a.Errors = append(a.Errors, wireError{Kind: pkgsvc.Kind(d.num(1)), Status: d.num(2), Service: d.str(3), Message: d.str(4)})
		default:
			return nil, fmt.Errorf("line %q", line)
		}
		if d.err != nil {
			return nil, fmt.Errorf("line %q: %w", line, d.err)
		}
	}
	return a, nil
}

// fieldReader reads quoted and numeric fields, keeping the first error.
type fieldReader struct {
	f   []string
	err error
}

func (d *fieldReader) str(i int) string {
	s, err := strconv.Unquote(d.f[i])
	if err != nil && d.err == nil {
		d.err = err
	}
	return s
}

func (d *fieldReader) num(i int) int {
	n, err := strconv.Atoi(d.f[i])
	if err != nil && d.err == nil {
		d.err = err
	}
	return n
}
