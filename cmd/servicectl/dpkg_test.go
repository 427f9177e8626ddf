package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dpkgEnv is a throw-away dpkg installation: its own instdir and admindir
// under t.TempDir(), maintainer scripts run without chroot (dpkg's
// --force-script-chrootless, so they see DPKG_ROOT), and `servicectl` on
// their PATH is this test binary. The machine's own package database is
// never opened.
type dpkgEnv struct {
	t       *testing.T
	inst    string // dpkg's instdir
	playpen string // $inst/srv/playpen
	debs    string
	env     []string
	port    int
}

func newDpkgEnv(t *testing.T) *dpkgEnv {
	t.Helper()
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: the package-hook test runs against Debian's real dpkg (make tools)", tool)
		}
	}
	tmp := t.TempDir()
	os.Chmod(tmp, 0o755)
	d := &dpkgEnv{t: t, inst: filepath.Join(tmp, "inst"), debs: filepath.Join(tmp, "debs")}
	d.playpen = filepath.Join(d.inst, "srv", "playpen")
	admin := filepath.Join(d.inst, "var", "lib", "dpkg")
	for _, dir := range []string{"updates", "info", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(admin, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(tmp, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.Symlink(os.Args[0], filepath.Join(bin, "servicectl")); err != nil {
		t.Fatal(err)
	}
	d.env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SERVICECTL_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	// hello listens on PORT_PREFIX + 80: a prefix that lands on a free port.
	d.port = freePort(t)
	if code, out := sctlProc(t, d.playpen, "init", "--name", "debian", d.playpen); code != 0 {
		t.Fatalf("init: %d %s", code, out)
	}
	conf := filepath.Join(d.playpen, "etc", "project.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("PORT_PREFIX=%d\n", d.port-80)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sctlProc(t, d.playpen, "--quiet", "stop", "hello", "cache-a", "cache-b") })
	return d
}

// build packages a playpen package directory with examples/debian/build.sh.
func (d *dpkgEnv) build(src string, flags ...string) string {
	d.t.Helper()
	cmd := exec.Command("sh", append(append([]string{"../../examples/debian/build.sh"}, flags...), src, d.debs)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("build.sh %s: %v\n%s", src, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dpkg runs dpkg on the throw-away tree; it returns the exit code and
// everything dpkg and the maintainer scripts printed.
func (d *dpkgEnv) dpkg(args ...string) (int, string) {
	d.t.Helper()
	base := []string{"--instdir=" + d.inst, "--admindir=" + filepath.Join(d.inst, "var/lib/dpkg"),
		"--force-script-chrootless", "--force-not-root", "--log=" + filepath.Join(d.inst, "dpkg.log")}
	cmd := exec.Command("dpkg", append(base, args...)...)
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return 0, string(out)
}

// installed is what dpkg's database says of pkg: "VERSION STATUS".
func (d *dpkgEnv) installed(pkg string) string {
	out, _ := exec.Command("dpkg-query", "--admindir="+filepath.Join(d.inst, "var/lib/dpkg"), "-W", "-f", "${Version} ${db:Status-Abbrev}", pkg).Output()
	return strings.TrimSpace(string(out))
}

type svcStatus struct {
	Service string `json:"service"`
	Version string `json:"version"`
	State   string `json:"state"`
	Pid     int    `json:"pid"`
}

func (d *dpkgEnv) status(name string) svcStatus {
	d.t.Helper()
	_, out := sctlProc(d.t, d.playpen, "--json", "status", name)
	var st []svcStatus
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &st); err != nil || len(st) != 1 {
		d.t.Fatalf("status %s: %v\n%s", name, err, out)
	}
	return st[0]
}

// environ reads one variable of a running process.
func environ(t *testing.T, pid int, name string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// examplePackage copies an example package and builds its program in.
func examplePackage(t *testing.T, dir, src, hello string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	if out, err := exec.Command("cp", "-R", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if hello != "" {
		os.MkdirAll(filepath.Join(dst, "bin"), 0o755)
		if out, err := exec.Command("cp", hello, filepath.Join(dst, "bin", "hello")).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	return dst
}

// TestDpkgMaintainerScripts drives servicectl from Debian's own dpkg: the
// example hello packaged as .debs whose maintainer scripts are one line of
// `servicectl package-hook` each (issue 17).
func TestDpkgMaintainerScripts(t *testing.T) {
	t.Parallel() // its own playpens, processes and environment: runs beside the other parallel tests
	defer reportPass(t, "Debian's dpkg drives servicectl: install, upgrade while running, a refused upgrade unwound, a repeated script, 8 bad calls, remove, purge (one pass)", 1)()
	d := newDpkgEnv(t)
	work := t.TempDir()
	hello := filepath.Join(work, "hello.bin")
	if out, err := exec.Command("go", "build", "-o", hello, "../../examples/hello").CombinedOutput(); err != nil {
		t.Fatalf("go build examples/hello: %v\n%s", err, out)
	}
	etc := "../../examples/playpen/ext/etc/hello"
	h100 := d.build(examplePackage(t, work, "../../examples/playpen/ext/packages/hello-1.0.0", hello), "--start", "--etc", etc)
	h110 := d.build(examplePackage(t, work, "../../examples/packages/hello-1.1.0", hello), "--start", "--etc", etc)
	cache := d.build(examplePackage(t, work, "../../examples/playpen/ext/packages/cache-1.2.0", ""))
	// 1.2.0 does not validate: its port is out of range.
	bad := filepath.Join(work, "hello-1.2.0")
	os.MkdirAll(filepath.Join(bad, "bin"), 0o755)
	for _, ext := range []string{"services", "files", "config"} {
		data, _ := os.ReadFile("../../examples/packages/hello-1.1.0/hello-1.1.0." + ext)
		if ext == "config" {
			data = append(data, "HELLO_PORT_OFFSET=99999\n"...)
		}
		os.WriteFile(filepath.Join(bad, "hello-1.2.0."+ext), data, 0o644)
	}
	exec.Command("cp", hello, filepath.Join(bad, "bin", "hello")).Run()
	h120 := d.build(bad, "--start", "--etc", etc)

	sysStatus, _ := os.Stat("/var/lib/dpkg/status")

	// A fresh install registers and, asked with --start, starts.
	if code, out := d.dpkg("-i", h100); code != 0 {
		t.Fatalf("dpkg -i hello 1.0.0: %d\n%s", code, out)
	}
	if st := d.status("hello"); st.State != "running" || st.Version != "1.0.0" {
		t.Fatalf("after install: %+v", st)
	}
	// Without --start the services are registered, not started.
	if code, out := d.dpkg("-i", cache); code != 0 {
		t.Fatalf("dpkg -i cache: %d\n%s", code, out)
	}
	if st := d.status("cache-a"); st.State != "stopped" {
		t.Fatalf("cache-a after an install without --start: %+v", st)
	}
	if code, out := sctlProc(t, d.playpen, "start", "cache-a", "cache-b"); code != 0 {
		t.Fatalf("start cache: %s", out)
	}
	before := map[string]svcStatus{}
	for _, n := range []string{"hello", "cache-a", "cache-b"} {
		before[n] = d.status(n)
	}

	// The upgrade: hello (service_stop_on_upgrade=1 by default) stops and
	// starts on 1.1.0; cache's services restart because a dependency
	// changed, with SERVICE_UPGRADED=1 (SPEC §8.4).
	if code, out := d.dpkg("-i", h110); code != 0 {
		t.Fatalf("dpkg -i hello 1.1.0: %d\n%s", code, out)
	}
	st := d.status("hello")
	if st.State != "running" || st.Version != "1.1.0" || st.Pid == before["hello"].Pid {
		t.Fatalf("hello after the upgrade: %+v (before %+v)", st, before["hello"])
	}
	if got := environ(t, st.Pid, "SERVICE_UPGRADED"); got != "0" {
		t.Errorf("hello was stopped before and started after: SERVICE_UPGRADED=%q, want 0", got)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", d.port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello 1.1.0") {
		t.Errorf("hello answers %q, want it on 1.1.0", body)
	}
	for _, n := range []string{"cache-a", "cache-b"} {
		c := d.status(n)
		if c.State != "running" || c.Pid == before[n].Pid {
			t.Errorf("%s was not restarted: %+v (before %+v)", n, c, before[n])
		}
		if got := environ(t, c.Pid, "SERVICE_UPGRADED"); got != "1" {
			t.Errorf("%s restarted after its dependency changed: SERVICE_UPGRADED=%q, want 1", n, got)
		}
	}
	if got := d.installed("hello"); got != "1.1.0 ii" {
		t.Errorf("dpkg says %q", got)
	}
	list, _ := os.ReadFile(filepath.Join(d.playpen, "ext/etc/installed-packages"))
	if !strings.Contains(string(list), "hello 1.1.0\n") {
		t.Errorf("installed-packages:\n%s", list)
	}

	// A version that does not validate: dpkg reports the error and
	// unwinds; hello keeps running 1.1.0, the same process.
	running := d.status("hello")
	code, out := d.dpkg("-i", h120)
	if code == 0 || !strings.Contains(out, "HELLO_PORT") || !strings.Contains(out, "hello 1.2.0") {
		t.Fatalf("dpkg -i of a version that does not validate: exit %d\n%s", code, out)
	}
	if st := d.status("hello"); st.Pid != running.Pid || st.Version != "1.1.0" || st.State != "running" {
		t.Fatalf("hello after a refused upgrade: %+v, want %+v", st, running)
	}
	if got := d.installed("hello"); got != "1.1.0 ii" {
		t.Errorf("dpkg did not unwind to 1.1.0: %q\n%s", got, out)
	}
	if _, err := os.Stat(filepath.Join(d.playpen, "var", "upgrade.journal")); err == nil {
		t.Errorf("a journal is left behind by the refused upgrade")
	}

	// A maintainer script run twice (dpkg retries) changes nothing.
	for i := 0; i < 2; i++ {
		if code, out := sctlProc(t, d.playpen, "package-hook", "postinst", "hello", "1.1.0", "--", "configure", "1.0.0"); code != 0 {
			t.Fatalf("postinst again: %d %s", code, out)
		}
	}
	if st := d.status("hello"); st.Pid != running.Pid {
		t.Errorf("a repeated postinst restarted hello: %+v", st)
	}

	// Arguments no package manager gives: exit 2, nothing stopped.
	for _, args := range [][]string{
		{"postinst", "hello", "1.1.0", "--", "frobnicate"},
		{"prerm", "hello", "1.1.0", "--", "remove", "extra"},
		{"postinst", "hello", "1.1.0", "--"},
		{"postinstall", "hello", "1.1.0", "--", "configure"},
		{"--manager", "rpm", "preun", "hello", "1.1.0", "--", "zero"},
		{"--manager", "yum", "preun", "hello", "1.1.0", "--", "0"},
		{"prerm", "hello", "1.1.0", "remove"},
		{"prerm", "../x", "1.1.0", "--", "remove"},
	} {
		if code, out := sctlProc(t, d.playpen, append([]string{"package-hook"}, args...)...); code != 2 || !strings.Contains(out, "servicectl") {
			t.Errorf("package-hook %q: exit %d, want 2\n%s", args, code, out)
		}
	}
	if st := d.status("hello"); st.Pid != running.Pid {
		t.Fatalf("bad input touched hello: %+v", st)
	}

	// Remove stops and unregisters; purge removes the run-state files.
	if code, out := d.dpkg("-r", "cache"); code != 0 {
		t.Fatalf("dpkg -r cache: %d\n%s", code, out)
	}
	if code, out := d.dpkg("-r", "hello"); code != 0 {
		t.Fatalf("dpkg -r hello: %d\n%s", code, out)
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", running.Pid)); err == nil && !strings.Contains(string(data), ") Z ") {
		t.Errorf("hello (pid %d) still runs after dpkg -r: %s", running.Pid, data)
	}
	reg, _ := os.ReadFile(filepath.Join(d.playpen, "ext/etc/installed-services"))
	if strings.TrimSpace(string(reg)) != "" {
		t.Errorf("installed-services after removal:\n%s", reg)
	}
	if code, out := d.dpkg("-P", "hello"); code != 0 {
		t.Fatalf("dpkg -P hello: %d\n%s", code, out)
	}
	left, _ := filepath.Glob(filepath.Join(d.playpen, "var/run/hello*"))
	copies, _ := filepath.Glob(filepath.Join(d.playpen, "ext/services/hello-*"))
	if len(left)+len(copies) > 0 {
		t.Errorf("purge left %v %v", left, copies)
	}
	if sys, _ := os.Stat("/var/lib/dpkg/status"); sysStatus != nil && (sys == nil || !sys.ModTime().Equal(sysStatus.ModTime())) {
		t.Errorf("the machine's dpkg database changed")
	}
}

// TestRPMScriptletOrder replays the calls RPM makes on an upgrade (new
// %pre and %post before the old %preun and %postun, each with the count
// of instances) and on removal.
func TestRPMScriptletOrder(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o755)
	if code, out := sctlProc(t, root, "init", "--name", "rpm", root); code != 0 {
		t.Fatal(out)
	}
	pkg := func(v string) {
		dir := filepath.Join(root, "ext/packages/sleeper-"+v)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "sleeper-"+v+".services"), []byte("sleeper\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "sleeper-"+v+".config"), []byte("service_program=sleep\nservice_flags=600\nservice_start_secs=0.05\nservice_stop_on_upgrade=0\n"), 0o644)
	}
	hook := func(script, v string, n int) {
		t.Helper()
		if code, out := sctlProc(t, root, "package-hook", "--manager", "rpm", "--start", script, "sleeper", v, "--", fmt.Sprint(n)); code != 0 {
			t.Fatalf("%%%s %s %d: exit %d\n%s", script, v, n, code, out)
		}
	}
	t.Cleanup(func() { sctlProc(t, root, "--quiet", "stop", "sleeper") })
	hook("pre", "1.0", 1)
	pkg("1.0")
	hook("post", "1.0", 1)
	_, out := sctlProc(t, root, "--json", "status", "sleeper")
	if !strings.Contains(out, `"running"`) || !strings.Contains(out, `"1.0"`) {
		t.Fatalf("after install: %s", out)
	}
	// Upgrade: new %pre 2, files, new %post 2, old %preun 1, old %postun 1.
	hook("pre", "1.1", 2)
	pkg("1.1")
	hook("post", "1.1", 2)
	hook("preun", "1.0", 1)
	os.RemoveAll(filepath.Join(root, "ext/packages/sleeper-1.0"))
	hook("postun", "1.0", 1)
	_, out = sctlProc(t, root, "--json", "status", "sleeper")
	if !strings.Contains(out, `"running"`) || !strings.Contains(out, `"1.1"`) || !strings.Contains(out, `"upgraded": true`) {
		t.Fatalf("after the upgrade: %s", out)
	}
	// Removal: %preun 0, files go, %postun 0.
	hook("preun", "1.1", 0)
	os.RemoveAll(filepath.Join(root, "ext/packages/sleeper-1.1"))
	hook("postun", "1.1", 0)
	list, _ := os.ReadFile(filepath.Join(root, "ext/etc/installed-packages"))
	reg, _ := os.ReadFile(filepath.Join(root, "ext/etc/installed-services"))
	if strings.TrimSpace(string(list)+string(reg)) != "" {
		t.Fatalf("after removal: installed-packages %q installed-services %q", list, reg)
	}
	_, out = sctlProc(t, root, "status", "--all")
	if strings.Contains(out, "running") {
		t.Fatalf("a service runs after removal: %s", out)
	}
}
