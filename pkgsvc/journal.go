package pkgsvc

import "os"

// JournalPath is where `upgrade pre` records what it did (SPEC §8.3).
func (p *Playpen) JournalPath() string { return p.LocalVar + "/upgrade.journal" }

// JournalPending reports whether an upgrade was begun and not finished.
func (p *Playpen) JournalPending() (bool, error) {
	_, err := os.Stat(p.JournalPath())
	if err == nil {
		return true, nil
	}
	if os.IsNotExist(err) {
		return false, nil
	}
	return false, err
}
