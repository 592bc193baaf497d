#!/bin/sh
# The 2006 HOWTO's "random" method (Tim Utschig, "Balancing Connections Over Multiple
# Links", /work/shared/seed/balancing-connections-over-multiple-links.txt), for the bench lab:
# default link wan0 (gateway 10.1.0.1, main table), secondaries wan1 (10.1.1.1) and
# wan2 (10.1.2.1). Runs inside `test/lab/lab.sh exec LAB`, never on the real host.
#
#   howto.sh start   the HOWTO's common commands + the "random" method + its if-up hook
#   howto.sh stop    undo all of it
#
# Written as in the HOWTO; changed only where today's kernel forces it:
#   -m state --state          -> same (still accepted by iptables 1.8)
#   -m random --average 34/50 -> -m statistic --mode random --probability 0.34/0.5
#   -j ROUTE --gw GW --continue (never merged) -> restore the connmark into the packet mark
#        (-j CONNMARK --restore-mark) and route by mark: ip rule fwmark 2 lookup 102,
#        table 102 default via GW (the HOWTO's if-up.d hook becomes: add the rule + route)
#   -s ! NET                  -> ! -s NET (iptables syntax)
#   modprobe ip_conntrack_ftp -> left out: the bench downloads over HTTP only (and since
#        4.7 a helper needs an explicit CT rule anyway)
# Not added on purpose: weights, anything smarter. The split is the HOWTO's: 34% default,
# 50% of the rest to wan1, the rest to wan2.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin

start() {
	# prevent incoming packets on masqueraded connections from being dropped as martians
	echo 0 >/proc/sys/net/ipv4/conf/wan1/rp_filter
	echo 0 >/proc/sys/net/ipv4/conf/wan2/rp_filter

	# masquerade outgoing connections on secondary interfaces
	iptables -w -t nat -A POSTROUTING -o wan1 ! -s 10.1.1.0/24 -m state --state NEW,RELATED -j MASQUERADE
	iptables -w -t nat -A POSTROUTING -o wan2 ! -s 10.1.2.0/24 -m state --state NEW,RELATED -j MASQUERADE

	# create a chain for processing new outgoing connections
	iptables -w -t mangle -N NEW_OUT_CONN

	# skip connections we want to always go out the wired interface (as in the HOWTO;
	# none of them matches the bench's HTTP downloads on port 8080)
	iptables -w -t mangle -A NEW_OUT_CONN -d 192.168.1.0/24 -j RETURN
	iptables -w -t mangle -A NEW_OUT_CONN -p tcp -m multiport --destination-ports 21,22,80,443,6667 -j RETURN
	iptables -w -t mangle -A NEW_OUT_CONN -p udp --dport 53 -j RETURN

	# have new outgoing connections pass through the above chain
	iptables -w -t mangle -A OUTPUT -o wan0 -m state --state NEW -j NEW_OUT_CONN

	# send packets out the chosen interface: was -j ROUTE --gw per connmark; now the
	# connmark becomes the packet mark, and a mark changed in mangle OUTPUT re-routes
	iptables -w -t mangle -A OUTPUT -j CONNMARK --restore-mark

	# the "random" method
	# 34% of the time go out the default interface
	iptables -w -t mangle -A NEW_OUT_CONN -j CONNMARK --set-mark 0
	iptables -w -t mangle -A NEW_OUT_CONN -m statistic --mode random --probability 0.34 -j RETURN
	# 33% of the time go out wan1 (50% of the remaining probability)
	iptables -w -t mangle -A NEW_OUT_CONN -j CONNMARK --set-mark 2
	iptables -w -t mangle -A NEW_OUT_CONN -m statistic --mode random --probability 0.5 -j RETURN
	# else (hopefully 33% of the time) go out wan2
	iptables -w -t mangle -A NEW_OUT_CONN -j CONNMARK --set-mark 3

	# the HOWTO's if-up.d hook, per secondary link (ROUTE --gw -> fwmark routing)
	up wan1
	up wan2
}

up() {
	case $1 in
	wan1) mark=2 table=102 gw=10.1.1.1 ;;
	wan2) mark=3 table=103 gw=10.1.2.1 ;;
	*) return 0 ;;
	esac
	ip route replace default via "$gw" dev "$1" table "$table"
	ip rule del fwmark "$mark" lookup "$table" 2>/dev/null || true
	ip rule add fwmark "$mark" lookup "$table"
}

down() {
	case $1 in
	wan1) mark=2 table=102 ;;
	wan2) mark=3 table=103 ;;
	*) return 0 ;;
	esac
	ip rule del fwmark "$mark" lookup "$table" 2>/dev/null || true
	ip route flush table "$table" 2>/dev/null || true
}

stop() {
	down wan1
	down wan2
	iptables -w -t mangle -D OUTPUT -o wan0 -m state --state NEW -j NEW_OUT_CONN 2>/dev/null || true
	iptables -w -t mangle -D OUTPUT -j CONNMARK --restore-mark 2>/dev/null || true
	iptables -w -t mangle -F NEW_OUT_CONN 2>/dev/null || true
	iptables -w -t mangle -X NEW_OUT_CONN 2>/dev/null || true
	iptables -w -t nat -D POSTROUTING -o wan1 ! -s 10.1.1.0/24 -m state --state NEW,RELATED -j MASQUERADE 2>/dev/null || true
	iptables -w -t nat -D POSTROUTING -o wan2 ! -s 10.1.2.0/24 -m state --state NEW,RELATED -j MASQUERADE 2>/dev/null || true
}

case ${1:-} in
start) start ;;
stop) stop ;;
up | down) "$1" "${2:?IFACE}" ;;
*)
	echo "usage: $0 start|stop|up IFACE|down IFACE" >&2
	exit 2
	;;
esac
