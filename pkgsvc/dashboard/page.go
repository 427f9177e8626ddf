package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"servicectl/pkgsvc"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/upgrade"
)

// The page (SPEC §9.4): rendered on the server, so it reads and works
// without JavaScript — every button is a form — and kept live by a small
// script that polls the API for what changed. No external asset, no
// build step.

// row is one service as the page shows it.
type row struct {
	ServiceStatus
	Uptime, Started, Exit, HealthText, CPU, RSS, Sockets string
	Running                                              bool
}

// envRow is one declared variable of one service.
type envRow struct {
	Service, Name, Value, Where, Type, Constraints, Problem string
	Secret                                                  bool
}

// pageData is what index.html renders.
type pageData struct {
	Project, Root  string
	Rows           []row
	Events         []Event
	Kinds          []string
	EvService      string
	EvKind         string
	Env            []envRow
	EnvErr         string
	Msg            string
	Affects        []string
	PlanQuery      string
	PlanHooks      bool
	Plan           *upgrade.PlanReport
	PlanHooksText  []string
	PlanErr        string
	Confirm        *confirmData
	GeneratedMilli string
}

// confirmData is the page a stop or restart asks from without
// JavaScript (with it, the browser's own confirm dialog).
type confirmData struct{ Verb, Service, What string }

// WithKnown adds names the supervisor has seen (instances a template ran
// and that are stopped now), so that the page keeps a row to start them
// again.
func WithKnown(f func() []string) Option { return func(s *Server) { s.known = f } }

// pageNames are the rows of the page: every service (status --all) and
// the instances the supervisor has seen.
func (s *Server) pageNames(p *lifecycle.Manager) ([]string, error) {
	ns, err := names(p.Playpen)
	if err != nil {
		return nil, err
	}
	if s.known != nil {
		have := map[string]bool{}
		for _, n := range ns {
			have[n] = true
		}
		for _, n := range s.known() {
			if !have[n] && strings.Contains(n, "@") {
				ns = append(ns, n)
				have[n] = true
			}
		}
	}
	sort.Strings(ns)
	return ns, nil
}

// rows is the services table's data.
func (s *Server) rows(ctx context.Context, p *lifecycle.Manager) ([]row, error) {
	ns, err := s.pageNames(p)
	if err != nil {
		return nil, err
	}
	sts, _ := p.StatusMany(ctx, ns)
	now := time.Now()
	var out []row
	seen := map[string]bool{}
	for _, st := range s.decorate(p, sts) {
		if seen[st.Service] { // a template's instance comes twice: by itself and for the template
			continue
		}
		seen[st.Service] = true
		out = append(out, rowOf(st, now))
	}
	return out, nil
}

func rowOf(st ServiceStatus, now time.Time) row {
	r := row{ServiceStatus: st, Running: st.State == pkgsvc.StateRunning, Uptime: "-", Started: "-", Exit: "-", HealthText: "-", CPU: "-", RSS: "-", Sockets: "-"}
	if r.Running && st.StartedAt != nil {
		r.Uptime = pkgsvc.FormatUptime(now.Sub(*st.StartedAt))
		r.Started = st.StartedAt.Local().Format("2006-01-02 15:04:05")
	}
	if e := st.LastExit; e != nil {
		r.Exit = e.String()
		if e.Asked {
			r.Exit = "stopped (" + e.String() + ")"
		}
		r.Exit += " at " + e.At.Local().Format("15:04:05")
	}
	if h := st.Health; h != nil {
		r.HealthText = "ok"
		if !h.OK {
			r.HealthText = "failing"
		}
		r.HealthText += " · " + h.Detail + " · " + h.At.Local().Format("15:04:05")
	}
	if st.CPUPercent != nil {
		r.CPU = fmt.Sprintf("%.1f%%", *st.CPUPercent)
	}
	if st.RSSBytes != nil {
		r.RSS = fmt.Sprintf("%.1f MiB", float64(*st.RSSBytes)/(1<<20))
	}
	if len(st.Sockets) > 0 {
		r.Sockets = strings.Join(st.Sockets, " ")
	}
	return r
}

