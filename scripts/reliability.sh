#!/bin/sh
# make reliability: the reliability scenarios of docs/RELIABILITY.md at
# their published sizes, then every fuzz target, as one table (scenario,
# trials, failures, seconds) printed and written to docs/RELIABILITY.md.
# Exit 1 when any trial failed. Sizes: SERVICECTL_RELIABILITY=full (the
# default here; a number scales the soaks), FUZZ_N executions per target.
set -u
: "${GO:=go}" "${FUZZ_N:=1000000}" "${SERVICECTL_RELIABILITY:=full}" "${SHDIFF_N:=100000}" "${HOOKDIFF_N:=20000}"
export SERVICECTL_RELIABILITY
out=_reliability
mkdir -p "$out"
: >"$out/rows"
began=$(date +%s)
SERVICECTL_SHDIFF_N=$SHDIFF_N SERVICECTL_HOOKDIFF_N=$HOOKDIFF_N $GO test -count=1 -v -timeout 60m \
	-run 'Reliability|RandomAssignmentsMatchDash|RandomHooksMatchDash|RollingUpgradeServesThroughout|HealthGateRollsBack|RollingUpgradeSurvivesKill9|DpkgMaintainerScripts' ./cmd/servicectl ./hooks ./pkgsvc/supervise >"$out/test.log" 2>&1
status=$?
grep -o 'RELIABILITY|.*' "$out/test.log" | cut -d'|' -f2- >>"$out/rows"
for t in pkgsvc:FuzzVersion pkgsvc:FuzzPackageLists pkgsvc:FuzzDeps pkgsvc/upgrade:FuzzJournal envtypes:FuzzConstraints hooks:FuzzSub hooks:FuzzConform; do
	pkg=${t%%:*} name=${t#*:}
	t0=$(date +%s)
	if $GO test -run '^$' -fuzz "^$name\$" -fuzztime "${FUZZ_N}x" -fuzzminimizetime 2s "./$pkg" >"$out/$name.log" 2>&1; then
		fail=0
	else
		fail=1 status=1
	fi
	echo "fuzz $name ($pkg): executions; a crasher is a failure|$FUZZ_N|$fail|$(($(date +%s) - t0))" >>"$out/rows"
done
if grep -q -- '--- FAIL' "$out/test.log"; then status=1; fi
{
	echo "# Reliability report"
	echo
	echo "Produced by \`make reliability\` ($(basename "$0"): SERVICECTL_RELIABILITY=$SERVICECTL_RELIABILITY, FUZZ_N=$FUZZ_N, SHDIFF_N=$SHDIFF_N, HOOKDIFF_N=$HOOKDIFF_N) at commit $(git rev-parse --short HEAD 2>/dev/null) on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -sr), in $(($(date +%s) - began)) s. \`make test\` runs a short version of each scenario. What each scenario does and the kill points are listed below the table."
	echo
	echo "| scenario | trials | failures | seconds |"
	echo "|---|---:|---:|---:|"
	awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$out/rows"
	echo
	sed -n '/^<!-- about -->/,$p' docs/RELIABILITY.md 2>/dev/null
} >"$out/RELIABILITY.md"
cp "$out/RELIABILITY.md" docs/RELIABILITY.md
sed -n '/^| scenario/,/^$/p' docs/RELIABILITY.md
[ "$status" -eq 0 ] || echo "reliability: failures above; details in $out/test.log and $out/Fuzz*.log" >&2
exit "$status"
