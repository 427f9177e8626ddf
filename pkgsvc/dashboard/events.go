package dashboard

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Event is one thing the daemon did or saw (a crash, a restart, a file
// change applied), kept for the dashboard.
type Event struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// Events keeps the daemon's latest log records so the page can show
// what the supervisor and the file watcher did, and why.
type Events struct {
	mu   sync.Mutex
	ring []Event
	next int
	full bool
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
	ev := Event{Time: r.Time, Level: r.Level.String(), Message: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		ev.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		ev.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.e.add(ev)
	return h.next.Handle(ctx, r)
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{e: h.e, next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{e: h.e, next: h.next.WithGroup(name), attrs: h.attrs}
}
