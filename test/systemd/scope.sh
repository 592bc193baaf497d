#!/usr/bin/env bash
# The background programs outlive the unit that started them, under a real systemd (issue 11).
# On Debian an allow-hotplug link is brought up by ifup@IFACE.service, and stopping that unit
# kills what is left in its cgroup; linkbal starts its learner, guard and trackers in scopes
# of their own (lb_bg). This boots a debootstrapped Debian (the suite of this machine) with
# systemd as PID 1 under systemd-nspawn, in a network namespace of its own (only lo and the
# veth pairs made here: nothing leaves it), brings wan0 (the default link), wan1 and wan2 up
# with `systemctl start ifup@IFACE`, stops ifup@wan1 and checks that the learner, the guard
# and the trackers of the default link and wan2 are the same processes, still holding
# their locks, each in its linkbal-*.scope; wan1's tracker ended with its link. Then
# `linkbal restart` starts new ones, each in a new scope, and `linkbal stop` leaves no program
# and no unit.
#
#   bash test/systemd/scope.sh        root; needs debootstrap and systemd-container
# The Debian root is made once (a few minutes, from the configured Debian mirror) and kept in
# $LINKBAL_SD_CACHE (default /var/cache/lab-roots/systemd-SUITE: no path named linkbal, which
# the package tests look for); each run boots a copy.
set -Eeuo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(readlink -f "$HERE/../..")
SUITE=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
CACHE=${LINKBAL_SD_CACHE:-/var/cache/lab-roots/systemd-$SUITE}
MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

