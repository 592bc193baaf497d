#!/usr/bin/env bash
# Self-test of the lab itself (not of linkbal). Needs root. Usage: test/lab/selftest.sh
set -Eeuo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
L="$HERE/lab.sh"
N="st$((RANDOM % 100000))"
FAILS=0

ok() { echo "ok   - $*"; }
bad() {
	echo "FAIL - $*"
	FAILS=$((FAILS + 1))
}
check() { # DESCRIPTION EXPECTED ACTUAL
	if [[ $3 == "$2" ]]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}

fingerprint() { # what must never change on the real machine
	{
		find /etc/network /etc/resolv.conf /etc/dhcp /etc/iproute2 /var/lib/dhcp -printf '%p %s %T@ %m\n' 2>&1
		find /etc/network /etc/dhcp /etc/iproute2 /var/lib/dhcp /etc/resolv.conf -type f -exec md5sum {} + 2>&1
		find /etc /run -maxdepth 1 -printf "%p %y %m\n" 2>&1 | sort
		ls /run/network 2>&1 || true
		ip -o addr
		ip route
		ip rule
		iptables-save 2>/dev/null | grep -v '^#'
		nft list ruleset 2>/dev/null
	} | md5sum
}

cleanup() { "$L" destroy "$N" || true; }
trap cleanup EXIT

before=$(fingerprint)

"$L" create "$N" --uplinks 3 --dhcp wan2 --lan --rate wan0=40mbit --owner $$
ok "create"
if out=$("$L" create "$N" 2>&1); then
	bad "duplicate create succeeded"
else
	check "duplicate create fails clearly" 1 "$(grep -c 'already exists' <<<"$out")"
fi
ROOT=$("$L" root "$N")

# shellcheck disable=SC2016 # expanded by the hook, not here
printf '#!/bin/sh\necho "$IFACE $MODE $ADDRFAM $PHASE" >> /run/hooklog\n' >"$ROOT/etc/network/if-up.d/zzlog"
chmod +x "$ROOT/etc/network/if-up.d/zzlog"
for i in 0 1 2; do
	"$L" exec "$N" ifup "wan$i" >/dev/null 2>&1 || bad "ifup wan$i"
done
check "hooks ran" "wan0 start inet post-up,wan1 start inet post-up,wan2 start inet post-up" "$(paste -sd, "$ROOT/run/hooklog")"
addr=$("$L" netexec "$N" host ip -4 -o addr show wan2 | awk '{print $4}')
if [[ $addr =~ ^10\.1\.2\.(5[0-9]|60)/24$ ]]; then ok "dhcp address $addr"; else bad "dhcp address '$addr'"; fi
check "lease has router" 1 "$(grep -c 'option routers 10.1.2.1;' "$ROOT/var/lib/dhcp/dhclient.wan2.leases")"
dpid=$(cat "$ROOT/run/dhclient.wan2.pid")
check "dhclient runs in host ns" 1 "$(ip netns pids "lb-$N-host" | grep -cx "$dpid")"
check "http from host" 10.1.0.2 "$("$L" exec "$N" curl -sS -m5 http://203.0.113.1:8080/)"
check "ftp from host" 10.1.0.2 "$("$L" exec "$N" curl -sS -m5 ftp://203.0.113.1/x)"
check "udp via client.js" '{"10.1.0.2":2}' "$("$L" exec "$N" node "$HERE/client.js" --udp --count 2 | sed -E 's/.*"counts":(\{[^}]*\}).*/\1/')"
if "$L" exec "$N" curl -sS -m3 --interface 10.1.1.2 http://203.0.113.1/ >/dev/null 2>&1; then
	bad "ISP anti-spoofing (wan1 source via wan0 should be dropped)"
else
	ok "ISP anti-spoofing drops a wan1 source sent via isp0"
fi
"$L" netexec "$N" host iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
check "http from lan (masquerade)" 10.1.0.2 "$("$L" netexec "$N" lan curl -sS -m5 http://203.0.113.1/)"
"$L" netexec "$N" host iptables -t nat -D POSTROUTING -o wan0 -j MASQUERADE
"$L" exec "$N" ifdown wan2 >/dev/null 2>&1 || bad "ifdown wan2"
sleep 0.5
if [[ $(ps -o stat= -p "$dpid" 2>/dev/null) == [^Z]* ]]; then
	bad "dhclient still running after ifdown"
else
	ok "ifdown killed dhclient"
fi
"$L" exec "$N" ifdown wan1 || bad "ifdown wan1"
check "ifstate after ifdown" "wan0=wan0" "$(cat "$ROOT/run/network/ifstate")"
check "exec exit code" 42 "$(
	"$L" exec "$N" sh -c 'exit 42' || echo $?
)"
"$L" exec "$N" ifup wan2 >/dev/null 2>&1 # leave a dhclient running for destroy
"$L" destroy "$N"
check "namespaces gone after destroy" 0 "$(ip netns list | grep -c "^lb-$N-" || true)"
check "state dir gone" no "$([[ -e /tmp/linkbal-lab/$N ]] && echo yes || echo no)"

timeout -s INT 0.3 "$L" create "${N}i" --uplinks 32 --dhcp wan3 --lan 2>/dev/null || true
check "SIGINT during create cleans up" 0 "$(ip netns list | grep -c "^lb-${N}i-" || true)"
"$L" create "${N}k" --uplinks 32 --lan --owner $$ &
sleep 0.5
kill -KILL $! 2>/dev/null || true
wait $! 2>/dev/null || true
"$L" gc
check "gc after SIGKILL during create" 0 "$(ip netns list | grep -c "^lb-${N}k-" || true)"

check "real /etc, /run/network, root ns unchanged" "$before" "$(fingerprint)"
if ((FAILS)); then
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "all lab self-tests passed"
