#!/usr/bin/env bash
# make bench: linkbal against the physical limit and the 2006 HOWTO's method, in
# throwaway network-namespace labs (test/lab/lab.sh). Root. See bench/README.md.
#   bash bench/run.sh [--rounds N] [--draws N] [--only howto,iptables-nth,...,health]
#                     [--workload equal,pareto]
#                     [--out DIR] [--count N] [--parallel P]
# With --only, the health bench runs only when the list names it.
# Writes bench/out/results.md (also printed), results.json and bytes.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "make bench: needs root (network namespaces)" >&2; exit 1; }
[[ -f dist/cli.js ]] || { echo "make bench: build first (make)" >&2; exit 1; }

# extra tools only the bench uses (the lab's own come from scripts/deps.sh)
if ! command -v strace >/dev/null; then
	echo "bench: installing strace" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null; }
fi

LAB=test/lab/lab.sh
# lab names b<TAG><n>; whatever bench.mjs leaves (killed) goes here
BENCH_TAG=$(printf '%04x' $(($$ % 65536)))
export BENCH_TAG
cleanup() {
	local n
	for n in $($LAB list); do
		[[ $n == b"$BENCH_TAG"* ]] && $LAB destroy "$n"
	done
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

out=bench/out only=''
for ((i = 1; i <= $#; i++)); do
	j=$((i + 1))
	[[ ${!i} == --out ]] && out=${!j}
	[[ ${!i} == --only ]] && only=,${!j},
done
# bench.mjs with only "health" would measure the limit and no method
[[ $only == ,health, ]] || node bench/bench.mjs "$@"
# health tracking: detection, recovery, failed connections, false alarms, CPU
[[ -z $only || $only == *,health,* ]] || exit 0
node bench/health.mjs --out "$out"
