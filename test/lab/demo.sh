#!/usr/bin/env bash
# make demo: linkbal on three uplinks in a throwaway lab, with real ifupdown.
# wan0 is the default link (weight 1), wan1 weight 2, wan2 weight 1 (its gateway from DHCP);
# dual stack: each uplink has an inet6 stanza too, and IPv6 is balanced the same way.
# The mode is nftables' default, least: connections held open show it spreading by weight.
# Nothing outside the lab's network namespaces is touched; the lab goes away at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "make demo: needs root (network namespaces)" >&2; exit 1; }
LAB=test/lab/lab.sh
NAME=demo$$
NAME=${NAME:0:8}
trap '$LAB destroy "$NAME"' EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# shellcheck disable=SC2016 # the single-quoted text is JavaScript
shares() { # N HOST [--hold|--udp]: N connections (or UDP probes), how many each uplink carried, as the server saw
	$LAB exec "$NAME" node test/lab/client.js --count "$1" --hosts "$2" ${3:+"$3"} | node -e '
		let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
			const c = JSON.parse(s).counts, total = Object.values(c).reduce((a, b) => a + b, 0);
			const wan = (a) => a.replace(/^10\.1\.(\d+)\..*/, "wan$1").replace(/^2001:db8:1:(\d*):.*/, (m, k) => `wan${k || 0}`);
			for (const [link, n] of Object.entries(c).map(([a, n]) => [wan(a), n]).sort())
				console.log(`  ${link.padEnd(6)} ${String(n).padStart(4)}  ${(100 * n / total).toFixed(1).padStart(5)}%  ${"#".repeat(Math.round(40 * n / total))}`);
		});'
}

say "a lab: host with uplinks wan0 wan1 wan2 (wan2 by DHCP), one ISP each, a server at 203.0.113.1 and 2001:db8:ff::1"
$LAB create "$NAME" --uplinks 3 --dhcp wan2 --ipv6 --owner $$
ROOT=$($LAB root "$NAME")

say "linkbal-gen --iface wan1 --gw 10.1.1.1 --gw6 2001:db8:1:1::1 --weight 2 --iface wan2 --gw dhcp --gw6 2001:db8:1:2::1 --probe 203.0.113.1 --probe 203.0.113.2 --probe 2001:db8:ff::1 --probe 2001:db8:ff::2"
# the health trackers probe the lab's own servers, never a public address
bin/linkbal-gen --root "$ROOT" --iface wan1 --gw 10.1.1.1 --gw6 2001:db8:1:1::1 --weight 2 \
	--iface wan2 --gw dhcp --gw6 2001:db8:1:2::1 \
	--probe 203.0.113.1 --probe 203.0.113.2 --probe 2001:db8:ff::1 --probe 2001:db8:ff::2

say "ifup wan0; ifup wan1; ifup wan2   (real ifupdown; the hooks do the rest)"
for i in wan0 wan1 wan2; do $LAB exec "$NAME" ifup "$i"; done 2>/dev/null

say "/etc/linkbal/rules status"
$LAB exec "$NAME" /etc/linkbal/rules status

say "12 TCP connections held open at once: each new one takes the link with the fewest open per unit of weight (1:2:1)"
shares 12 203.0.113.1 --hold

say "the same over IPv6, to 2001:db8:ff::1"
shares 12 2001:db8:ff::1 --hold

say "400 UDP probes (DNS, QUIC: not TCP): spread by weight, exactly"
shares 400 203.0.113.1 --udp

say "20 TCP connections one after another, each closed before the next: nearly every one finds every link idle and takes the heaviest, wan1 (--mode nth: turns by weight)"
shares 20 203.0.113.1

say "ifdown wan1: the others share its load (1:1), IPv4 and IPv6"
# (ifupdown 0.8 itself says "ipv6: address not found": the inet stanza's down took it already)
$LAB exec "$NAME" ifdown wan1 2> >(grep -v 'ipv6: address not found' >&2)
shares 12 203.0.113.1 --hold
shares 12 2001:db8:ff::1 --hold
shares 200 203.0.113.1 --udp

say "ifup wan1: back to 1:2:1"
$LAB exec "$NAME" ifup wan1
shares 12 203.0.113.1 --hold

say "/etc/linkbal/rules status"
$LAB exec "$NAME" /etc/linkbal/rules status
say "done; tearing the lab down"
