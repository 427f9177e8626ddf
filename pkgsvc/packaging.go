package pkgsvc

import (
	"os"
)

// ValidatePackage evaluates the service definitions and typed environment
// of one unpacked package version, as `upgrade pre` does for a version
// unpacked beside the old (§8.3), without registering anything. Package
// managers that unpack before they can call servicectl (dpkg runs preinst
// before the files exist) validate here, before anything is restarted.
func (p *Playpen) ValidatePackage(pkg, version string) error {
	if _, err := os.Stat(p.PackageDir(pkg, version)); err != nil {
		return Errorf(KindConfig, "", "%s is not there: was %s %s unpacked into this playpen (%s)?", p.PackageDir(pkg, version), pkg, version, p.Root)
	}
	return p.ValidateVersions([]Package{{Name: pkg, Version: version}}, "nothing was restarted")
}

// PackageServices lists the services PKG VERSION provides (its .services
// file); none when it has no such file.
func (p *Playpen) PackageServices(pkg, version string) ([]string, error) {
	return p.packageServices(pkg, version)
}
