package pkgsvc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Validating a package version before it is installed: its definitions
// resolved from a scratch copy, as new-service would install them.

// ValidateVersions evaluates the definitions and typed environment of
// every service of the given package versions that are already unpacked
// (the others are skipped), without registering anything: validate before
// you stop (SPEC §8.3). consequence says in the error what was not done.
func (p *Playpen) ValidateVersions(pkgs []Package, consequence string) error {
	var errs []string
	for _, c := range pkgs {
		if c.Version == "" {
			continue
		}
		if _, err := os.Stat(p.PackageDir(c.Name, c.Version)); err != nil {
			continue
		}
		svcs, err := p.packageServices(c.Name, c.Version)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, s := range svcs {
			if err := p.validateCandidate(Registered{Service: s, Package: c.Name, Version: c.Version}); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return Errorf(KindConfig, "", "the new version does not validate; %s:\n  %s", consequence, strings.Join(errs, "\n  "))
	}
	return nil
}

// Candidate resolves name (a service of reg, or an instance of it) from
// reg's package directory as new-service would install it, in a scratch
// copy under scratchDir, without registering anything. real rewrites
// scratch paths in messages back to the package's own files; done removes
// the scratch copy.
func (p *Playpen) Candidate(reg Registered, name, scratchDir string) (s *Service, real func(string) string, done func(), err error) {
	scratch, err := os.MkdirTemp(scratchDir, ".candidate-")
	if err != nil {
		return nil, nil, nil, err
	}
	done = func() { os.RemoveAll(scratch) }
	q := p.shallow()
	q.extServices = scratch
	qs := q.c()
	from, err := q.installServiceFilesFrom(reg, filepath.Join(scratch, reg.Service+"-"+reg.Version))
	if err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("%s %s: %w", reg.Service, reg.Version, err)
	}
	real = func(msg string) string {
		for dst, src := range from {
			msg = strings.ReplaceAll(msg, dst, src)
		}
		return msg
	}
	qs.regIndex = map[string]Registered{reg.Service: reg}
	qs.projIndex = map[string]bool{}
	qs.indexDone = true
	s, err = q.resolve(context.Background(), name)
	if err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("%s %s: %s", reg.Service, reg.Version, real(err.Error()))
	}
	return s, real, done, nil
}

// validateCandidate checks reg's definition as the new version ships it
// (§8.3: validate before you stop).
func (p *Playpen) validateCandidate(reg Registered) error {
	if err := p.EnsureDirs(); err != nil {
		return err
	}
	s, real, done, err := p.Candidate(reg, reg.Service, p.LocalVar)
	if err != nil {
		return err
	}
	defer done()
	if s.Template {
		return nil
	}
	if len(s.Typed.Problems) > 0 {
		return fmt.Errorf("%s %s: %s", reg.Service, reg.Version, s.Typed.Problems[0].Error())
	}
	// The program must be there to start: a path (not a bare name, which
	// the package manager may yet install under ext/bin) is checked now.
	if s.ProgramErr != "" && s.Hooks["start"].Empty() && strings.ContainsRune(s.programArg, '/') {
		return fmt.Errorf("%s %s: %s (service_program in %s)", reg.Service, reg.Version, s.ProgramErr, real(strings.Join(s.ConfigFiles, ", ")))
	}
	return nil
}
