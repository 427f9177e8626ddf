// Package dashboard is the supervisor's HTTP side (SPEC §9.4): the JSON
// API, a small server-rendered page with a little embedded JavaScript,
// and Prometheus metrics. Every route but /metrics needs the daemon's
// token, reading too: logs and the environment report can hold secrets
// (SPEC §9.4). The token is in no answer, event or log line; cross-site
// changes are refused. On the daemon's unix socket (mode 0600) the file's
// permissions are the authentication instead. It holds no state
// of its own: every answer is read from the playpen, as the command line
// reads it, so the page, the API and `servicectl status` agree.
package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

//go:embed index.html
var indexHTML string

// page is parsed on first use, not at init: only the daemon serves it,
// and every command links this package.
var page = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("index").Parse(indexHTML))
})

// TokenFile is where the daemon's token lives, mode 0600 (§9.4).
func TokenFile(p *pkgsvc.Playpen) string { return filepath.Join(p.RunVar, "daemon.token") }

// NewToken makes a random token and writes it to TokenFile.
func NewToken(p *pkgsvc.Playpen) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := p.EnsureDirs(); err != nil {
		return "", err
	}
	// A fresh temp file (O_EXCL, so never through a planted link) renamed
	// over the path: a link or file planted there is replaced, not
	// followed. The umask cannot widen 0600.
	return tok, fsio.WriteAtomic(TokenFile(p), []byte(tok+"\n"), 0o600, false)
}

// Server serves one playpen's dashboard and API.
type Server struct {
	p         *lifecycle.Manager
	token     string
	local     bool // on daemon.sock: the socket's mode is the authentication
	events    *Events
	rotations func() map[string]int
	observe   Observer // the supervisor's view, when in the daemon
	known     func() []string
	cache     rowCache
	log       *slog.Logger // where API actions are logged (WithLogger)
	cpu       cpuSampler
	mu        sync.Mutex // one change at a time; reads go in parallel
}

// Option adds what the daemon knows beyond the playpen.
type Option func(*Server)

// WithRotations gives /metrics the supervisor's output rotation counts
// (a rotation is a counter, not an event of the list).
func WithRotations(f func() map[string]int) Option { return func(s *Server) { s.rotations = f } }

// New makes the handler for p over TCP: every route but /metrics needs
// token; events (may be nil) are what the page shows the daemon did.
func New(p *lifecycle.Manager, token string, events *Events, opts ...Option) http.Handler {
	return newServer(p, token, false, events, opts...)
}

// NewLocal makes the handler the daemon serves on its unix socket
// (daemon.sock, mode 0600): only the socket's owner can connect, so a
// request there needs no token (SPEC §9.4, §9.5).
func NewLocal(p *lifecycle.Manager, events *Events, opts ...Option) http.Handler {
	return newServer(p, "", true, events, opts...)
}

func newServer(p *lifecycle.Manager, token string, local bool, events *Events, opts ...Option) http.Handler {
	if events == nil {
		events = NewEvents(1)
	}
	s := &Server{p: p, token: token, local: local, events: events}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/services", s.need(s.list))
	mux.HandleFunc("GET /api/status", s.need(s.status))
	mux.HandleFunc("GET /api/services/{name}", s.need(s.one))
	mux.HandleFunc("POST /api/services/{name}/{verb}", s.need(s.change))
	mux.HandleFunc("GET /api/services/{name}/logs", s.need(s.logs))
	mux.HandleFunc("GET /api/env", s.need(s.env))
	mux.HandleFunc("POST /api/env", s.need(s.setEnv))
	mux.HandleFunc("GET /api/upgrade/plan", s.need(s.plan))
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /api/events", s.need(s.eventList))
	mux.HandleFunc("GET /ui/rows", s.need(s.liveRows))
	mux.HandleFunc("POST /ui/act", s.need(s.act))
	mux.HandleFunc("POST /ui/all", s.need(s.act))
	mux.HandleFunc("POST /ui/env", s.need(s.setEnvForm))
	mux.HandleFunc("/", s.need(http.NotFound))
	// net/http's protection refuses a cross-site change (403) by
	// Sec-Fetch-Site or Origin, before the token is even looked at.
	return http.NewCrossOriginProtection().Handler(mux)
}

