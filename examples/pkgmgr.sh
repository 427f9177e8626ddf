#!/bin/sh
# A sample package manager for playpens, to show how one drives servicectl.
#
#   pkgmgr.sh PLAYPEN PACKAGE_DIR     install or upgrade PACKAGE_DIR (named NAME-VERSION)
#
# 1. unpack the new version beside the old one (ext/packages/NAME-VERSION/),
#    so `upgrade pre` can validate it before anything is stopped;
# 2. wrap the switch-over in `servicectl upgrade run NAME=VERSION -- ...`:
#    pre stops what must stop, the command rewrites installed-packages and
#    registers the services (new-service), post starts and restarts, and
#    each service it started must pass its health check;
# 3. if they do not, servicectl runs the --rollback command (this script
#    switching back to the old version, whose files are still there) and
#    post again: every service ends on the old version, and we remove the
#    new one's files and fail;
# 4. otherwise remove the old version's files.
set -eu
SERVICECTL=${SERVICECTL:-servicectl}
if [ "${1:-}" = --switch ]; then
	# Runs inside `upgrade run`: the part that changes what is installed.
	root=$2 name=$3 version=$4
	list="$root/ext/etc/installed-packages"
	tmp="$list.tmp.$$"
	{ grep -v "^$name " "$list" 2>/dev/null || true; echo "$name $version"; } >"$tmp"
	mv "$tmp" "$list"
	for s in $(grep -v '^#' "$root/ext/packages/$name-$version/$name-$version.services" 2>/dev/null); do
		"$SERVICECTL" --root "$root" new-service "$s"
	done
	exit 0
fi
root=$(cd "$1" && pwd) src=$2
nv=$(basename "$src")
name=${nv%%-[0-9]*} version=${nv#"$name"-}
old=$(sed -n "s/^$name \(.*\)$/\1/p" "$root/ext/etc/installed-packages" 2>/dev/null || true)
mkdir -p "$root/ext/packages"
rm -rf "$root/ext/packages/$nv"
cp -R "$src" "$root/ext/packages/$nv"
set -- "$root" "$name" "$version"
if [ -n "$old" ] && [ "$old" != "$version" ]; then
	# One string, split into words as sh would by servicectl (never run by
	# a shell): quote each part.
	set -- --rollback "'$0' --switch '$root' '$name' '$old'" -- "$0" --switch "$@"
else
	set -- -- "$0" --switch "$@"
fi
if ! "$SERVICECTL" --root "$root" upgrade run "$name=$version" "$@"; then
	if [ -n "$old" ] && grep -q "^$name $old\$" "$root/ext/etc/installed-packages"; then
		rm -rf "$root/ext/packages/$nv"
		echo "pkgmgr: $name $version failed its health check; rolled back to $old" >&2
	fi
	exit 1
fi
if [ -n "$old" ] && [ "$old" != "$version" ]; then rm -rf "$root/ext/packages/$name-$old"; fi
echo "pkgmgr: $name ${old:+$old -> }$version installed"
