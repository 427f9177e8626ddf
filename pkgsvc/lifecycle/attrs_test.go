package lifecycle

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"servicectl/pkgsvc"
	"strings"
	"testing"
)

// TestUserGroupNice runs a service as nobody at niceness 5. It needs root
// to switch users; CI runs as root.
func TestUserGroupNice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching to another user needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// nobody must reach the linkfarm: a world-traversable playpen outside
	// the 0700 t.TempDir tree.
	root, err := os.MkdirTemp("", "servicectl-user-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	t.Cleanup(func() { os.RemoveAll(root) })
	for rel, c := range map[string]string{
		"etc/project-name":         "u\n",
		"etc/project-services":     "asnobody\n",
		"services/asnobody/config": "service_program=/bin/sleep\nservice_flags=60\nservice_start_secs=0.1\nservice_user=nobody\nservice_nice=5\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755)
		os.WriteFile(filepath.Join(root, rel), []byte(c), 0o644)
	}
	p, err := Open(pkgsvc.OpenOptions{Root: root, Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(bg, "asnobody", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(bg, "asnobody") })
	pid, _ := pkgsvc.ReadPidfile(filepath.Join(p.RunVar, "asnobody.pid"))
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !strings.Contains(string(status), "\nUid:\t"+nobody.Uid+"\t") {
		t.Fatalf("not running as nobody (uid %s):\n%s", nobody.Uid, status)
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if fields[16] != "5" {
		t.Fatalf("nice = %s, want 5", fields[16])
	}
}

func TestUnknownUserIsAClearError(t *testing.T) {
	x := newTP(t, merge(project("web", "sleep", "service_user=no-such-user-xyz\n")))
	err := x.p.Start(bg, "web", StartOptions{})
	if err == nil || !strings.Contains(err.Error(), "service_user=no-such-user-xyz") {
		t.Fatalf("%v", err)
	}
}

func TestClasspathAndJava(t *testing.T) {
	x := newTP(t, merge(project("app", "sleep", "service_java_classpath_dirs=lib\nservice_java_classpath_jars=\"extra/x.jar /abs/y.jar\"\n"), map[string]string{
		"ext/lib/b.jar":     "",
		"ext/lib/a.jar":     "",
		"ext/lib/notes":     "",
		"services/j/config": "service_program=java\nservice_flags=\"-jar app.jar\"\n",
	}))
	s, err := x.p.Resolve("app")
	if err != nil {
		t.Fatal(err)
	}
	want := "CLASSPATH=" + strings.Join([]string{x.root + "/ext/lib/a.jar", x.root + "/ext/lib/b.jar", x.root + "/ext/extra/x.jar", "/abs/y.jar"}, ":")
	found := false
	for _, kv := range s.Env {
		found = found || kv == want
	}
	if !found {
		t.Fatalf("no %s in %v", want, s.Env)
	}
	os.WriteFile(filepath.Join(x.root, "etc/project-services"), []byte("app\nj\n"), 0o644)
	j, err := x.reopen().Resolve("j")
	if err != nil {
		t.Fatal(err)
	}
	if !j.NoSymlink || j.LinkPath != "" {
		t.Fatalf("java must run without the linkfarm: %+v", j)
	}
}
