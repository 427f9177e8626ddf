package pkgsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"servicectl/pkgsvc/proc"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the services under test: a playpen's
// service_program is this binary, and the exported HELPER variable of the
// service config picks the behaviour (Go's os/exec re-exec pattern).
var testBin string

func TestMain(m *testing.M) {
	ExecTrampoline()
	if mode := os.Getenv("HELPER"); mode != "" {
		helper(mode)
		return
	}
	var err error
	testBin, err = filepath.Abs(os.Args[0])
	if err != nil {
		panic(err)
	}
	os.Exit(m.Run())
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
		// On TERM, write what the state file says the user wants: a stop
		// must have recorded "down" before signalling.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		st, _ := readState(filepath.Join(os.Getenv("LOCAL_RUNVAR"), os.Getenv("SERVICE_NAME")+".state"))
		want := "no state"
		if st != nil {
			want = st.Want
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

// tp is a playpen under test.
type tp struct {
	t    *testing.T
	root string
	p    *Playpen
}

// newTP makes a playpen in t.TempDir() from files (path → content; a
// path ending in "*" is made executable without the star).
func newTP(t *testing.T, files map[string]string) *tp {
	t.Helper()
	root := t.TempDir()
	os.Chmod(root, 0o755)
	all := map[string]string{
		"etc/project-name": "test\n",
		// Race-built helpers otherwise sleep 1 s in exit.
		"ext/etc/project.defaults": "GORACE=atexit_sleep_ms=0\n",
	}
	for k, v := range files {
		all[k] = v
	}
	for rel, content := range all {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, "*") {
			rel, mode = strings.TrimSuffix(rel, "*"), 0o755
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content = strings.ReplaceAll(content, "@BIN@", testBin)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	x := &tp{t: t, root: root}
	x.reopen()
	t.Cleanup(x.cleanup)
	return x
}

// reopen gives a fresh Playpen value, as a new servicectl command would.
func (x *tp) reopen() *Playpen {
	x.t.Helper()
	p, err := Open(OpenOptions{Root: x.root, Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}})
	if err != nil {
		x.t.Fatal(err)
	}
	p.Warn = func(s, m string) { x.t.Logf("warning: %s: %s", s, m) }
	x.p = p
	return p
}

// cleanup stops every service this playpen started and kills anything
// still named by a pidfile whose identity checks out.
func (x *tp) cleanup() {
	p := x.reopen()
	names, _ := p.AllServices()
	p.StopMany(context.Background(), names, ManyOptions{})
	files, _ := filepath.Glob(filepath.Join(p.RunVar, "*.state"))
	for _, f := range files {
		st, err := readState(f)
		if err != nil || st.Pid == 0 {
			continue
		}
		if o, err := proc.Claim(st.Pid, st.StartTime, st.Argv0); err == nil {
			o.Signal(syscall.SIGKILL, true)
			o.Close()
		}
	}
}

// project writes a project service definition with the helper program.
func project(name, mode, extra string) map[string]string {
	return map[string]string{
		"services/" + name + "/config": "service_program=@BIN@\nexport HELPER=" + mode + "\nservice_start_secs=0.2\n" + extra,
	}
}

func merge(ms ...map[string]string) map[string]string {
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

// waitFor polls cond until it holds or the deadline passes, reporting the
// last reason it gave (tailscale's WaitFor).
func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (x *tp) pid(name string) int {
	x.t.Helper()
	pid, err := readPidfile(filepath.Join(x.p.RunVar, name+".pid"))
	if err != nil {
		x.t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool {
	info, err := proc.Read(pid)
	return err == nil && !info.Zombie
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if alive(pid) {
			return fmt.Errorf("pid %d still alive", pid)
		}
		return nil
	})
}

// foreign starts a process that is not the playpen's, to stand behind a
// lying pidfile. It is killed at cleanup.
func foreign(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}
