package pkgsvc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Version is a Wigwam-style package version UPSTREAM[-RELEASE] (SPEC §1.5).
// RELEASE is the packaging revision, an integer, not a semver pre-release:
// 1.3.12-10 > 1.3.12-9 > 1.3.12.
type Version struct {
	Raw      string
	Upstream *semver.Version
	Release  int64
}

// ParseVersion reads UPSTREAM or UPSTREAM-RELEASE. The release is the part
// after the last '-' when that part is all digits; UPSTREAM must then be
// semver-like (missing minor and patch count as 0).
func ParseVersion(s string) (Version, error) {
	if s == "" {
		return Version{}, fmt.Errorf("empty version")
	}
	if len(s) > 128 || strings.ContainsAny(s, " \t\n/") {
		return Version{}, fmt.Errorf("version %q: not UPSTREAM or UPSTREAM-RELEASE", s)
	}
	up, rel := s, int64(0)
	if i := strings.LastIndexByte(s, '-'); i > 0 && i < len(s)-1 && allDigits(s[i+1:]) {
		r, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: release %q is too large", s, s[i+1:])
		}
		up, rel = s[:i], r
	}
	sv, err := fastSemver(up)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: upstream %q is not a version (%v)", s, up, err)
	}
	return Version{Raw: s, Upstream: sv, Release: rel}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Compare orders versions: upstream by semver, then release as an integer.
func (v Version) Compare(o Version) int {
	if c := v.Upstream.Compare(o.Upstream); c != 0 {
		return c
	}
	switch {
	case v.Release < o.Release:
		return -1
	case v.Release > o.Release:
		return 1
	}
	return 0
}

func (v Version) String() string { return v.Raw }

// CompareVersions compares two version strings, for callers that hold raw
// strings; an unparsable version sorts by plain string comparison after an
// error is returned.
func CompareVersions(a, b string) (int, error) {
	va, err := ParseVersion(a)
	if err != nil {
		return strings.Compare(a, b), err
	}
	vb, err := ParseVersion(b)
	if err != nil {
		return strings.Compare(a, b), err
	}
	return va.Compare(vb), nil
}

// fastSemver parses the common MAJOR[.MINOR[.PATCH]] without the regular
// expression semver.NewVersion uses; anything else goes to semver.
func fastSemver(s string) (*semver.Version, error) {
	var parts [3]uint64
	n, cur, digits := 0, uint64(0), 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || digits > 1 && s[i-digits] == '0' || n == 3 {
				return semver.NewVersion(s)
			}
			parts[n], n, cur, digits = cur, n+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits >= 18 {
			return semver.NewVersion(s)
		}
		cur, digits = cur*10+uint64(c-'0'), digits+1
	}
	return semver.New(parts[0], parts[1], parts[2], "", ""), nil
}
