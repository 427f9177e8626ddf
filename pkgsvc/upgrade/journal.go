package upgrade

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"servicectl/internal/fsio"
	"servicectl/pkgsvc"
)

// Journal is what `upgrade pre` leaves for `upgrade post` (SPEC §8.3):
// enough to finish the upgrade even if every servicectl in between died.
type Journal struct {
	Root    string    `json:"playpen_root"`
	Created time.Time `json:"created"`
	Plan    *Plan     `json:"plan"`
	// Rollback is the package manager's way back (`upgrade run
	// --rollback`), run when the health gate fails.
	Rollback []string `json:"rollback,omitempty"`
	// RollingBack is written before the rollback command runs: a post
	// that finds it finishes the rollback.
	RollingBack  bool     `json:"rolling_back,omitempty"`
	GateFailures []string `json:"gate_failures,omitempty"`
	// Failed are the services whose gate failed in a post without a
	// rollback: the next post starts them again even though they were
	// started after the journal was written.
	Failed []string `json:"failed,omitempty"`
}

// JournalPath is where `upgrade pre` records what it did (SPEC §8.3).
func JournalPath(p *pkgsvc.Playpen) string { return filepath.Join(p.LocalVar, "upgrade.journal") }

// JournalPending reports whether an upgrade was begun and not finished.
func JournalPending(p *pkgsvc.Playpen) (bool, error) {
	fi, err := os.Lstat(JournalPath(p))
	if err == nil && !fi.Mode().IsRegular() {
		// Never read or taken for a journal through a planted link.
		return false, &fsio.NotRegular{Path: JournalPath(p), What: "not a regular file (a link or a fifo planted in its place?)"}
	}
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) {
		return false, nil
	}
	return false, err
}

// ReadJournal reads and checks the pending journal; nil, nil when none.
func ReadJournal(p *pkgsvc.Playpen) (*Journal, error) {
	data, err := fsio.ReadRegular(JournalPath(p))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errf(pkgsvc.KindFailed, "", "%v", err)
	}
	return ParseJournal(JournalPath(p), data, p.Root)
}

// ParseJournal decodes a journal and refuses one of another playpen.
func ParseJournal(path string, data []byte, root string) (*Journal, error) {
	var j Journal
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || j.Plan == nil {
		why := "no plan"
		if err != nil {
			why = err.Error()
		}
		return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt (%s); inspect it, then remove it to start over", path, why)
	}
	if j.Root != root {
		return nil, errf(pkgsvc.KindConfig, "", "%s belongs to the playpen %s, not %s; remove it", path, j.Root, root)
	}
	for _, a := range j.Plan.Actions {
		if _, _, err := pkgsvc.SplitInstance(a.Service); err != nil {
			return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt: %v", path, err)
		}
	}
	for _, n := range append(append([]string(nil), j.Plan.Running...), j.Failed...) {
		if _, _, err := pkgsvc.SplitInstance(n); err != nil {
			return nil, errf(pkgsvc.KindConfig, "", "%s is corrupt: %v", path, err)
		}
	}
	return &j, nil
}

// mergePlans folds a pending plan into a newer one: every service that
// ran before either began is still owed its start, and a package changed
// twice keeps its first old version.
func mergePlans(old, cur *Plan) *Plan {
	m := *cur
	m.Changes = append([]Change(nil), cur.Changes...)
	idx := map[string]int{}
	for i, c := range m.Changes {
		idx[c.Package] = i
	}
	for _, c := range old.Changes {
		if i, ok := idx[c.Package]; ok {
			m.Changes[i].Old = c.Old
		} else {
			m.Changes = append(m.Changes, c)
		}
	}
	m.Files = union(old.Files, cur.Files)
	m.Running = union(old.Running, cur.Running)
	acted := map[string]bool{}
	for _, a := range cur.Actions {
		acted[a.Service] = true
	}
	m.Actions = append([]Action(nil), cur.Actions...)
	for _, a := range old.Actions {
		if !acted[a.Service] {
			m.Actions = append(m.Actions, a)
		}
	}
	return &m
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func writeJournal(p *pkgsvc.Playpen, j *Journal) error {
	data, _ := json.MarshalIndent(j, "", "  ")
	return fsio.WriteAtomic(JournalPath(p), append(data, '\n'), 0o644, true)
}

// lock serialises the upgrade commands of one playpen (var/run/
// upgrade.lock); the returned function releases it.
func lock(p *pkgsvc.Playpen) (func(), error) {
	if err := p.EnsureDirs(); err != nil {
		return nil, err
	}
	f, err := fsio.Lock(filepath.Join(p.RunVar, "upgrade.lock"))
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
