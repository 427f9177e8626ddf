package dashboard

import (
	"net"
	"servicectl/pkgsvc/lifecycle"
	"servicectl/pkgsvc/supervise"

	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"servicectl/pkgsvc"
)

var bg = context.Background()

func TestMain(m *testing.M) {
	pkgsvc.ExecTrampoline()
	os.Exit(m.Run())
}

// server starts the API over a playpen with two services, web running.
func server(t *testing.T) (*httptest.Server, *lifecycle.Manager, string) {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for rel, c := range map[string]string{
		"etc/project-name":     "dash\n",
		"etc/project-services": "web\nidle\n",
		"services/web/config":  "service_program=sh\nservice_flags=(-c 'trap \"echo stopping; exit 0\" TERM; echo ready; while :; do sleep 0.2; done')\nservice_start_secs=0.1\n",
		"services/idle/config": "service_program=sleep\nservice_flags=1000\nservice_start_secs=0.1\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(c), 0o644)
	}
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(bg, "web", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.StopMany(bg, []string{"web", "idle"}, lifecycle.ManyOptions{}) })
	tok, err := NewToken(p.Playpen)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(p, tok, nil))
	t.Cleanup(srv.Close)
	return srv, p, tok
}

func do(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI(t *testing.T) {
	srv, p, tok := server(t)
	if fi, err := os.Stat(TokenFile(p.Playpen)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi.Mode(), err)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	code, body := do(t, "GET", srv.URL+"/api/services", auth)
	var sts []lifecycle.Status
	if err := json.Unmarshal([]byte(body), &sts); code != 200 || err != nil || len(sts) != 2 {
		t.Fatalf("list: %d %v %s", code, err, body)
	}
	for _, c := range []struct {
		hdr  map[string]string
		want int
	}{
		{nil, 401},
		{map[string]string{"Authorization": "Bearer nope"}, 401},
		{map[string]string{"Authorization": "Bearer " + tok, "Origin": "http://evil.example"}, 403},
		{map[string]string{"Authorization": "Bearer " + tok, "Sec-Fetch-Site": "cross-site"}, 403},
	} {
		if code, body := do(t, "POST", srv.URL+"/api/services/idle/start", c.hdr); code != c.want {
			t.Errorf("POST with %v: %d %s, want %d", c.hdr, code, body, c.want)
		}
	}
	if st, _ := p.Status(bg, "idle"); st.State != pkgsvc.StateStopped {
		t.Fatal("a refused request changed something")
	}
	code, body = do(t, "POST", srv.URL+"/api/services/idle/start", map[string]string{"Authorization": "Bearer " + tok, "Sec-Fetch-Site": "same-origin"})
	var st lifecycle.Status
	if json.Unmarshal([]byte(body), &st); code != 200 || st.State != pkgsvc.StateRunning {
		t.Errorf("start: %d %s", code, body)
	}
	code, body = do(t, "POST", srv.URL+"/api/services/idle/stop", auth)
	if json.Unmarshal([]byte(body), &st); code != 200 || st.State != pkgsvc.StateStopped {
		t.Errorf("stop answers %d %s, want state stopped", code, body)
	}
	if code, _ := do(t, "POST", srv.URL+"/api/services/nosuch/start", auth); code != 404 {
		t.Errorf("unknown service: %d", code)
	}
	if code, body := do(t, "GET", srv.URL+"/api/services/web", auth); code != 200 || !strings.Contains(body, `"state":"running"`) {
		t.Errorf("one: %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/metrics", nil); code != 200 || !strings.Contains(body, `servicectl_up{service="web",state="running"} 1`) || !strings.Contains(body, "servicectl_uptime_seconds") {
		t.Errorf("metrics: %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/env", auth); code != 200 || !strings.Contains(body, `"missing":[]`) {
		t.Errorf("env: %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/upgrade/plan", auth); code != 200 || !strings.Contains(body, `"actions":[]`) {
		t.Errorf("plan: %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/services/web/logs", auth); code != 200 || !strings.Contains(body, "ready") {
		t.Errorf("logs: %d %q", code, body)
	}
}

// TestTokenURLSetsCookie: the URL the daemon prints logs the browser in;
// its requests then carry the token as a same-origin cookie.
func TestTokenURLSetsCookie(t *testing.T) {
	srv, _, tok := server(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/?token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "servicectl_token" {
			cookie = c
		}
	}
	if resp.StatusCode != 303 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("token URL: %d %+v", resp.StatusCode, cookie)
	}
	code, _ := do(t, "POST", srv.URL+"/api/services/idle/restart", map[string]string{"Cookie": "servicectl_token=" + tok, "Origin": srv.URL})
	if code != 200 {
		t.Errorf("same-origin request with the cookie: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/?token=wrong", nil); code != 401 {
		t.Errorf("a wrong token URL: %d", code)
	}
	if code, body := do(t, "GET", srv.URL+"/", map[string]string{"Cookie": "servicectl_token=" + tok}); code != 200 || !strings.Contains(body, "<title>servicectl — dash</title>") {
		t.Errorf("page: %d", code)
	}
	if code, body := do(t, "GET", srv.URL+"/", nil); code != 401 || strings.Contains(body, tok) || !strings.Contains(body, "printed on its standard output") {
		t.Errorf("page without the token: %d %s", code, body)
	}
}

// TestLogsFollow: a line written after the request arrives as a
// server-sent event.
func TestLogsFollow(t *testing.T) {
	srv, p, tok := server(t)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/services/web/logs?follow=1&n=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	line, _ := r.ReadString('\n')
	if line != "data: ready\n" {
		t.Fatalf("first event %q", line)
	}
	f, _ := os.OpenFile(filepath.Join(p.RunVar, "web.output"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("a new line\n")
	f.Close()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the new line never came: %v", err)
		}
		if line == "data: a new line\n" {
			return
		}
	}
}

// BenchmarkAPIServices200: GET /api/services with 200 running services
// (target < 5 ms), without a supervisor (status reads /proc) and within
// the daemon (the supervisor's pidfds answer liveness).
func BenchmarkAPIServices200(b *testing.B) {
	b.Run("unsupervised", func(b *testing.B) { benchAPI(b, false, "/api/services") })
	b.Run("daemon", func(b *testing.B) { benchAPI(b, true, "/api/services") })
}

// BenchmarkPage200: the dashboard page of 200 running services rendered
// in the daemon (SPEC §9.4: under 50 ms), and a live update that finds
// nothing changed.
func BenchmarkPage200(b *testing.B) {
	b.Run("page", func(b *testing.B) { benchAPI(b, true, "/") })
	b.Run("live-update", func(b *testing.B) { benchAPI(b, true, "/ui/rows?since=live") })
}

func benchAPI(b *testing.B, supervised bool, path string) {
	root := b.TempDir()
	os.Chmod(root, 0o755)
	var names []string
	for i := 0; i < 200; i++ {
		n := "s" + strconv.Itoa(1000+i)
		names = append(names, n)
		os.MkdirAll(filepath.Join(root, "services", n), 0o755)
		os.WriteFile(filepath.Join(root, "services", n, "config"), []byte("service_program=sleep\nservice_flags=1000\nservice_start_secs=0\n"), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/project-name"), []byte("bench\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/project-services"), []byte(strings.Join(names, "\n")+"\n"), 0o644)
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		b.Fatal(err)
	}
	if err := lifecycle.FirstError(p.StartMany(bg, names, lifecycle.ManyOptions{})); err != nil {
		b.Fatal(err)
	}
	defer p.StopMany(bg, names, lifecycle.ManyOptions{Jobs: 32})
	if supervised {
		sup := supervise.New(p, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(bg)
		done := make(chan struct{})
		go func() { sup.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		p.Liveness = sup.Alive
		deadline := time.Now().Add(20 * time.Second)
		for _, n := range names {
			for {
				st, _ := p.ServiceState(n)
				if _, known := sup.Alive(n, st.Pid, st.StartTime); known {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%s never watched", n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	srv := httptest.NewServer(New(p, "tok", nil))
	defer srv.Close()
	if strings.HasSuffix(path, "since=live") { // the version a live page has after its first load
		req, _ := http.NewRequest("GET", srv.URL+"/ui/rows?since=0", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var v struct{ Version int }
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		path = "/ui/rows?since=" + strconv.Itoa(v.Version)
	}
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer tok")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// TestEventsShowWhatTheDaemonDid: records logged through Events.Handler
// come back from /api/events with their attributes, oldest first, the
// ring keeping the latest.
func TestEventsShowWhatTheDaemonDid(t *testing.T) {
	ev := NewEvents(3)
	log := slog.New(ev.Handler(slog.NewTextHandler(io.Discard, nil))).With("part", "watch")
	for i := 0; i < 5; i++ {
		log.Info("restarted", "service", "web", "n", i)
	}
	srv := httptest.NewServer(New(nil, "tok", ev))
	defer srv.Close()
	_, body := do(t, "GET", srv.URL+"/api/events", map[string]string{"Authorization": "Bearer tok"})
	var got []Event
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 3 {
		t.Fatalf("%v %s", err, body)
	}
	if got[0].Attrs["n"] != "2" || got[2].Attrs["n"] != "4" || got[2].Attrs["part"] != "watch" || got[2].Message != "restarted" {
		t.Errorf("events: %+v", got)
	}
}

// TestTokenForEveryRouteAndNeverShown (issue 23, §9.4): every route but
// /metrics answers 401 without the token or with a wrong one, reads and
// the log stream included; with it, no answer, event or log line holds
// the token, even a record that tried to carry it.
func TestTokenForEveryRouteAndNeverShown(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	os.MkdirAll(filepath.Join(root, "services/web"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/project-name"), []byte("dash\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/project-services"), []byte("web\n"), 0o644)
	os.WriteFile(filepath.Join(root, "services/web/config"), []byte("service_program=sleep\nservice_flags=1000\nservice_start_secs=0\n"), 0o644)
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewToken(p.Playpen)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	ev := NewEvents(50)
	ev.Redact(tok)
	log := slog.New(ev.Handler(slog.NewTextHandler(&logged, nil)))
	log.Info("a careless line", "url", "http://127.0.0.1/?token="+tok)
	log.With("tok", tok).Warn("and one that carries it as " + tok)
	srv := httptest.NewServer(New(p, tok, ev))
	defer srv.Close()
	t.Cleanup(func() { p.Stop(bg, "web") })
	routes := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/api/services"}, {"GET", "/api/services/web"},
		{"POST", "/api/services/web/start"}, {"GET", "/api/services/web/logs"},
		{"GET", "/api/services/web/logs?follow=1"}, {"GET", "/api/env"},
		{"GET", "/api/upgrade/plan"}, {"GET", "/api/events"}, {"GET", "/nosuch"},
		{"GET", "/ui/rows"}, {"POST", "/ui/act"}, {"POST", "/ui/all"}, {"POST", "/ui/env"}, {"POST", "/api/env"}, {"GET", "/api/status"},
	}
	for _, r := range routes {
		for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Cookie": "servicectl_token=wrong"}} {
			if code, body := do(t, r.method, srv.URL+r.path, hdr); code != 401 || strings.Contains(body, tok) {
				t.Errorf("%s %s with %v: %d %q, want 401 without the token in it", r.method, r.path, hdr, code, body)
			}
		}
	}
	if st, _ := p.Status(bg, "web"); st.State != pkgsvc.StateStopped {
		t.Fatal("a request without the token started a service")
	}
	if code, body := do(t, "GET", srv.URL+"/metrics", nil); code != 200 || strings.Contains(body, tok) {
		t.Errorf("/metrics: %d", code)
	}
	for _, r := range routes {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		if strings.Contains(r.path, "follow") {
			ctx, cancel = context.WithTimeout(bg, 300*time.Millisecond) // the stream ends with it
		}
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, r.method, srv.URL+r.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20)) // the follow stream ends with ctx
		resp.Body.Close()
		if resp.StatusCode == 401 || strings.Contains(string(body), tok) {
			t.Errorf("%s %s with the token: %d, token in the answer: %v", r.method, r.path, resp.StatusCode, strings.Contains(string(body), tok))
		}
		for k, vs := range resp.Header {
			if strings.Contains(strings.Join(vs, " "), tok) {
				t.Errorf("%s %s: header %s carries the token", r.method, r.path, k)
			}
		}
	}
	if strings.Contains(logged.String(), tok) {
		t.Errorf("the log carries the token:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "********") {
		t.Errorf("the masked lines are missing:\n%s", logged.String())
	}
}

// TestLocalSocket (§9.4): daemon.sock is mode 0600 from the start, needs
// no token (its mode is the authentication) and answers the same API;
// a link planted at its path is replaced, not followed.
func TestLocalSocket(t *testing.T) {
	_, p, _ := server(t)
	scratch := filepath.Join(t.TempDir(), "scratch")
	os.WriteFile(scratch, []byte("keep\n"), 0o644)
	os.Symlink(scratch, SocketFile(p.Playpen))
	ln, closeSock, err := ListenSocket(p.Playpen)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSock()
	go http.Serve(ln, NewLocal(p, nil))
	fi, err := os.Lstat(SocketFile(p.Playpen))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("daemon.sock: %v %v", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(scratch); string(data) != "keep\n" {
		t.Errorf("the planted link's target changed: %q", data)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", SocketFile(p.Playpen))
	}}}
	resp, err := c.Get("http://servicectl/api/services")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"service":"web"`) {
		t.Errorf("over the socket: %d %s", resp.StatusCode, body)
	}
	closeSock()
	if _, err := os.Lstat(SocketFile(p.Playpen)); err == nil {
		t.Error("daemon.sock left behind after close")
	}
}

// TestEventsFilterAndRotationCounter (issue 24): /api/events?service=
// keeps one service's events (its instances' too); output rotations are a
// counter of /metrics, not events.
func TestEventsFilterAndRotationCounter(t *testing.T) {
	_, p, tok := server(t)
	ev := NewEvents(10)
	log := slog.New(ev.Handler(slog.NewTextHandler(io.Discard, nil)))
	log.Warn("died without a stop being asked", "service", "web")
	log.Warn("died without a stop being asked", "service", "idle")
	log.Info("restarted", "service", "web@2")
	srv := httptest.NewServer(New(p, tok, ev, WithRotations(func() map[string]int { return map[string]int{"web": 7} })))
	defer srv.Close()
	auth := map[string]string{"Authorization": "Bearer " + tok}
	_, body := do(t, "GET", srv.URL+"/api/events?service=web", auth)
	var got []Event
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 2 || got[0].Attrs["service"] != "web" || got[1].Attrs["service"] != "web@2" {
		t.Errorf("filtered events: %v %s", err, body)
	}
	if _, body := do(t, "GET", srv.URL+"/metrics", nil); !strings.Contains(body, `servicectl_output_rotations_total{service="web"} 7`) || !strings.Contains(body, `servicectl_output_rotations_total{service="idle"} 0`) {
		t.Errorf("metrics lack the rotation counter:\n%s", body)
	}
}

// TestPlanDowngradeIs409 (issue 28): a refused downgrade is a conflict
// with its reason and what to do, not a server error.
func TestPlanDowngradeIs409(t *testing.T) {
	srv, p, tok := server(t)
	for rel, c := range map[string]string{
		"ext/etc/installed-packages":            "app 1.1\n",
		"ext/packages/app-1.1/app-1.1.services": "",
		"ext/packages/app-1.0/app-1.0.services": "",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(p.Root, rel)), 0o755)
		os.WriteFile(filepath.Join(p.Root, rel), []byte(c), 0o644)
	}
	code, body := do(t, "GET", srv.URL+"/api/upgrade/plan?app=1.0", map[string]string{"Authorization": "Bearer " + tok})
	if code != 409 || !strings.Contains(body, "is a downgrade, refused") || !strings.Contains(body, "on the command line") {
		t.Errorf("downgrade plan: %d %s", code, body)
	}
}

// TestPageWithoutJavaScript (issue 29): the page is rendered on the
// server and its buttons are forms: a stop asks on a page of its own
// first, then stops; stop all asks first; a bad value from the
// environment form comes back with the rule and nothing written.
func TestPageWithoutJavaScript(t *testing.T) {
	srv, p, tok := server(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) (int, string, string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	code, html := do(t, "GET", srv.URL+"/", map[string]string{"Authorization": "Bearer " + tok})
	if code != 200 || !strings.Contains(html, `<tr data-service="web"`) || !strings.Contains(html, `class="state running"`) {
		t.Fatalf("page: %d\n%s", code, html)
	}
	code, _, body := post("/ui/act", url.Values{"service": {"web"}, "verb": {"stop"}})
	if st, _ := p.Status(bg, "web"); code != 200 || !strings.Contains(body, "Really stop web?") || st.State != pkgsvc.StateRunning {
		t.Errorf("a stop without confirmation: %d, web %s\n%s", code, st.State, body)
	}
	code, loc, _ := post("/ui/act", url.Values{"service": {"web"}, "verb": {"stop"}, "confirm": {"1"}})
	if st, _ := p.Status(bg, "web"); code != 303 || !strings.HasPrefix(loc, "/?msg=") || st.State != pkgsvc.StateStopped {
		t.Errorf("a confirmed stop: %d %q, web %s", code, loc, st.State)
	}
	if code, _, body := post("/ui/all", url.Values{"verb": {"stop"}}); code != 200 || !strings.Contains(body, "Really stop every service?") {
		t.Errorf("stop all without confirmation: %d\n%s", code, body)
	}
	if code, loc, _ := post("/ui/env", url.Values{"name": {"NOPE"}, "value": {"1"}}); code != 303 || !strings.Contains(loc, "no+service+declares+it") {
		t.Errorf("a bad variable from the form: %d %q", code, loc)
	}
	if _, err := os.Stat(filepath.Join(p.Root, "etc/project.conf.local")); err == nil {
		t.Errorf("a refused value wrote etc/project.conf.local")
	}
}

// TestSetEnvAffectsTheRunning: POST /api/env answers which services
// declaring the variable run now (they see it at their next restart);
// one declaring it but stopped is not among them.
func TestSetEnvAffectsTheRunning(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	decl := "service_program=sleep\nservice_flags=1000\nservice_start_secs=0.1\nservice_optional_envars=X_MODE\n"
	for rel, c := range map[string]string{
		"etc/project-name":      "affects\n",
		"etc/project-services":  "up\ndown\nother\n",
		"services/up/config":    decl,
		"services/down/config":  decl,
		"services/other/config": "service_program=sleep\nservice_flags=1000\nservice_start_secs=0.1\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(c), 0o644)
	}
	p, err := lifecycle.Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.StopMany(bg, []string{"up", "other"}, lifecycle.ManyOptions{}) })
	if rs := p.StartMany(bg, []string{"up", "other"}, lifecycle.ManyOptions{}); lifecycle.FirstError(rs) != nil {
		t.Fatal(lifecycle.FirstError(rs))
	}
	srv := httptest.NewServer(NewLocal(p, nil))
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/api/env", "application/json", strings.NewReader(`{"name":"X_MODE","value":"fast"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Affects []string `json:"affects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /api/env: %d %v", resp.StatusCode, err)
	}
	if len(ans.Affects) != 1 || ans.Affects[0] != "up" {
		t.Errorf("affects %q, want [up]: only the running service that declares X_MODE", ans.Affects)
	}
}