// envRows is every declared variable of ns with its value (secrets
// masked, §6.1), where it was set, its type and constraints, and what is
// wrong with it.
func envRows(p *pkgsvc.Playpen, ns []string) ([]envRow, error) {
	report, err := p.EnvReport(ns)
	if err != nil {
		return nil, err
	}
	var out []envRow
	for _, e := range report {
		values := map[string]pkgsvc.EnvValue{}
		for _, v := range e.Values {
			values[v.Name] = v
		}
		problems := map[string]string{}
		for _, m := range e.Missing {
			problems[m.Name] = "missing"
		}
		for _, pr := range e.Errors {
			problems[pr.Name] = pr.Rule
		}
		for _, sp := range e.Specs {
			v := values[sp.Name]
			var cons []string
			for _, c := range sp.Constraints {
				cons = append(cons, c.String())
			}
			val := v.Value
			if problems[sp.Name] == "missing" {
				val = ""
			}
			out = append(out, envRow{Service: e.Service, Name: sp.Name, Value: val, Where: v.Source, Type: string(sp.Type),
				Constraints: strings.Join(cons, ", "), Problem: problems[sp.Name], Secret: sp.Secret})
		}
	}
	return out, nil
}

// index renders the page. Query: msg, affects (after an env change),
// service and kind (the event filter), plan and hooks (the plan view).
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request) {
	p := s.fresh()
	q := r.URL.Query()
	d := pageData{Project: p.Name, Root: p.Root, Kinds: EventKinds, EvService: q.Get("service"), EvKind: q.Get("kind"), Msg: q.Get("msg"),
		Affects: q["affects"], PlanQuery: q.Get("plan"), PlanHooks: q.Get("hooks") == "1"}
	began := time.Now()
	rows, err := s.rows(r.Context(), p)
	if err != nil {
		d.Msg = err.Error()
	}
	d.Rows = rows
	ev := s.filtered(d.EvService, d.EvKind)
	for i := len(ev) - 1; i >= 0 && len(d.Events) < 30; i-- {
		d.Events = append(d.Events, ev[i])
	}
	if ns, err := names(p.Playpen); err == nil {
		if d.Env, err = envRows(p.Playpen, ns); err != nil {
			d.EnvErr = err.Error()
		}
	}
	if q.Has("plan") {
		s.planView(r.Context(), p, &d)
	}
	d.GeneratedMilli = fmt.Sprintf("%.1f", float64(time.Since(began).Microseconds())/1000)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page().Execute(w, d); err != nil {
		fmt.Fprintf(w, "<p>%s</p>", err)
	}
}

// planView fills the plan section: the plan of d.PlanQuery, with what
// each action's hooks would do when asked.
func (s *Server) planView(ctx context.Context, p *lifecycle.Manager, d *pageData) {
	plan, err := upgrade.MakePlan(ctx, p, upgrade.PlanOptions{Set: strings.Fields(d.PlanQuery)})
	if err != nil {
		d.PlanErr = err.Error()
		return
	}
	rep := plan.Report()
	d.Plan = &rep
	if !d.PlanHooks {
		return
	}
	runs, err := upgrade.DryRunHooks(ctx, p, plan)
	if err != nil {
		d.PlanErr = err.Error()
		return
	}
	for _, run := range runs {
		text, _ := run.Text()
		d.PlanHooksText = append(d.PlanHooksText, text)
	}
}

// act answers the page's forms: POST /ui/act (service, verb) and
// POST /ui/all (verb), then back to the page. A stop or restart without
// confirm=1 shows the confirmation first (the page's script asks the
// browser's dialog instead, and sends confirm=1).
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	name, verb := r.FormValue("service"), r.FormValue("verb")
	all := r.URL.Path == "/ui/all"
	if verb != "start" && verb != "stop" && verb != "restart" {
		http.Error(w, "unknown action "+verb+" (start, stop or restart)", http.StatusBadRequest)
		return
	}
	if (verb == "stop" || verb == "restart") && r.FormValue("confirm") != "1" {
		what := name
		if all {
			what = "every service"
		}
		s.confirmPage(w, r, confirmData{Verb: verb, Service: name, What: what})
		return
	}
	s.mu.Lock()
	p := s.fresh()
	var err error
	if all {
		err = s.actAll(r, p, verb)
	} else {
		err = s.actOne(r, p, name, verb)
	}
	s.mu.Unlock()
	msg := verb + " " + name + ": done"
	if all {
		msg = verb + " of every service: done"
	}
	if err != nil {
		msg = err.Error()
	}
	http.Redirect(w, r, "/?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (s *Server) actOne(r *http.Request, p *lifecycle.Manager, name, verb string) error {
	ctx := r.Context()
	var err error
	switch verb {
	case "start":
		err = lifecycle.FirstError(p.StartMany(ctx, []string{name}, lifecycle.ManyOptions{}))
	case "stop":
		err = p.Stop(ctx, name)
	case "restart":
		err = p.Restart(ctx, name, lifecycle.RestartOptions{})
	}
	s.asked(r, verb, "service", name, "ok", err == nil)
	return err
}