die() { echo "scope.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root"
for b in debootstrap:debootstrap systemd-nspawn:systemd-container nsenter:util-linux; do
	command -v "${b%%:*}" >/dev/null || die "${b%%:*} is missing: apt-get install ${b#*:}"
done
[[ -x $REPO/bin/linkbal-gen && -d $REPO/dist ]] || die "build first: make"

if [[ ! -e $CACHE/.complete ]]; then
	rm -rf --one-file-system "$CACHE"
	mkdir -p "${CACHE%/*}"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,ifupdown,iproute2,nftables,iputils-ping,procps,conntrack \
		"$SUITE" "$CACHE" "$MIRROR" >/dev/null || die "debootstrap $SUITE failed"
	: >"$CACHE/.complete"
fi

WORK=$(mktemp -d /var/tmp/lab-systemd.XXXXXX)
ROOT=$WORK/root
NSPAWN=
cleanup() {
	if [[ -n $NSPAWN ]] && kill -0 "$NSPAWN" 2>/dev/null; then
		kill -TERM "$NSPAWN" # nspawn powers the container off
		for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPAWN" 2>/dev/null || true
	fi
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
cp -a "$CACHE" "$ROOT"

# linkbal as the package installs it: two listed uplinks, learned weights, trackers
"$REPO/bin/linkbal-gen" --iface wan1 --gw 10.9.1.1 --weight auto --iface wan2 --gw 10.9.2.1 --weight auto \
	--probe 203.0.113.1 --probe 203.0.113.2 --backend nftables --root "$ROOT" >/dev/null
install -m 0755 "$REPO/debian/linkbal" "$ROOT/usr/sbin/linkbal"
{
	printf 'auto lo\niface lo inet loopback\n'
	for i in 0 1 2; do
		printf '\nallow-hotplug wan%s\niface wan%s inet static\n\taddress 10.9.%s.2/24\n' "$i" "$i" "$i"
		((i)) || printf '\tgateway 10.9.0.1\n'
	done
} >"$ROOT/etc/network/interfaces"
# Debian's ifup@.service less its binding to the device's unit, which udev makes (no udev here)
grep -v 'sys-subsystem-net-devices' "$ROOT/lib/systemd/system/ifup@.service" >"$ROOT/etc/systemd/system/ifup@.service"
echo lbsd >"$ROOT/etc/hostname"

# the scenario, inside: PROGRAM ARG -> "PID CGROUP" of the program's session leader
cat >"$ROOT/root/scenario.sh" <<'EOF'
set -eu
for i in 0 1 2; do ip link add "wan$i" type veth peer name "wan${i}p"; ip link set "wan${i}p" up; done
programs() {
	ps -e -o pid=,sid=,args= | awk '$1 == $2 && $3 == "/bin/sh" && $4 ~ /^\/etc\/linkbal\// { print $4, ($5 == "" ? "-" : $5), $1 }' | sort |
		while read -r prog arg pid; do
			echo "$prog $arg $pid $(sed -n 's/^0::\|^[0-9]*:name=systemd://p' "/proc/$pid/cgroup" | head -n 1)"
		done
}
for i in 0 1 2; do systemctl start "ifup@wan$i.service"; done
sleep 2
echo "== up"; programs
systemctl stop ifup@wan1.service
sleep 2
echo "== after systemctl stop ifup@wan1.service"; programs
echo "== locks held"
for l in /run/linkbal/learner.lock /run/linkbal/guard.lock /run/linkbal/track/*.lock; do
	if flock -n "$l" true; then echo "$l free"; else echo "$l held"; fi
done
linkbal restart
sleep 2
echo "== after linkbal restart"; programs
linkbal stop
sleep 1
echo "== after linkbal stop"; programs; systemctl list-units --all --no-legend 'linkbal-*'
EOF

systemd-nspawn -D "$ROOT" --boot --private-network --register=no --keep-unit -M "lbsd$$" >"$WORK/console.log" 2>&1 &
NSPAWN=$!
LEADER=
for _ in $(seq 100); do
	LEADER=$(pgrep -P "$NSPAWN" | head -n 1) && [[ -n $LEADER ]] && break
	sleep 0.1
done
[[ -n $LEADER ]] || die "the container did not start: $(cat "$WORK/console.log")"
inside() { nsenter -t "$LEADER" -m -u -i -n -p -C -- "$@"; }
state=
for _ in $(seq 300); do
	state=$(inside systemctl is-system-running 2>/dev/null) || true
	[[ $state == running || $state == degraded ]] && break
	sleep 0.1
done
[[ $state == running || $state == degraded ]] || die "systemd in the container: '$state'"
[[ $(inside cat /proc/1/comm) == systemd ]] || die "PID 1 in the container is not systemd"

out=$(inside sh /root/scenario.sh 2>&1) || die "the scenario failed: $out"
echo "$out"

# the programs before and after: PROGRAM ARG PID UNIT
before=$(sed -n '/^== up/,/^== after systemctl/p' <<<"$out" | grep '^/etc/linkbal/')
after=$(sed -n '/^== after systemctl/,/^== locks/p' <<<"$out" | grep '^/etc/linkbal/')
fail=0
expect() { # WHAT: a program that must still run, the same process
	local line
	line=$(grep -F "$1 " <<<"$before" | head -n 1)
	[[ -n $line ]] || { echo "FAIL: $1 did not run after the ifups"; fail=1; return; }
	[[ $line == *"/linkbal-"*".scope" ]] || { echo "FAIL: $1 not in a scope of its own: $line"; fail=1; }
	grep -qxF "$line" <<<"$after" || { echo "FAIL: $1 did not outlive ifup@wan1.service: $line"; fail=1; }
}
expect "/etc/linkbal/learner -"
expect "/etc/linkbal/guard -"
expect "/etc/linkbal/tracker default"
expect "/etc/linkbal/tracker wan2"
grep -q '^/etc/linkbal/tracker wan1 ' <<<"$before" || { echo "FAIL: wan1 had no tracker"; fail=1; }
! grep -q '^/etc/linkbal/tracker wan1 ' <<<"$after" || { echo "FAIL: wan1's tracker outlived its link"; fail=1; }
for l in learner guard track/default track/wan2; do
	grep -qx "/run/linkbal/$l.lock held" <<<"$out" || { echo "FAIL: /run/linkbal/$l.lock is not held"; fail=1; }
done
# a restart: new guard and trackers (the old ones saw the start change and ended), each in a
# new scope (the learner may go on: it ends within a step of a stop, and the start came first)
restarted=$(sed -n '/^== after linkbal restart/,/^== after linkbal stop/p' <<<"$out" | grep '^/etc/linkbal/')
for p in "guard -" "tracker default" "tracker wan2"; do
	line=$(grep -F "/etc/linkbal/$p " <<<"$restarted" || true)
	[[ $line == *"/linkbal-"*".scope" ]] || { echo "FAIL: after restart, $p: '$line'"; fail=1; }
	! grep -qxF "$line" <<<"$after" || { echo "FAIL: $p is the process of before the restart"; fail=1; }
done
# a stop: no program left, and no unit of linkbal's either (--collect)
[[ -z $(sed -n '/^== after linkbal stop/,$p' <<<"$out" | sed 1d) ]] || { echo "FAIL: left after linkbal stop"; fail=1; }
((fail == 0)) || die "the background programs did not outlive the unit that started them"
echo "scope.sh: ok: the learner, the guard and the trackers outlived ifup@wan1.service, each in its own scope; restart and stop"
