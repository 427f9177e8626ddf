package pkghook

import "testing"

// TestParse pins the argument mapping the README documents, for every
// script of every package manager, and refuses what none of them gives.
func TestParse(t *testing.T) {
	ok := []struct {
		mgr, script, version string
		args                 []string
		want                 Call
	}{
		{"dpkg", "preinst", "1.1", []string{"install"}, Call{Step: Nothing, Check: true}},
		{"dpkg", "preinst", "1.1", []string{"upgrade", "1.0", "1.1"}, Call{Step: Nothing, Check: true}},
		{"dpkg", "preinst", "1.0", []string{"abort-upgrade", "1.1"}, Call{Step: Abort}},
		{"dpkg", "postinst", "1.1", []string{"configure", "1.0"}, Call{Step: Configure}},
		{"dpkg", "postinst", "1.1", []string{"configure", ""}, Call{Step: Configure, Fresh: true}},
		{"dpkg", "postinst", "1.1", []string{"configure"}, Call{Step: Configure, Fresh: true}},
		{"dpkg", "postinst", "1.0", []string{"abort-upgrade", "1.1"}, Call{Step: Abort, Target: "1.0"}},
		{"dpkg", "postinst", "1.0", []string{"abort-remove"}, Call{Step: Abort, Target: "1.0"}},
		{"dpkg", "prerm", "1.0", []string{"remove"}, Call{Step: BeforeRemove}},
		{"dpkg", "prerm", "1.0", []string{"upgrade", "1.1"}, Call{Step: Nothing}},
		{"dpkg", "prerm", "1.1", []string{"failed-upgrade", "1.0"}, Call{Step: Nothing}},
		{"dpkg", "postrm", "1.0", []string{"upgrade", "1.1"}, Call{Step: Unpacked, Target: "1.1"}},
		{"dpkg", "postrm", "1.1", []string{"failed-upgrade", "1.0"}, Call{Step: Unpacked, Target: "1.1"}},
		{"dpkg", "postrm", "1.1", []string{"abort-upgrade", "1.0"}, Call{Step: Abort, Target: "1.0"}},
		{"dpkg", "postrm", "1.1", []string{"abort-install"}, Call{Step: Abort}},
		{"dpkg", "postrm", "1.0", []string{"remove"}, Call{Step: Removed}},
		{"dpkg", "postrm", "1.0", []string{"purge"}, Call{Step: Purge}},
		{"rpm", "pre", "1.1", []string{"2"}, Call{Step: Nothing, Check: true}},
		{"rpm", "post", "1.1", []string{"1"}, Call{Step: Configure, Fresh: true}},
		{"rpm", "post", "1.1", []string{"2"}, Call{Step: Configure}},
		{"rpm", "preun", "1.0", []string{"1"}, Call{Step: Nothing}},
		{"rpm", "preun", "1.0", []string{"0"}, Call{Step: BeforeRemove}},
		{"rpm", "postun", "1.0", []string{"1"}, Call{Step: Nothing}},
		{"rpm", "postun", "1.0", []string{"0"}, Call{Step: Removed}},
		{"pacman", "pre_install", "1.1", []string{"1.1"}, Call{Step: Nothing, Check: true}},
		{"pacman", "post_install", "1.1", []string{"1.1"}, Call{Step: Configure, Fresh: true}},
		{"pacman", "pre_upgrade", "1.1", []string{"1.1", "1.0"}, Call{Step: Nothing}},
		{"pacman", "post_upgrade", "1.1", []string{"1.1", "1.0"}, Call{Step: Configure}},
		{"pacman", "pre_remove", "1.0", []string{"1.0"}, Call{Step: BeforeRemove}},
		{"pacman", "post_remove", "1.0", []string{"1.0"}, Call{Step: Removed}},
	}
	for _, c := range ok {
		got, err := Parse(c.mgr, c.script, c.version, c.args)
		if err != nil || got != c.want {
			t.Errorf("%s %s %q = %+v, %v; want %+v", c.mgr, c.script, c.args, got, err, c.want)
		}
	}
	bad := []struct {
		mgr, script string
		args        []string
	}{
		{"dpkg", "postinst", []string{"frobnicate"}},
		{"dpkg", "postinst", nil},
		{"dpkg", "postinst", []string{"configure", "1.0", "extra"}},
		{"dpkg", "prerm", []string{"remove", "x"}},
		{"dpkg", "postrm", []string{"upgrade"}},
		{"dpkg", "config", []string{"configure"}},
		{"rpm", "post", nil},
		{"rpm", "post", []string{"-1"}},
		{"rpm", "verify", []string{"1"}},
		{"pacman", "post_upgrade", []string{"1.1"}},
		{"pacman", "post_sync", []string{"1.1"}},
		{"apk", "post-install", []string{"1.1"}},
	}
	for _, c := range bad {
		if got, err := Parse(c.mgr, c.script, "1.0", c.args); err == nil {
			t.Errorf("%s %s %q = %+v, want a usage error", c.mgr, c.script, c.args, got)
		}
	}
}