// need wraps a route that needs the token (every one but /metrics):
// 401 without it or with a wrong one, before anything is read.
func (s *Server) need(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorised(r) {
			http.Error(w, unauthorised, http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// unauthorised is what a request without the token is told: where the
// token is, never the token.
const unauthorised = "this needs the daemon's token: open the URL `servicectl daemon` printed on its standard output when it started (a new token each start), or send Authorization: Bearer with the token from $LOCAL_RUNVAR/daemon.token"

func (s *Server) fresh() *lifecycle.Manager {
	s.p.Invalidate() // configs may have changed since the last request
	return s.p
}

// authorised compares the token in constant time: Authorization: Bearer,
// or the cookie that opening the daemon's URL sets.
func (s *Server) authorised(r *http.Request) bool {
	if s.local {
		return true
	}
	got := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		got = strings.TrimPrefix(h, "Bearer ")
	} else if c, err := r.Cookie("servicectl_token"); err == nil {
		got = c.Value
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// writeJSON answers compact JSON (indenting 200 statuses costs more
// than reading them); `?pretty=1` indents as `--json` does.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if r.URL.Query().Get("pretty") == "1" {
		enc.SetIndent("", "  ")
	}
	enc.Encode(v)
}

// httpStatus is the status for a library error kind.
func httpStatus(err error) int {
	switch pkgsvc.KindOf(err) {
	case pkgsvc.KindUnknown:
		return http.StatusNotFound
	case pkgsvc.KindUsage:
		return http.StatusBadRequest
	case pkgsvc.KindConfig:
		return http.StatusUnprocessableEntity
	case pkgsvc.KindNotRunning:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func fail(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), httpStatus(err))
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		// The URL the daemon prints: keep the token in a cookie that
		// only this origin sends, and drop it from the address bar.
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "servicectl_token", Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.authorised(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>servicectl</title><p>%s</p>\n", template.HTMLEscapeString(unauthorised))
		return
	}
	s.renderPage(w, r)
}

// names are the services the page lists: every service, and the running
// instances of templates (status --all).
func names(p *pkgsvc.Playpen) ([]string, error) {
	return p.AllServices()
}

// statuses is the status of every service, as the list and the metrics
// show it.
func (s *Server) statuses(ctx context.Context) (*lifecycle.Manager, []lifecycle.Status, error) {
	p := s.fresh()
	ns, err := names(p.Playpen)
	if err != nil {
		return p, nil, err
	}
	sts, _ := p.StatusMany(ctx, ns)
	if sts == nil {
		sts = []lifecycle.Status{}
	}
	return p, sts, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	p, sts, err := s.statuses(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, r, s.decorate(p, sts))
}

func (s *Server) one(w http.ResponseWriter, r *http.Request) {
	p := s.fresh()
	st, err := p.Status(r.Context(), r.PathValue("name"))
	if st.State == "" && err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, r, s.decorate(p, []lifecycle.Status{st})[0])
}

func (s *Server) change(w http.ResponseWriter, r *http.Request) {
	name, verb := r.PathValue("name"), r.PathValue("verb")
	if verb != "start" && verb != "stop" && verb != "restart" {
		http.Error(w, "unknown action "+verb+" (start, stop or restart)", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.fresh()
	if err := s.actOne(r, p, name, verb); err != nil {
		fail(w, err)
		return
	}
	st, _ := p.Status(r.Context(), name)
	writeJSON(w, r, s.decorate(p, []lifecycle.Status{st})[0])
}

// sseWriter turns lines into server-sent events, flushing each.
type sseWriter struct {
	w   http.ResponseWriter
	f   http.Flusher
	buf bytes.Buffer
}

func (s *sseWriter) Write(b []byte) (int, error) {
	s.buf.Write(b)
	for {
		line, err := s.buf.ReadString('\n')
		if err != nil {
			s.buf.WriteString(line) // an unfinished line waits
			break
		}
		if _, err := fmt.Fprintf(s.w, "data: %s\n\n", strings.TrimSuffix(line, "\n")); err != nil {
			return 0, err
		}
	}
	s.f.Flush()
	return len(b), nil
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	n := 200
	if v, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && v >= 0 {
		n = v
	}
	if r.URL.Query().Get("follow") != "1" {
		var b bytes.Buffer
		if err := s.p.Logs(r.Context(), name, n, false, &b); err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(b.Bytes())
		return
	}
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	err := s.p.Logs(r.Context(), name, n, true, &sseWriter{w: w, f: f})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(w, "event: error\ndata: %s\n\n", err)
		f.Flush()
	}
}

func (s *Server) env(w http.ResponseWriter, r *http.Request) {
	p := s.fresh()
	ns, err := names(p.Playpen)
	if err != nil {
		fail(w, err)
		return
	}
	es, err := p.EnvReport(ns)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, r, es)
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	var set []string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			set = append(set, k+"="+v)
		}
	}
	sort.Strings(set)
	plan, err := upgrade.MakePlan(r.Context(), s.fresh(), upgrade.PlanOptions{Set: set})
	var down *upgrade.DowngradeError
	if errors.As(err, &down) {
		// Refused, not broken: 409 with the reason and what to do.
		http.Error(w, upgrade.WithHint(err, "the page does not allow downgrades: run `servicectl upgrade plan --allow-downgrade "+down.Package+"="+down.New+"` on the command line").Error(), http.StatusConflict)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, r, plan.Report())
}

