package dashboard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardInChromium drives the page in a real headless Chromium:
// open the URL with the token, see the services live, press stop on one,
// watch its state change and the line it prints on the way out arrive in
// the log view, without reloading. It leaves a screenshot in
// _artifacts/dashboard.png.
func TestDashboardInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed for the dashboard test (apt-get install chromium; make test installs it)")
	}
	srv, _, tok := server(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1100, 700))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	err = chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/?token="+tok),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-service="web"] td.running`)),
		chromedp.Click(chromedp.CSS(`tr[data-service="web"] button[data-verb="log"]`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("log").textContent.includes("ready")`, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Click(chromedp.CSS(`tr[data-service="web"] button[data-verb="stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-service="web"] td.stopped`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("log").textContent.includes("stopping")`, chromedp.WithPollingTimeout(20*time.Second)),
		// The environment report and a plan, on the same page.
		chromedp.Poll[chromedp.Void](`document.getElementById("env").textContent.includes("web")`, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Click(chromedp.CSS(`#planform button`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("planmsg").textContent.includes("nothing to do")`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		t.Fatalf("in the browser: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-service="web"] td.state`)))
	if err != nil {
		t.Fatal(err)
	}
	log, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#log`)))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if state != "stopped" {
		t.Errorf("web shows %q after stop", state)
	}
	os.MkdirAll("../../_artifacts", 0o755)
	path, _ := filepath.Abs("../../_artifacts/dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s; log view: %q", path, log)
}
