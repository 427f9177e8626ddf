package upgrade

import (
	"io/fs"
	"os"
	"path/filepath"
	"servicectl/pkgsvc/install"
	"servicectl/pkgsvc/lifecycle"
	"strings"
	"testing"
)

// TestDryRunHooksChangesNothing: `upgrade plan --hooks` runs an upgrade's
// hooks with their effects recorded: a hook that would remove a file,
// start a process, write a file, signal and render leaves the machine as
// it was, and every one of those is reported with its file and line.
func TestDryRunHooksChangesNothing(t *testing.T) {
	hook := `rm -f "$KEEP"
echo "started $SERVICE_VERSION" > "$KEEP.log"
"$SPAWN" &
kill -HUP 1
sub-conf app/app.conf
`
	extra := "service_stop_on_upgrade=0\nexport KEEP=@ROOT@/keep SPAWN=@ROOT@/spawn APP_PORT=1\nservice_pre_start='" + hook + "'\n"
	files := merge(pkgFiles("app", "1.0", []string{"app"}, "", extra), pkgFiles("app", "1.1", []string{"app"}, "", extra),
		map[string]string{
			"ext/etc/installed-packages":             "app 1.0\n",
			"ext/etc/app/app.conf":                   "port=__APP_PORT__\n",
			"ext/packages/app-1.1/app-1.1.pre-stop*": "#!/bin/sh\ntouch \"$KEEP.stopped\"\necho stopping\n",
			"keep":                                   "precious\n",
			"spawn*":                                 "#!/bin/sh\ntouch \"$0.ran\"\n",
		})
	x := newTP(t, files)
	for _, f := range []string{"ext/packages/app-1.0/app-1.0.config", "ext/packages/app-1.1/app-1.1.config"} {
		path := filepath.Join(x.root, f)
		data, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "@ROOT@", x.root)), 0o644)
	}
	if _, err := install.NewService(x.p.Playpen, "app"); err != nil {
		t.Fatal(err)
	}
	if err := x.reopen().Start(bg, "app", lifecycle.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(x.root, "keep"), []byte("precious\n"), 0o644) // the real start removed it
	os.Remove(filepath.Join(x.root, "spawn.ran"))
	os.Remove(filepath.Join(x.root, "keep.log"))
	os.RemoveAll(filepath.Join(x.root, "var/etc"))
	before := tree(t, x.root)

	p := x.reopen()
	plan, err := MakePlan(bg, p, PlanOptions{Set: []string{"app=1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := DryRunHooks(bg, p, plan)
	if err != nil {
		t.Fatal(err)
	}
	if after := tree(t, x.root); after != before {
		t.Fatalf("the dry run changed the playpen:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(runs) != 1 || runs[0].Version != "1.1" {
		t.Fatalf("runs: %+v", runs)
	}
	var got []string
	for _, st := range runs[0].Steps {
		got = append(got, st.Step+": "+st.Builtin)
		for _, e := range st.Effects {
			got = append(got, "  "+e.String())
		}
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		// post registers 1.1 first: its pre-stop stops the old process.
		`would run ["touch" "` + x.root + `/keep.stopped"] (` + x.root + `/ext/packages/app-1.1/app-1.1.pre-stop:2)`,
		`would run ["rm" "-f" "` + x.root + `/keep"] (service_pre_start (config):1)`,
		`would write ` + x.root + `/keep.log (service_pre_start (config))`,
		`would run ["` + x.root + `/spawn"] (service_pre_start (config):3)`,
		`would send kill ["kill" "-HUP" "1"] (service_pre_start (config):4)`,
		`would render ` + x.root + `/var/etc/app/app.conf (service_pre_start (config):5)`,
		`stop: would send SIGTERM to pid`,
		`start: would start`,
		`gate: the pid check`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	for _, gone := range []string{"spawn.ran", "keep.log", "keep.stopped"} {
		if _, err := os.Stat(filepath.Join(x.root, gone)); err == nil {
			t.Errorf("%s exists: the dry run did it", gone)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(x.root, "keep")); string(data) != "precious\n" {
		t.Errorf("keep: %q", data)
	}
}

// tree lists every file of root with its size and modification time.
func tree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() {
			b.WriteString(path + "/\n")
			return nil
		}
		b.WriteString(path + " " + fi.ModTime().String() + " " + string(rune('0'+fi.Size()%10)) + "\n")
		return nil
	})
	return b.String()
}
