#!/bin/sh
# A Debian 13 (trixie) userland for the lab's host namespace (make trixie; test/lab/README.md):
# debootstrap's minbase and only the packages the runtime and the tests run there. Built once
# and cached in /var/cache/lab-roots/trixie-HASH (HASH of the list and the mirror: a new
# package list is a new root), atomically: debootstrap writes a temporary directory that is
# renamed when complete, so an interrupted build is never used. Prints the root's path.
set -eu
suite=trixie
mirror=${LINKBAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# the runtime (ip, nft, iptables, conntrack, ping, sysctl, ifupdown and dhclient), apt for the
# packages' tests, curl and nodejs for the tests' clients and the tool package (and
# ca-certificates, which it recommends: without it, node warns on every start)
pkgs=iproute2,nftables,iptables,ifupdown,isc-dhcp-client,conntrack,iputils-ping,procps,nodejs,ca-certificates,curl
# not a path with "linkbal" in it: the package tests check that none is left after a purge
cache=${LINKBAL_CACHE:-/var/cache/lab-roots}
hash=$(echo "1 minbase $suite $pkgs $mirror" | sha256sum | cut -c1-12)
root=$cache/$suite-$hash
if [ -e "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
die() {
	echo "trixie-root: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
command -v debootstrap >/dev/null || die "debootstrap is missing: install Debian package debootstrap (make deps)"
mkdir -p "$cache"
# one build at a time (another make check, another worktree); the first one's root serves all
exec 9>"$cache/.$suite.lock"
flock 9
if [ -e "$root/.complete" ]; then
	echo "$root"
	exit 0
fi
# what a build killed outright left (with the lock held, no other build is running)
rm -rf --one-file-system "$cache/.$suite-"*
tmp=$(mktemp -d "$cache/.$suite-$hash.XXXXXX")
log=$tmp.log
trap 'rm -rf --one-file-system "$tmp" "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "trixie-root: debootstrap $suite from $mirror into $root (once)" >&2
# in a mount namespace of its own: the /proc and /sys it mounts in the root go with it
if ! unshare -m --propagation private debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "debootstrap $suite from $mirror failed (is the archive reachable? last lines above)"
fi
rm -rf "$tmp"/var/cache/apt/archives/*.deb
chmod 0755 "$tmp"
: >"$tmp/.complete"
# a root without .complete (made by hand?) is not a complete one: replace it
rm -rf --one-file-system "$root"
mv "$tmp" "$root"
echo "$root"
