package testkit

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The playpens and helper daemons of pkgsvc's tests and its
// sub-packages': the test binary doubles as the services under test (a
// service_program of @BIN@ and an exported HELPER picking the behaviour,
// Go's os/exec re-exec pattern).

// HelperMain runs the helper daemon HELPER names, if any, and exits; the
// TestMain of each package calls it first.
func HelperMain() {
	if mode := os.Getenv("HELPER"); mode != "" {
		helper(mode)
		os.Exit(0)
	}
}

// helper runs one helper daemon. Each announces itself on stdout, and
// none lives longer than a minute, so a failed test leaks nothing for long.
func helper(mode string) {
	go func() {
		time.Sleep(60 * time.Second)
		os.Exit(99)
	}()
	args := os.Args[1:]
	fmt.Printf("helper %s pid %d args %q\n", mode, os.Getpid(), args)
	switch mode {
	case "sleep":
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGHUP)
		for s := range sig {
			fmt.Printf("got %v\n", s)
			if s == syscall.SIGTERM {
				os.Exit(0)
			}
		}
	case "report-want":
		// On TERM, write what a supervisor would read the user wants: a
		// stop must have recorded that it stops this pid ("down") in the
		// lock file before signalling; else the state file's want.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		want := "no state"
		run := filepath.Join(os.Getenv("LOCAL_RUNVAR"), os.Getenv("SERVICE_NAME"))
		if data, err := os.ReadFile(run + ".state"); err == nil {
			var st struct{ Want string }
			if json.Unmarshal(data, &st) == nil {
				want = st.Want
			}
		}
		if data, err := os.ReadFile(run + ".lock"); err == nil {
			var rec struct {
				StopPid int `json:"stop_pid"`
			}
			if json.Unmarshal(data, &rec) == nil && rec.StopPid == os.Getpid() {
				want = "down"
			}
		}
		os.WriteFile(os.Getenv("HELPER_OUT"), []byte(want), 0o644)
		os.Exit(0)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "exit":
		n, _ := strconv.Atoi(os.Getenv("HELPER_CODE"))
		fmt.Fprintln(os.Stderr, "helper: failing on purpose")
		os.Exit(n)
	case "env":
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		wd, _ := os.Getwd()
		data, _ := json.Marshal(map[string]any{"env": env, "args": os.Args, "wd": wd})
		os.WriteFile(os.Getenv("HELPER_OUT"), data, 0o644)
		select {}
	case "daemonize":
		// Start a child that keeps running, write its pid, and exit: the
		// classic double-fork daemon with service_own_pidfile=1.
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "HELPER=sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			os.Exit(5)
		}
		os.WriteFile(os.Getenv("SERVICE_PIDFILE"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

// Tree writes files (path → content; "@BIN@" becomes bin, a path ending
// in "*" is made executable without the star) into a new directory of
// tb's and returns it, readable by others as a playpen must be.
func Tree(tb testing.TB, bin string, files map[string]string) string {
	tb.Helper()
	root := tb.TempDir()
	os.Chmod(root, 0o755)
	for rel, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, "*") {
			rel, mode = strings.TrimSuffix(rel, "*"), 0o755
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "@BIN@", bin)), mode); err != nil {
			tb.Fatal(err)
		}
	}
	return root
}

// Project writes a project service definition with the helper program.
func Project(name, mode, extra string) map[string]string {
	return map[string]string{
		"services/" + name + "/config": "service_program=@BIN@\nexport HELPER=" + mode + "\nservice_start_secs=0.2\n" + extra,
	}
}

// Merge joins file maps; etc/project-services lists every project
// service among them unless one of them sets it.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	names := []string{}
	for _, m := range ms {
		for k, v := range m {
			if strings.HasPrefix(k, "services/") && strings.HasSuffix(k, "/config") {
				names = append(names, strings.TrimSuffix(strings.TrimPrefix(k, "services/"), "/config"))
			}
			out[k] = v
		}
	}
	if _, ok := out["etc/project-services"]; !ok {
		out["etc/project-services"] = strings.Join(names, "\n") + "\n"
	}
	return out
}

// PkgFiles writes one package version whose services run the sleep
// helper.
func PkgFiles(name, ver string, services []string, deps, extra string) map[string]string {
	nv := name + "-" + ver
	dir := "ext/packages/" + nv + "/"
	m := map[string]string{
		dir + nv + ".services": strings.Join(services, "\n") + "\n",
		dir + nv + ".config":   "service_program=@BIN@\nexport HELPER=sleep\nservice_start_secs=0.05\n" + extra,
	}
	if deps != "" {
		m[dir+nv+".deps"] = deps
	}
	return m
}

// GenPlaypen writes a playpen of n package services (n/5 packages of five
// services each; every tenth package ships a profile; typed variables and
// port arithmetic everywhere), registered as new-service would.
func GenPlaypen(tb testing.TB, n int) string {
	tb.Helper()
	root := tb.TempDir()
	os.Chmod(root, 0o755)
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	w := func(rel, content string) {
		p := filepath.Join(root, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(content), 0o644))
	}
	w("etc/project-name", "gen\n")
	w("etc/project.conf", "PORT_PREFIX=20000\nGREETING=hi\n")
	var pk, reg strings.Builder
	for i := 0; i < n; i++ {
		pkg := fmt.Sprintf("pkg%03d", i/5)
		svc := fmt.Sprintf("svc%04d", i)
		if i%5 == 0 {
			fmt.Fprintf(&pk, "%s 1.%d.0-1\n", pkg, i%7)
		}
		if i%50 == 0 {
			w(fmt.Sprintf("ext/etc/profile/%s.profile", pkg), fmt.Sprintf("%s_HOME=$PLAYPEN_ROOT/ext/%s\n", strings.ToUpper(pkg), pkg))
		}
		ver := fmt.Sprintf("1.%d.0-1", (i/5*5)%7)
		fmt.Fprintf(&reg, "%s %s %s\n", svc, pkg, ver)
		w(fmt.Sprintf("ext/services/%s-%s/config", svc, ver), fmt.Sprintf(`service_program=/bin/sleep
service_flags="3600 --name $SERVICE_NAME"
service_required_envars="%s_PORT GREETING"
service_envar_%s_PORT_type=port
service_envar_%s_PORT_constraints="1024-65535"
%s_PORT_OFFSET=%d
service_optional_envars="LEVEL"
service_envar_LEVEL_type=int
service_envar_LEVEL_default=3
if [ -n "$GREETING" ]; then service_stop_timeout=5; fi
`, strings.ToUpper(svc), strings.ToUpper(svc), strings.ToUpper(svc), strings.ToUpper(svc), i))
	}
	w("ext/etc/installed-packages", pk.String())
	w("ext/etc/installed-services", reg.String())
	return root
}
