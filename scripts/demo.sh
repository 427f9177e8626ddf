#!/bin/sh
# make demo: copy the example playpen to $DEMO, build its HTTP service,
# register the packages' services as a package manager would, then show
# list, show, env, start, status and the service answering.
set -eu
: "${GO:=go}" "${BIN:=bin/servicectl}" "${DEMO:=_demo/playpen}"
SC="$(pwd)/$BIN"
if [ -s "$DEMO/daemon.pid" ]; then kill "$(cat "$DEMO/daemon.pid")" 2>/dev/null || true; fi
if [ -d "$DEMO" ] && [ -x "$SC" ]; then "$SC" --root "$DEMO" --quiet stop 2>/dev/null || true; fi
rm -rf "$DEMO"
mkdir -p "$(dirname "$DEMO")"
cp -R examples/playpen "$DEMO"
"$GO" build -o "$DEMO/ext/packages/hello-1.0.0/bin/hello" ./examples/hello

# Ports: PORT_PREFIX from the caller if given, else the first prefix
# (18400, 18500, …) none of whose 100 ports is listened on here.
listening() { ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }'; }
free_prefix() {
	used=$(listening)
	for p in $(seq 18400 100 28400); do
		clash=0
		for q in $used; do
			if [ "$q" -ge "$p" ] && [ "$q" -lt $((p + 100)) ]; then clash=1; break; fi
		done
		[ "$clash" -eq 0 ] && { echo "$p"; return; }
	done
	echo "no free block of 100 ports from 18400 to 28499; set PORT_PREFIX" >&2
	return 1
}
prefix=${PORT_PREFIX:-$(free_prefix)}
sed -i "s/^PORT_PREFIX=.*/PORT_PREFIX=$prefix/" "$DEMO/etc/project.conf"
echo "demo: PORT_PREFIX=$prefix (set PORT_PREFIX=N to choose)"

cd "$DEMO"
# A step that fails stops what the demo started, and says so.
cleanup() {
	status=$?
	[ "$status" -eq 0 ] && return
	[ -s daemon.pid ] && kill "$(cat daemon.pid)" 2>/dev/null
	"$SC" --quiet stop 2>/dev/null
	echo "demo: a step failed (exit $status); stopped what it had started (\`make demo-stop\` does the same)" >&2
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
for s in $(cat ext/packages/*/*.services | grep -v '^#'); do
	step "$SC" new-service "$s"
done
step "$SC" list --all
step "$SC" show hello
step "$SC" env --verbose
step "$SC" env --check
step "$SC" start
step "$SC" status
port=$("$SC" show --json hello | sed -n 's/.*"HELLO_PORT=\([0-9]*\)".*/\1/p')
printf '\n\033[1m$ curl http://127.0.0.1:%s/\033[0m\n' "$port"
if command -v curl >/dev/null; then curl -s "http://127.0.0.1:$port/"; else echo "(curl is not installed; open the URL above)"; fi
if command -v curl >/dev/null; then
	printf '\n\033[1m$ curl http://127.0.0.1:%s/banner\033[0m   # rendered by sub-conf before start\n' "$port"
	curl -s "http://127.0.0.1:$port/banner"
fi
step "$SC" logs worker -n 3
step "$SC" status echo

# The supervisor and its dashboard (SPEC §9): it holds hello's socket
# (service_sockets, §4.11), restarts crashed services, serves the page.
# The URL with the token goes to the daemon's stdout only (never to its
# log on stderr): daemon.url here, mode 0600 like the token file.
(umask 077; : >daemon.url)
"$SC" daemon --http 127.0.0.1:0 </dev/null >daemon.url 2>daemon.log &
echo $! >daemon.pid
i=0; until grep -q '^dashboard: ' daemon.url 2>/dev/null || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done
url=$(sed -n 's/^dashboard: //p' daemon.url)
printf '\n\033[1m$ servicectl daemon &\033[0m   # supervises; dashboard: %s\n' "$url"

# A live upgrade through the sample package manager (examples/pkgmgr.sh),
# with a client sending request after request all along: hello is
# stopped and started again, and the daemon's socket keeps every
# connection waiting meanwhile.
new="$OLDPWD/_demo/hello-1.1.0"
rm -rf "$new" && cp -R "$OLDPWD/examples/packages/hello-1.1.0" "$new"
(cd "$OLDPWD" && "$GO" build -o "$new/bin/hello" ./examples/hello)
step "$SC" upgrade plan hello=1.1.0
step "$SC" why hello
ext/packages/hello-1.0.0/bin/hello probe "http://127.0.0.1:$port/" >probe.out &
probe=$!
step env SERVICECTL="$SC" sh "$OLDPWD/examples/pkgmgr.sh" . "$new"
kill -TERM "$probe"; wait "$probe" || true
printf '\n\033[1m# a client during the upgrade:\033[0m %s\n' "$(cat probe.out)"
step "$SC" status
printf '\n\033[1m$ curl http://127.0.0.1:%s/\033[0m\n' "$port"
if command -v curl >/dev/null; then curl -s "http://127.0.0.1:$port/"; fi
step "$SC" logs cache-a -n 2

pid=$("$SC" --json status worker | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
printf '\n\033[1m$ kill -9 %s\033[0m   # worker crashes; the daemon brings it back\n' "$pid"
kill -9 "$pid"
i=0; until "$SC" ping worker 2>/dev/null && [ "$("$SC" --json status worker | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')" != "$pid" ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done
step "$SC" status worker

# A deliberately broken upgrade: hello 1.2.0's program exits at once. It
# fails its health gate; servicectl runs the package manager's rollback
# and every service ends on 1.1.0 again, while the others keep serving.
bad="$OLDPWD/_demo/hello-1.2.0"
rm -rf "$bad" && mkdir -p "$bad/bin"
sed 's/1\.1\.0/1.2.0/g' "$OLDPWD/examples/packages/hello-1.1.0/hello-1.1.0.config" >"$bad/hello-1.2.0.config"
cp "$OLDPWD/examples/packages/hello-1.1.0/hello-1.1.0.services" "$bad/hello-1.2.0.services"
cp "$OLDPWD/examples/packages/hello-1.1.0/hello-1.1.0.files" "$bad/hello-1.2.0.files"
printf '#!/bin/sh\necho "hello 1.2.0: broken on purpose" >&2\nexit 1\n' >"$bad/bin/hello" && chmod +x "$bad/bin/hello"
step "$SC" upgrade plan --hooks hello=1.2.0
worker=$("$SC" --json status worker | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
step env SERVICECTL="$SC" sh "$OLDPWD/examples/pkgmgr.sh" . "$bad" || true
step "$SC" status
printf '\n\033[1m$ curl http://127.0.0.1:%s/\033[0m   # hello is back on 1.1.0\n' "$port"
if command -v curl >/dev/null; then curl -s "http://127.0.0.1:$port/"; fi
[ "$("$SC" --json status worker | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')" = "$worker" ] && echo "worker kept serving: same pid $worker throughout"
printf '\nThe services keep running, supervised; the dashboard is at %s\nStop everything with: make demo-stop\n' "$url"
