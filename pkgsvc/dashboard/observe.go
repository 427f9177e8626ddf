package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/proc"
)

// ServiceStatus is a service's status object as the daemon answers it
// (SPEC §9.4): `status --json`'s fields and what only the daemon knows.
type ServiceStatus struct {
	lifecycle.Status
	LastExit   *pkgsvc.Exit   `json:"last_exit"`
	Health     *pkgsvc.Health `json:"health"`
	CPUPercent *float64       `json:"cpu_percent"` // over the last few seconds; null until two samples
	RSSBytes   *int64         `json:"rss_bytes"`   // the service's session
	Crashes    int            `json:"crashes"`     // counted when it was marked failed
}

// Observer says what the supervisor saw of a service (supervise's
// Observed): its last exit and its health.
type Observer func(name string) (*pkgsvc.Exit, *pkgsvc.Health)

// WithObserver adds the supervisor's view to every status object.
func WithObserver(f Observer) Option { return func(s *Server) { s.observe = f } }

// WithLogger is where the API's actions are logged (with who asked: the
// remote address, never the token), so they reach the daemon's log and
// the event list.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// cpuWindow is how far back a CPU percentage looks at most.
const cpuWindow = 5 * time.Second

// cpuSampler turns cumulative CPU ticks into a percentage over the last
// few seconds, from the samples the requests themselves take: nothing
// runs between requests, so an idle daemon stays idle.
type cpuSampler struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	at    time.Time
	ticks uint64
	pid   int
	pct   *float64
}

func (c *cpuSampler) percent(name string, pid int, ticks uint64, now time.Time) *float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]cpuSample{}
	}
	prev, ok := c.last[name]
	if !ok || prev.pid != pid || ticks < prev.ticks {
		c.last[name] = cpuSample{at: now, ticks: ticks, pid: pid}
		return nil
	}
	dt := now.Sub(prev.at).Seconds()
	if dt < 0.5 {
		return prev.pct // too close to the baseline to say more
	}
	pct := float64(ticks-prev.ticks) / proc.ClockTicks / dt * 100
	next := prev
	next.pct = &pct
	if now.Sub(prev.at) > cpuWindow {
		next = cpuSample{at: now, ticks: ticks, pid: pid, pct: &pct}
	}
	c.last[name] = next
	return &pct
}

// decorate adds the daemon's view to statuses: the supervisor's, the
// crashes its records count, and CPU and memory of each running
// service's session, read from /proc in one pass.
func (s *Server) decorate(p *lifecycle.Manager, sts []lifecycle.Status) []ServiceStatus {
	out := make([]ServiceStatus, len(sts))
	sessions := map[int]bool{}
	for i, st := range sts {
		out[i].Status = st
		if st.State == pkgsvc.StateRunning && st.Pid > 0 {
			sessions[st.Pid] = true
		}
	}
	use := map[int]proc.Usage{}
	if len(sessions) > 0 {
		use = proc.SessionUsage(sessions)
	}
	now := time.Now()
	for i := range out {
		st := &out[i]
		if s.observe != nil {
			st.LastExit, st.Health = s.observe(st.Service)
		}
		if st.State == pkgsvc.StateFailed { // the verdict records the count
			if rec, _ := p.ServiceState(st.Service); rec != nil {
				st.Crashes = rec.Crashes
			}
		}
		if u, ok := use[st.Pid]; ok && st.State == pkgsvc.StateRunning {
			rss := u.RSS
			st.RSSBytes = &rss
			st.CPUPercent = s.cpu.percent(st.Service, st.Pid, u.Ticks, now)
		}
	}
	return out
}

// asked logs an action asked through the API with who asked.
func (s *Server) asked(r *http.Request, what string, args ...any) {
	if s.log == nil {
		return
	}
	by := r.RemoteAddr
	if s.local || by == "" || by == "@" {
		by = "daemon.sock"
	}
	s.log.Info("asked through the API: "+what, append([]any{"kind", "api", "by", by}, args...)...)
}

// envRequest is the body of POST /api/env.
type envRequest struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// envAnswer is what POST /api/env answers: the new report and the
// running services whose environment the change affects (the page
// offers to restart them).
type envAnswer struct {
	Report  []pkgsvc.EnvEntry `json:"report"`
	Affects []string          `json:"affects"`
}

// setEnv answers POST /api/env (SPEC §9.4): sets a declared variable in
// etc/project.conf.local after the checks of `env --check`; 422 naming
// the rule, and nothing written, otherwise.
func (s *Server) setEnv(w http.ResponseWriter, r *http.Request) {
	var req envRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "the body must be JSON: {\"name\": \"VAR\", \"value\": \"...\"}", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.fresh()
	ns, err := names(p.Playpen)
	if err != nil {
		fail(w, err)
		return
	}
	affects, err := setLocal(r.Context(), p, ns, req.Name, req.Value)
	if err != nil {
		fail(w, err)
		return
	}
	s.asked(r, "set "+req.Name, "variable", req.Name)
	report, err := s.fresh().EnvReport(ns)
	if err != nil {
		fail(w, err)
		return
	}
	if affects == nil {
		affects = []string{}
	}
	writeJSON(w, r, envAnswer{Report: report, Affects: affects})
}

// usageMetrics writes the CPU and memory gauges (per running service,
// and the daemon's own).
func (s *Server) usageMetrics(w io.Writer, p *lifecycle.Manager, sts []lifecycle.Status) {
	rows := s.decorate(p, sts)
	fmt.Fprintln(w, "# HELP servicectl_cpu_percent CPU used by the service's processes over the last few seconds.\n# TYPE servicectl_cpu_percent gauge")
	for _, st := range rows {
		if st.CPUPercent != nil {
			fmt.Fprintf(w, "servicectl_cpu_percent{service=%q} %.2f\n", st.Service, *st.CPUPercent)
		}
	}
	fmt.Fprintln(w, "# HELP servicectl_rss_bytes Resident memory of the service's processes.\n# TYPE servicectl_rss_bytes gauge")
	for _, st := range rows {
		if st.RSSBytes != nil {
			fmt.Fprintf(w, "servicectl_rss_bytes{service=%q} %d\n", st.Service, *st.RSSBytes)
		}
	}
	self := proc.SelfUsage()
	fmt.Fprintf(w, "# HELP servicectl_daemon_rss_bytes Resident memory of the daemon.\n# TYPE servicectl_daemon_rss_bytes gauge\nservicectl_daemon_rss_bytes %d\n", self.RSS)
	fmt.Fprintf(w, "# HELP servicectl_daemon_cpu_seconds_total CPU time the daemon used.\n# TYPE servicectl_daemon_cpu_seconds_total counter\nservicectl_daemon_cpu_seconds_total %.2f\n", float64(self.Ticks)/proc.ClockTicks)
}

// setLocal sets name=value in the local override (POST /api/env, the
// page's form) and returns the services it affects: those declaring it
// that run now, which see the value at their next restart.
func setLocal(ctx context.Context, p *lifecycle.Manager, names []string, name, value string) ([]string, error) {
	declaring, err := p.SetLocalVar(names, name, value)
	if err != nil {
		return nil, err
	}
	var running []string
	for _, n := range declaring {
		if st, _ := p.Status(ctx, n); st.State == pkgsvc.StateRunning {
			running = append(running, n)
		}
	}
	return running, nil
}