// metrics serves Prometheus text: up, restarts, uptime and crashes per
// service.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	p, sts, err := s.statuses(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	bw := bufio.NewWriter(w)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintln(bw, "# HELP servicectl_up 1 when the service runs.\n# TYPE servicectl_up gauge")
	for _, st := range sts {
		up := 0
		if st.State == pkgsvc.StateRunning {
			up = 1
		}
		fmt.Fprintf(bw, "servicectl_up{service=%q,state=%q} %d\n", st.Service, st.State, up)
	}
	fmt.Fprintln(bw, "# HELP servicectl_restarts Restarts recorded since the service was first started.\n# TYPE servicectl_restarts gauge")
	for _, st := range sts {
		fmt.Fprintf(bw, "servicectl_restarts{service=%q} %d\n", st.Service, st.Restarts)
	}
	fmt.Fprintln(bw, "# HELP servicectl_uptime_seconds Seconds since the service started.\n# TYPE servicectl_uptime_seconds gauge")
	now := time.Now()
	for _, st := range sts {
		up := 0.0
		if st.State == pkgsvc.StateRunning && st.StartedAt != nil {
			up = now.Sub(*st.StartedAt).Seconds()
		}
		fmt.Fprintf(bw, "servicectl_uptime_seconds{service=%q} %.3f\n", st.Service, up)
	}
	fmt.Fprintln(bw, "# HELP servicectl_crashes Crashes counted by the supervisor when it gave up (failed).\n# TYPE servicectl_crashes gauge")
	for _, st := range sts {
		n := 0
		if rec, _ := p.ServiceState(st.Service); rec != nil {
			n = rec.Crashes
		}
		fmt.Fprintf(bw, "servicectl_crashes{service=%q} %d\n", st.Service, n)
	}
	s.usageMetrics(bw, p, sts)
	if s.rotations != nil {
		fmt.Fprintln(bw, "# HELP servicectl_output_rotations_total Output file rotations by the supervisor since it started.\n# TYPE servicectl_output_rotations_total counter")
		rot := s.rotations()
		for _, st := range sts {
			fmt.Fprintf(bw, "servicectl_output_rotations_total{service=%q} %d\n", st.Service, rot[st.Service])
		}
	}
	bw.Flush()
}

// filtered is the event list, only svc's (its instances too for a
// template) and only of kind, when given.
func (s *Server) filtered(svc, kind string) []Event {
	list := s.events.List()
	kept := list[:0]
	for _, e := range list {
		if n := e.Attrs["service"]; svc != "" && n != svc && !strings.HasPrefix(n, svc+"@") {
			continue
		}
		if kind != "" && e.Kind != kind {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// eventList answers /api/events, the service's own with ?service=NAME
// (its instances too for a template), of one kind with ?kind=.
func (s *Server) eventList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, s.filtered(r.URL.Query().Get("service"), r.URL.Query().Get("kind")))
}

var _ io.Writer = (*sseWriter)(nil)

// SocketFile is the daemon's unix socket (SPEC §9.4, §9.5).
func SocketFile(p *pkgsvc.Playpen) string { return filepath.Join(p.RunVar, "daemon.sock") }

// ListenSocket binds SocketFile with mode 0600 from its first moment: it
// is bound in a fresh directory of mode 0700 and renamed into place, so
// no other user can connect in between, and whatever was at the path (a
// socket a killed daemon left, or a link planted there) is replaced,
// never followed. The returned func closes it and removes the file.
func ListenSocket(p *pkgsvc.Playpen) (net.Listener, func(), error) {
	dir, err := os.MkdirTemp(p.RunVar, ".sock-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "daemon.sock")
	// A socket's path is at most 107 bytes and a playpen's run directory
	// can be deeper: bind through the directory's descriptor instead.
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("unix", "/proc/self/fd/"+strconv.Itoa(int(d.Fd()))+"/daemon.sock")
	d.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", SocketFile(p), err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	path := SocketFile(p)
	if err := os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ln, func() {
		ln.Close()
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(path)
		}
	}, nil
}
