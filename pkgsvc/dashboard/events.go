package dashboard

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one thing the daemon did or saw (a crash, a restart, a file
// change applied), kept for the dashboard.
type Event struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Kind    string            `json:"kind"` // crash, revival, failed, change, refusal, api, info
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// EventKinds are the kinds the page filters on.
var EventKinds = []string{"crash", "revival", "failed", "change", "refusal", "api", "info"}

// kindOf classifies a record for the page's filter: what the
// supervisor, the file watcher and the API log, by their messages (or a
// "kind" attribute when the logger set one).
func kindOf(msg string, attrs map[string]string) string {
	if k := attrs["kind"]; k != "" {
		return k
	}
	switch {
	case strings.HasPrefix(msg, "died without a stop"), strings.HasPrefix(msg, "found dead"), strings.HasPrefix(msg, "restart failed"), strings.HasPrefix(msg, "ping failed"):
		return "crash"
	case strings.HasPrefix(msg, "restarted"), strings.HasPrefix(msg, "restarting"):
		return "revival"
	case strings.HasPrefix(msg, "failed"):
		return "failed"
	case attrs["part"] == "watch":
		return "change"
	case strings.HasPrefix(msg, "not restart"), strings.Contains(msg, "refus"), strings.HasPrefix(msg, "cannot"):
		return "refusal"
	}
	return "info"
}

// Events keeps the daemon's latest log records so the page can show
// what the supervisor and the file watcher did, and why.
type Events struct {
	mu     sync.Mutex
	ring   []Event
	next   int
	full   bool
	secret atomic.Pointer[string] // masked in every record (Redact)
}

// Redact masks secret wherever it would appear in a record, in the
// event list and in what the next handler writes: the token must be in
// no event or log line (SPEC §9.4), even one a future message puts it in
// by mistake.
func (e *Events) Redact(secret string) {
	if secret != "" {
		e.secret.Store(&secret)
	}
}

// mask replaces the secret in v.
func (e *Events) mask(v string) string {
	if sp := e.secret.Load(); sp != nil && strings.Contains(v, *sp) {
		return strings.ReplaceAll(v, *sp, "********")
	}
	return v
}

// NewEvents keeps the last n events.
func NewEvents(n int) *Events { return &Events{ring: make([]Event, n)} }

// List is the kept events, oldest first.
func (e *Events) List() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Event{}
	if e.full {
		out = append(out, e.ring[e.next:]...)
	}
	return append(out, e.ring[:e.next]...)
}

func (e *Events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ring[e.next] = ev
	e.next = (e.next + 1) % len(e.ring)
	if e.next == 0 {
		e.full = true
	}
}

// Handler passes records on to next and keeps them.
func (e *Events) Handler(next slog.Handler) slog.Handler { return &teeHandler{e: e, next: next} }

type teeHandler struct {
	e     *Events
	next  slog.Handler
	attrs []slog.Attr
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	ev := Event{Time: r.Time, Level: r.Level.String(), Message: h.e.mask(r.Message), Attrs: map[string]string{}}
	for _, a := range h.attrs {
		ev.Attrs[a.Key] = h.e.mask(a.Value.String())
	}
	out := slog.NewRecord(r.Time, r.Level, ev.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		v := h.e.mask(a.Value.String())
		ev.Attrs[a.Key] = v
		if v != a.Value.String() {
			a = slog.String(a.Key, v)
		}
		out.AddAttrs(a)
		return true
	})
	ev.Kind = kindOf(ev.Message, ev.Attrs)
	h.e.add(ev)
	return h.next.Handle(ctx, out)
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = a
		if v := h.e.mask(a.Value.String()); v != a.Value.String() {
			masked[i] = slog.String(a.Key, v)
		}
	}
	return &teeHandler{e: h.e, next: h.next.WithAttrs(masked), attrs: append(append([]slog.Attr{}, h.attrs...), masked...)}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{e: h.e, next: h.next.WithGroup(name), attrs: h.attrs}
}
