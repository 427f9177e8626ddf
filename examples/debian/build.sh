#!/bin/sh
# Package a playpen package as a Debian .deb (issue 17, README "Packaging
# services"):
#
#   build.sh [--start] [--etc DIR] [--playpen PATH] PKGDIR OUTDIR
#
# PKGDIR is a package laid out as in a playpen (NAME-VERSION/ holding
# NAME-VERSION.services, .config, bin/...). The .deb installs it under
# PLAYPEN/ext/packages/NAME-VERSION/ (PLAYPEN defaults to /srv/playpen;
# dpkg's DPKG_ROOT is honoured, for --instdir with
# --force-script-chrootless), with --etc DIR copied to PLAYPEN/ext/etc/,
# and four maintainer scripts of one command each. --start makes a fresh
# install start the package's services (as dh_installsystemd does unless
# --no-start); without it they are registered, not started.
set -eu
flags="" etc="" playpen=/srv/playpen
while [ $# -gt 2 ]; do
	case $1 in
	--start) flags=" --start"; shift ;;
	--etc) etc=$2; shift 2 ;;
	--playpen) playpen=$2; shift 2 ;;
	*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ $# -eq 2 ] || { echo "usage: build.sh [--start] [--etc DIR] [--playpen PATH] PKGDIR OUTDIR" >&2; exit 2; }
src=$1 out=$2
nv=$(basename "$src")
name=${nv%%-[0-9]*} version=${nv#"$name"-}
[ -f "$src/$nv.services" ] || { echo "build.sh: $src/$nv.services is missing: PKGDIR must be NAME-VERSION/ as in ext/packages/" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
tree=$(mktemp -d)
chmod 755 "$tree"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/DEBIAN" "$tree$playpen/ext/packages"
cp -R "$src" "$tree$playpen/ext/packages/$nv"
if [ -n "$etc" ]; then
	mkdir -p "$tree$playpen/ext/etc"
	cp -R "$etc" "$tree$playpen/ext/etc/"
fi
arch=all
if find "$src" -type f -exec sh -c 'head -c 4 "$1" | grep -q ELF' _ {} \; -print | grep -q .; then
	arch=$(dpkg --print-architecture)
fi
cat >"$tree/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: servicectl examples <servicectl@example.invalid>
Description: $name, a playpen package whose services servicectl manages
 Installed under $playpen/ext/packages/$nv/.
CONTROL
for script in preinst postinst prerm postrm; do
	f=""
	[ "$script" = postinst ] && f=$flags
	sed -e "s|@SCRIPT@|$script|g" -e "s|@PACKAGE@|$name|g" -e "s|@VERSION@|$version|g" \
		-e "s|@PLAYPEN@|$playpen|g" -e "s|@FLAGS@|$f|g" "$here/maintscript.in" >"$tree/DEBIAN/$script"
	chmod 755 "$tree/DEBIAN/$script"
done
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$tree" "$out/${name}_${version}_$arch.deb" >/dev/null
echo "$out/${name}_${version}_$arch.deb"