func (s *Server) actAll(r *http.Request, p *lifecycle.Manager, verb string) error {
	ctx := r.Context()
	ns, err := names(p.Playpen)
	if err != nil {
		return err
	}
	var rs []lifecycle.Result
	switch verb {
	case "start":
		def, err := p.DefaultSet()
		if err != nil {
			return err
		}
		rs = p.StartMany(ctx, def, lifecycle.ManyOptions{})
	case "stop":
		rs = p.StopMany(ctx, ns, lifecycle.ManyOptions{Release: true})
	case "restart":
		sts, _ := p.StatusMany(ctx, ns)
		var running []string
		for _, st := range sts {
			if st.State == pkgsvc.StateRunning {
				running = append(running, st.Service)
			}
		}
		rs = p.RestartMany(ctx, running, lifecycle.ManyOptions{})
	}
	err = lifecycle.FirstError(rs)
	s.asked(r, verb+" of every service", "ok", err == nil)
	return err
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, c confirmData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	d := pageData{Project: s.p.Name, Root: s.p.Root, Confirm: &c}
	if err := page().Execute(w, d); err != nil {
		fmt.Fprintf(w, "<p>%s</p>", err)
	}
}

// setEnvForm is the page's environment form: POST /ui/env (name, value).
func (s *Server) setEnvForm(w http.ResponseWriter, r *http.Request) {
	name, value := r.FormValue("name"), r.FormValue("value")
	s.mu.Lock()
	p := s.fresh()
	ns, err := names(p.Playpen)
	var affects []string
	if err == nil {
		affects, err = setLocal(r.Context(), p, ns, name, value)
	}
	s.mu.Unlock()
	q := url.Values{}
	if err != nil {
		q.Set("msg", err.Error())
	} else {
		s.asked(r, "set "+name, "variable", name)
		q.Set("msg", name+" is set in etc/project.conf.local")
		q["affects"] = affects
	}
	http.Redirect(w, r, "/?"+q.Encode()+"#env", http.StatusSeeOther)
}

// rowCache is what the page's rows looked like when last rendered, with
// a version each, so that a live page asks for what changed since the
// version it has (SPEC §9.4: the live update sends only what changed).
type rowCache struct {
	mu      sync.Mutex
	version int
	html    map[string]string
	ver     map[string]int // name → version of its last change
	gone    map[string]int // name → version it went at
}

// liveRow is one changed row: its server-rendered HTML.
type liveRow struct {
	Service string `json:"service"`
	HTML    string `json:"html"`
}

// liveRows answers GET /ui/rows?since=N: the rows rendered differently
// since version N (uptime aside: the page counts it itself), those gone,
// and the version now.
func (s *Server) liveRows(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.Atoi(r.URL.Query().Get("since"))
	rows, err := s.rows(r.Context(), s.fresh())
	if err != nil {
		fail(w, err)
		return
	}
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.html == nil {
		c.html, c.ver, c.gone = map[string]string{}, map[string]int{}, map[string]int{}
	}
	seen := map[string]bool{}
	var buf bytes.Buffer
	for _, row := range rows {
		row.Uptime = ""
		buf.Reset()
		if err := page().ExecuteTemplate(&buf, "row", row); err != nil {
			fail(w, err)
			return
		}
		seen[row.Service] = true
		if html := buf.String(); html != c.html[row.Service] {
			c.version++
			c.html[row.Service], c.ver[row.Service] = html, c.version
			delete(c.gone, row.Service)
		}
	}
	for name := range c.html {
		if !seen[name] {
			c.version++
			delete(c.html, name)
			delete(c.ver, name)
			c.gone[name] = c.version
		}
	}
	ans := struct {
		Version int       `json:"version"`
		Rows    []liveRow `json:"rows"`
		Gone    []string  `json:"gone"`
	}{Version: c.version, Rows: []liveRow{}, Gone: []string{}}
	for _, row := range rows {
		if c.ver[row.Service] > since {
			ans.Rows = append(ans.Rows, liveRow{row.Service, c.html[row.Service]})
		}
	}
	for name, v := range c.gone {
		if v > since {
			ans.Gone = append(ans.Gone, name)
		}
	}
	writeJSON(w, r, ans)
}
