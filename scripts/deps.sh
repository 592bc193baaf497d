#!/bin/sh
# Install the Debian packages the tests, demo and benchmark run (only the missing ones).
set -eu
need="iproute2 iptables nftables ifupdown isc-dhcp-client dnsmasq-base curl conntrack
shellcheck devscripts lintian fakeroot dpkg-dev man-db util-linux bsdutils iputils-ping
posh busybox netfilter-persistent iptables-persistent debootstrap systemd-container"
missing=
for p in $need; do
	dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing; run as root (the lab tests need root anyway)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# iptables-persistent would save this machine's rules to /etc/iptables/rules.v4 (then
# netfilter-persistent restores them at boot): the tests need its plugins, not that
case "$missing" in *iptables-persistent*)
	printf 'iptables-persistent iptables-persistent/%s boolean false\n' autosave_v4 autosave_v6 |
		debconf-set-selections
	;;
esac
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
