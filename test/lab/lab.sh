#!/usr/bin/env bash
# linkbal test lab: network namespaces simulating a host with several uplinks.
# See test/lab/README.md for the topology and the mount isolation.
#
#   lab.sh create NAME [--uplinks N] [--rate wan0=40mbit,...] [--dhcp wanK]... [--renew SECONDS] [--lan] [--owner PID]
#                      [--ipv6] [--ra wanK]   (dual stack; --ra: that uplink's IPv6 from router advertisements)
#   lab.sh router NAME wanK ADDR [--pool N] [--classless NET/BITS,GW,...]
#                                         dnsmasq of a --dhcp uplink restarted with router ADDR
#                                         (leases from 10.1.K.N; option 121 routes)
#   lab.sh ra-router NAME wanK fe80::N    an --ra uplink's router leaves; fe80::N advertises
#   lab.sh exec NAME CMD [ARGS...]        host ns + private mounts of the lab root
#   lab.sh netexec NAME NS CMD [ARGS...]  NS = host|ispI|net|lan (no extra mounts)
#   lab.sh root NAME                      print the lab root dir
#   lab.sh destroy NAME                   idempotent
#   lab.sh gc                             destroy labs whose owner/creator died
#   lab.sh list
# LINKBAL_LAB_USERLAND=DIR: exec runs its command chrooted into an overlay of DIR, another
# Debian's root (scripts/trixie-root.sh), instead of this machine's userland.
set -Eeuo pipefail

LAB_BASE=${LINKBAL_LAB_BASE:-/tmp/linkbal-lab}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
NODE=${NODE:-node}

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,15s/^# \{0,1\}//p' "$SELF" >&2
	exit 2
}

check_name() {
	[[ ${1:-} =~ ^[a-z0-9]{1,8}$ ]] || die "invalid lab name '${1:-}' (want [a-z0-9]{1,8})"
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root"
}

need_bins() {
	local b missing=()
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 || missing+=("$b")
	done
	((${#missing[@]} == 0)) || die "missing binaries: ${missing[*]}"
}

# Namespaces that belong to lab NAME (whatever exists right now).
lab_namespaces() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^lb-$1-(host|isp[0-9]+|net|lan)\$" || true
}

# "PID STARTTIME" of a live process, empty if dead.
proc_id() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "$pid ${20}"
}

running() { # PID... -> true if any of them is alive and not a zombie
	local pid st
	for pid in "$@"; do
		st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		st=${st##*) }
		[[ ${st:0:1} == Z ]] || return 0
	done
	return 1
}

alive() { # "PID STARTTIME" still the same process?
	local rec=$1
	[[ -n $rec ]] || return 1
	[[ $(proc_id "${rec%% *}") == "$rec" ]]
}

valid_uplink() { # wanI N -> is wanI one of wan0..wan{N-1}?
	[[ $1 =~ ^wan(0|[1-9][0-9]?)$ ]] || return 1
	((BASH_REMATCH[1] < $2))
}

nsysctl() { # NS KEY VALUE  (writes /proc/sys inside NS)
	ip netns exec "$1" sysctl -qw "$2=$3"
}

# ------------------------------------------------------------------ destroy
destroy_lab() {
	local name=$1 ns pid pids=() state="$LAB_BASE/$1" i
	for ns in $(lab_namespaces "$name"); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			[[ $pid == "$$" ]] || pids+=("$pid")
		done
	done
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			running "${pids[@]}" || break
			sleep 0.1
		done
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	for ns in $(lab_namespaces "$name"); do
		ip netns del "$ns" 2>/dev/null || true
	done
	# the state dir path is built from a validated name, never empty
	if [[ -d $state ]]; then
		rm -rf --one-file-system -- "$state"
	fi
	return 0
}

cmd_destroy() {
	[[ $# -eq 1 ]] || usage
	check_name "$1"
	need_root
	destroy_lab "$1"
}

cmd_gc() {
	need_root
	local d name known=" "
	if [[ -d $LAB_BASE ]]; then
		for d in "$LAB_BASE"/*/; do
			[[ -d $d ]] || continue
			name=$(basename "$d")
			[[ $name =~ ^[a-z0-9]{1,8}$ ]] || continue
			known+="$name "
			if [[ -e $d/ready ]]; then
				alive "$(cat "$d/owner" 2>/dev/null)" && continue
			elif [[ ! -s $d/creator ]]; then
				# just claimed by a create that has not written its pid yet
				[[ -n $(find "$d" -maxdepth 0 -mmin -1) ]] && continue
			else
				alive "$(cat "$d/creator" 2>/dev/null)" && continue
			fi
			destroy_lab "$name"
		done
	fi
	# namespaces without a state dir (killed before the state dir existed / removed)
	for name in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^lb-([a-z0-9]{1,8})-(host|isp[0-9]+|net|lan)$/\1/p' | sort -u); do
		[[ $known == *" $name "* ]] || destroy_lab "$name"
	done
}

cmd_list() {
	local d
	[[ -d $LAB_BASE ]] || return 0
	for d in "$LAB_BASE"/*/; do
		[[ -d $d ]] && basename "$d"
	done
	return 0
}

# ------------------------------------------------------------------ create
CREATE_NAME=
CREATE_DONE=0

create_cleanup() {
	local rc=$?
	if [[ -n $CREATE_NAME && $CREATE_DONE -ne 1 ]]; then
		trap - ERR
		echo "lab.sh: create '$CREATE_NAME' failed (rc=$rc), tearing down" >&2
		destroy_lab "$CREATE_NAME"
	fi
}

write_root() { # ROOT UPLINKS DHCP_LIST [RA_LIST]; IPV6=1: inet6 stanzas too
	local root=$1 n=$2 dhcp=" $3 " ra=" ${4:-} " i rfc3442
	mkdir -p "$root"/etc/network/{if-up.d,if-down.d,if-pre-up.d,if-post-down.d,interfaces.d} \
		"$root"/etc/linkbal \
		"$root"/etc/dhcp/{dhclient-enter-hooks.d,dhclient-exit-hooks.d} \
		"$root"/run/{network,lock} \
		"$root"/var/lib/dhcp
	: >"$root/etc/resolv.conf"
	# private copy (of the userland exec runs) so that rt_tables(.d) edits stay inside the lab
	cp -a "${LINKBAL_LAB_USERLAND:-}/etc/iproute2" "$root/etc/iproute2" 2>/dev/null ||
		mkdir -p "$root/etc/iproute2/rt_tables.d"
	# option 121 as Debian's own dhclient.conf asks for it, and isc-dhcp-client's exit hook
	# that adds those routes to main
	cat >"$root/etc/dhcp/dhclient.conf" <<-'EOF'
		# linkbal lab dhclient.conf
		option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
		request subnet-mask, broadcast-address, time-offset, routers, interface-mtu,
			rfc3442-classless-static-routes;
	EOF
	rfc3442=/etc/dhcp/dhclient-exit-hooks.d/rfc3442-classless-routes
	[[ -f $rfc3442 ]] || die "$rfc3442 is missing (isc-dhcp-client ships it)"
	cp "$rfc3442" "$root/etc/dhcp/dhclient-exit-hooks.d/"
	{
		echo "# generated by linkbal lab.sh -- nothing is brought up automatically"
		echo "iface lo inet loopback"
		for ((i = 0; i < n; i++)); do
			echo
			if [[ $dhcp == *" wan$i "* ]]; then
				echo "iface wan$i inet dhcp"
			else
				echo "iface wan$i inet static"
				echo "	address 10.1.$i.2/24"
				if ((i == 0)); then echo "	gateway 10.1.0.1"; fi
				# an --ra uplink: its inet stanza brings the device up before the inet6 one sets
				# accept_ra 2, and a router solicits routers only where it is 2 by then (README)
				if [[ $ra == *" wan$i "* ]]; then echo "	pre-up sysctl -qw net.ipv6.conf.wan$i.accept_ra=2"; fi
			fi
			((IPV6)) || continue
			# IPv6: 2001:db8:1:I::/64 from ISP I (its router ::1); DAD skipped, the lab's
			# addresses are unique; --ra: SLAAC and the router from router advertisements
			echo
			if [[ $ra == *" wan$i "* ]]; then
				echo "iface wan$i inet6 auto"
			else
				echo "iface wan$i inet6 static"
				echo "	address 2001:db8:1:$i::2/64"
				echo "	dad-attempts 0"
				if ((i == 0)); then echo "	gateway 2001:db8:1:0::1"; fi
			fi
		done
	} >"$root/etc/network/interfaces"
}

start_dnsmasq() { # NAME STATE INDEX [ROUTER [POOL [CLASSLESS]]]; RENEW: T1 in seconds (T2 twice that), or empty
	local isp="lb-$1-isp$3" s=$2 k=$3 pool=${5:-50} extra=()
	[[ -z ${RENEW:-} ]] || extra=("--dhcp-option=option:T1,$RENEW" "--dhcp-option=option:T2,$((RENEW * 2))")
	[[ -z ${6:-} ]] || extra+=("--dhcp-option=option:classless-static-route,$6")
	ip netns exec "$isp" dnsmasq \
		--conf-file=/dev/null --port=0 --user=root --group=root \
		--interface=tohost --bind-interfaces --dhcp-authoritative \
		--dhcp-range="10.1.$k.$pool,10.1.$k.$((pool + 10)),255.255.255.0,10m" \
		--dhcp-option=option:router,"${4:-10.1.$k.1}" "${extra[@]}" \
		--dhcp-leasefile="$s/dnsmasq-isp$k.leases" \
		--pid-file="$s/dnsmasq-isp$k.pid" \
		--log-facility="$s/dnsmasq-isp$k.log" --log-dhcp \
		</dev/null >>"$s/dnsmasq-isp$k.out" 2>&1 ||
		die "dnsmasq failed in $isp: $(cat "$s/dnsmasq-isp$k.out" "$s/dnsmasq-isp$k.log" 2>/dev/null)"
}

# dnsmasq's router advertisements for uplink INDEX (SLAAC in 2001:db8:1:INDEX::/64), every
# 2 s, router lifetime 30 s; its own instance, beside a --dhcp one.
# LIFETIME: 0 says the router is leaving.
start_ra() { # NAME STATE INDEX [LIFETIME]
	local isp="lb-$1-isp$3" s=$2 k=$3
	ip netns exec "$isp" dnsmasq \
		--conf-file=/dev/null --port=0 --user=root --group=root \
		--interface=tohost --bind-interfaces --enable-ra \
		--dhcp-range="2001:db8:1:$k::,ra-only,64,10m" --ra-param="tohost,2,${4:-30}" \
		--pid-file="$s/dnsmasq-ra$k.pid" \
		--log-facility="$s/dnsmasq-ra$k.log" --log-dhcp \
		</dev/null >>"$s/dnsmasq-ra$k.out" 2>&1 ||
		die "dnsmasq (RA) failed in $isp: $(cat "$s/dnsmasq-ra$k.out" "$s/dnsmasq-ra$k.log" 2>/dev/null)"
}

start_server() { # NAME STATE
	local net="lb-$1-net" s=$2 i v6=()
	((IPV6)) && v6=(--ipv6)
	setsid ip netns exec "$net" "$NODE" "$HERE/server.js" "${v6[@]}" \
		--log "$s/server.log" --ready "$s/server.ready" \
		</dev/null >"$s/server.out" 2>&1 &
	echo $! >"$s/server.pid"
	for ((i = 0; i < 100; i++)); do
		[[ -s $s/server.ready ]] && return 0
		kill -0 "$(cat "$s/server.pid")" 2>/dev/null || break
		sleep 0.1
	done
	die "server.js did not start: $(cat "$s/server.out" 2>/dev/null)"
}

# The IPv6 side of ISP I: it routes 2001:db8::/32 (the servers at 2001:db8:ff::1-3 in net),
# its uplink's network is 2001:db8:1:I::/64, and like the IPv4 side (rp_filter) it drops a
# packet from the host whose source is not in that network, counted (table ip6 labguard6,
# counter "spoofed"); anything to an address outside 2001:db8::/32 is dropped and counted.
add_isp6() { # NAME I
	local isp="lb-$1-isp$2" net="lb-$1-net" i=$2
	nsysctl "$isp" net.ipv6.conf.all.forwarding 1
	ip -n "$isp" addr add "2001:db8:1:$i::1/64" dev tohost nodad
	ip -n "$isp" addr add "2001:db8:2:$i::2/64" dev tonet nodad
	ip -n "$net" addr add "2001:db8:2:$i::1/64" dev "isp$i" nodad
	ip -n "$isp" route add default via "2001:db8:2:$i::1"
	ip -n "$net" route add "2001:db8:1:$i::/64" via "2001:db8:2:$i::2"
	ip netns exec "$isp" nft "add table ip6 labguard6
		add counter ip6 labguard6 spoofed
		add chain ip6 labguard6 guard { type filter hook forward priority -10; }
		add rule ip6 labguard6 guard iifname \"tohost\" ip6 saddr != 2001:db8:1:$i::/64 counter name spoofed drop
		add rule ip6 labguard6 guard ip6 daddr != 2001:db8::/32 counter drop"
}

cmd_create() {
	local name=${1:-}
	[[ $# -ge 1 ]] || usage
	shift
	check_name "$name"
	local uplinks=3 rate="" dhcp=() ra=() lan=0 owner=$PPID
	RENEW=
	IPV6=0
	while (($#)); do
		case $1 in
		--uplinks) uplinks=${2:-}; shift 2 || usage ;;
		--rate) rate=${2:-}; shift 2 || usage ;;
		--dhcp) dhcp+=("${2:-}"); shift 2 || usage ;;
		--renew) RENEW=${2:-}; shift 2 || usage ;;
		--lan) lan=1; shift ;;
		--ipv6) IPV6=1; shift ;;
		--ra) ra+=("${2:-}"); IPV6=1; shift 2 || usage ;;
		--owner) owner=${2:-}; shift 2 || usage ;;
		*) die "create: unknown option '$1'" ;;
		esac
	done
	if ! [[ $uplinks =~ ^[1-9][0-9]?$ ]] || ((uplinks > 32)); then
		die "--uplinks must be 1..32"
	fi
	[[ $owner =~ ^[0-9]+$ ]] || die "--owner must be a pid"
	[[ -z $RENEW || $RENEW =~ ^[1-9][0-9]{0,3}$ ]] || die "--renew must be 1..9999 seconds"
	local d spec k r
	for d in "${dhcp[@]}"; do
		valid_uplink "$d" "$uplinks" || die "--dhcp: no such uplink '$d'"
	done
	for d in "${ra[@]}"; do
		valid_uplink "$d" "$uplinks" || die "--ra: no such uplink '$d'"
		[[ $d != wan0 ]] || die "--ra: wan0 is the default link, configured statically"
	done
	declare -A rates=()
	if [[ -n $rate ]]; then
		IFS=, read -ra spec <<<"$rate"
		for r in "${spec[@]}"; do
			k=${r%%=*}
			[[ $r == *=* ]] || die "--rate: bad entry '$r'"
			valid_uplink "$k" "$uplinks" || die "--rate: no such uplink '$k'"
			[[ ${r#*=} =~ ^[0-9.]+[kmgKMG]?(bit|bps)$ ]] || die "--rate: bad rate '${r#*=}'"
			rates[$k]=${r#*=}
		done
	fi
	need_root
	need_bins ip tc unshare setsid sysctl "$NODE" dnsmasq
	check_userland
	[[ -d /var/lib/dhcp ]] || die "/var/lib/dhcp missing on this system (needed as mountpoint)"

	local state="$LAB_BASE/$name" root h net isp i
	mkdir -p "$LAB_BASE"
	chmod 0755 "$LAB_BASE"
	if ! mkdir "$state" 2>/dev/null; then
		echo "lab.sh: lab '$name' already exists ($state); use 'lab.sh destroy $name' or 'lab.sh gc'" >&2
		exit 17
	fi
	if [[ -n $(lab_namespaces "$name") ]]; then
		rmdir "$state"
		echo "lab.sh: namespaces lb-$name-* already exist; use 'lab.sh destroy $name' or 'lab.sh gc'" >&2
		exit 17
	fi
	CREATE_NAME=$name
	trap create_cleanup EXIT
	trap 'echo "lab.sh: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	proc_id $$ >"$state/creator"
	proc_id "$owner" >"$state/owner"
	printf '%s\n' "uplinks=$uplinks" "dhcp=${dhcp[*]}" "lan=$lan" "rate=$rate" "renew=$RENEW" >"$state/config"
	((IPV6)) && printf '%s\n' "ipv6=1" "ra=${ra[*]}" >>"$state/config"
	mkdir -p "$state/mnt"
	root="$state/root"
	write_root "$root" "$uplinks" "${dhcp[*]}" "${ra[*]}"

	h="lb-$name-host"
	net="lb-$name-net"
	ip netns add "$h"
	ip netns add "$net"
	ip -n "$h" link set lo up
	ip -n "$net" link set lo up
	for i in 1 2 3; do
		ip -n "$net" addr add "203.0.113.$i/32" dev lo
	done
	# The server closes first. A TIME_WAIT it kept would meet a later connection that
	# masquerading put on the same address and port: its SYN refused (PAWS), reset and
	# sent again as a new flow, which takes a second round-robin turn. So it keeps none.
	nsysctl "$net" net.ipv4.tcp_max_tw_buckets 0
	if ((IPV6)); then
		# the IPv6 servers, and the host a router (it forwards, so an uplink's router
		# advertisements count only where its stanza says accept_ra 2, as inet6 auto does)
		for i in 1 2 3; do ip -n "$net" addr add "2001:db8:ff::$i/128" dev lo; done
		nsysctl "$h" net.ipv6.conf.all.forwarding 1
	fi

	for ((i = 0; i < uplinks; i++)); do
		isp="lb-$name-isp$i"
		ip netns add "$isp"
		ip -n "$isp" link set lo up
		# IPv6: its link-local address usable as soon as the host's device comes up (router
		# advertisements and their answers to solicitations are sent from it)
		((IPV6)) && nsysctl "$isp" net.ipv6.conf.default.accept_dad 0
		nsysctl "$isp" net.ipv4.ip_forward 1
		# strict reverse path filter = ISP anti-spoofing: a packet with a
		# source address of another uplink sent through this ISP is dropped
		nsysctl "$isp" net.ipv4.conf.all.rp_filter 1
		nsysctl "$isp" net.ipv4.conf.default.rp_filter 1
		# host <-> ISP i (host side left down and unaddressed: ifupdown does it)
		ip -n "$h" link add "wan$i" type veth peer name tohost netns "$isp"
		# the lab's IPv6 addresses are unique: usable at once, no duplicate address detection
		((IPV6)) && nsysctl "$h" "net.ipv6.conf.wan$i.accept_dad" 0
		ip -n "$isp" addr add "10.1.$i.1/24" dev tohost
		ip -n "$isp" link set tohost up
		# ISP i <-> net
		ip -n "$isp" link add tonet type veth peer name "isp$i" netns "$net"
		ip -n "$isp" addr add "10.2.$i.2/24" dev tonet
		ip -n "$isp" link set tonet up
		ip -n "$isp" route add default via "10.2.$i.1"
		# the lab's own addresses only: anything else (a health probe to a public
		# address, say) is dropped and counted; lab.ts fails the test file on it
		ip netns exec "$isp" nft 'add table ip labguard; add chain ip labguard guard { type filter hook forward priority -10; };
			add rule ip labguard guard ip daddr != { 10.0.0.0/8, 203.0.113.0/24 } counter drop'
		ip -n "$net" addr add "10.2.$i.1/24" dev "isp$i"
		ip -n "$net" link set "isp$i" up
		ip -n "$net" route add "10.1.$i.0/24" via "10.2.$i.2"
		((IPV6)) && add_isp6 "$name" "$i"
		if [[ -n ${rates[wan$i]:-} ]]; then
			# download direction only (ISP -> host)
			tc -n "$isp" qdisc add dev tohost root tbf rate "${rates[wan$i]}" burst 64kb latency 100ms
		fi
	done

	if ((lan)); then
		local lanns="lb-$name-lan"
		ip netns add "$lanns"
		ip -n "$lanns" link set lo up
		ip -n "$h" link add lan0 type veth peer name eth0 netns "$lanns"
		ip -n "$h" addr add 10.3.0.1/24 dev lan0
		ip -n "$h" link set lan0 up
		ip -n "$lanns" addr add 10.3.0.2/24 dev eth0
		ip -n "$lanns" link set eth0 up
		ip -n "$lanns" route add default via 10.3.0.1
		nsysctl "$h" net.ipv4.ip_forward 1
		if ((IPV6)); then
			ip -n "$h" addr add 2001:db8:3::1/64 dev lan0 nodad
			ip -n "$lanns" addr add 2001:db8:3::2/64 dev eth0 nodad
			ip -n "$lanns" route add default via 2001:db8:3::1
		fi
	fi

	for d in "${dhcp[@]}"; do
		start_dnsmasq "$name" "$state" "${d#wan}"
	done
	for d in "${ra[@]}"; do
		start_ra "$name" "$state" "${d#wan}"
	done
	start_server "$name" "$state"

	: >"$state/ready"
	CREATE_DONE=1
}

# ------------------------------------------------------------------ exec
lab_state() { # NAME -> state dir, dies if the lab does not exist
	check_name "$1"
	local s="$LAB_BASE/$1"
	[[ -d $s/root && -e $s/ready ]] || die "no such lab '$1' (or not fully created)"
	echo "$s"
}

# LINKBAL_LAB_USERLAND, if set, must be a complete root (scripts/trixie-root.sh marks it so).
check_userland() {
	local u=${LINKBAL_LAB_USERLAND:-}
	[[ -z $u || ($u == /* && -e $u/.complete && -x $u/bin/sh) ]] ||
		die "LINKBAL_LAB_USERLAND=$u is not a complete root (build it with scripts/trixie-root.sh)"
}

cmd_exec() {
	[[ $# -ge 2 ]] || usage
	local name=$1 state
	need_root
	check_userland
	state=$(lab_state "$name")
	shift
	exec ip netns exec "lb-$name-host" unshare -m --propagation private "$BASH" "$SELF" _enter "$state" "$@"
}

# Runs inside the host netns in a fresh private mount namespace.
cmd_enter() {
	local state=$1 root e t want have
	shift
	root="$state/root"
	[[ -z ${LINKBAL_LAB_USERLAND:-} ]] || enter_userland "$state" "$LINKBAL_LAB_USERLAND" "$@"
	# /etc becomes an overlay (lower: real /etc, upper: a tmpfs private to
	# this mount ns), so mountpoints like /etc/linkbal can be created without
	# touching the real /etc. Every top-level entry of $root/etc is then
	# bind-mounted over /etc/<entry>; those are the persistent lab files.
	# -n: no utab bookkeeping; /run first so libmount never writes the real /run
	mount -n --bind "$root/run" /run
	mount -n -t tmpfs -o mode=0755,size=16m lab-etc "$state/mnt"
	mkdir "$state/mnt/upper" "$state/mnt/work"
	mount -n -t overlay lab-etc -o "lowerdir=/etc,upperdir=$state/mnt/upper,workdir=$state/mnt/work" /etc
	[[ $(stat -f -c %T /etc) == overlayfs ]] || die "overlay on /etc failed"
	shopt -s nullglob
	for e in "$root"/etc/*; do
		t="/etc/${e##*/}"
		want=f
		[[ -d $e ]] && want=d
		have=
		if [[ -L $t ]]; then have=l; elif [[ -d $t ]]; then have=d; elif [[ -e $t ]]; then have=f; fi
		if [[ -n $have && $have != "$want" ]]; then
			rm -rf -- "$t" # /etc is the overlay: this only writes whiteouts to the tmpfs upper
		fi
		if [[ -d $e ]]; then
			mkdir -p "$t"
		else
			[[ -e $t ]] || : >"$t"
		fi
		mount -n --bind "$e" "$t"
	done
	mount -n --bind "$root/var/lib/dhcp" /var/lib/dhcp
	# the linkbal command, as a package installs it: the hooks do nothing without it. On an
	# overlay of /usr/sbin; an overlay of /usr mounted later (a test's own packages) hides it.
	mkdir "$state/mnt/sbin-upper" "$state/mnt/sbin-work"
	mount -n -t overlay lab-sbin -o "lowerdir=/usr/sbin,upperdir=$state/mnt/sbin-upper,workdir=$state/mnt/sbin-work" /usr/sbin
	install -m 0755 "$HERE/../../debian/linkbal" /usr/sbin/linkbal
	exec "$@"
}

# cmd_enter with another Debian's userland U: the command runs chrooted into an overlay of U
# (upper on a tmpfs of this mount namespace: its writes vanish with it) with this netns's
# /proc, /sys and /dev, the lab's /run, /etc entries and /var/lib/dhcp as cmd_enter mounts
# them, the checkout's linkbal command on an overlay of /usr/sbin, and /tmp, the lab base
# and the checkout at their own paths (the tests' files). All of it goes with the mount
# namespace.
enter_userland() {
	local state=$1 u=$2 root="$1/root" r="$1/mnt/root" repo e t d
	shift 2
	repo=$(readlink -f "$HERE/../..")
	mount -n -t tmpfs -o mode=0755,size=1g lab-root "$state/mnt"
	mkdir "$state/mnt/upper" "$state/mnt/work" "$r"
	mount -n -t overlay lab-root -o "lowerdir=$u,upperdir=$state/mnt/upper,workdir=$state/mnt/work" "$r"
	mount -n --rbind /proc "$r/proc"
	mount -n --rbind /sys "$r/sys"
	mount -n --rbind /dev "$r/dev"
	mount -n --bind "$root/run" "$r/run"
	for d in /tmp "$LAB_BASE" "$repo"; do
		mkdir -p "$r$d"
		mount -n --bind "$d" "$r$d" # not --rbind: $r itself is under /tmp
	done
	shopt -s nullglob
	for e in "$root"/etc/*; do
		t="$r/etc/${e##*/}"
		if [[ -d $e ]]; then
			[[ -d $t && ! -L $t ]] || { rm -rf -- "$t"; mkdir "$t"; }
		else
			[[ -f $t && ! -L $t ]] || { rm -rf -- "$t"; : >"$t"; }
		fi
		mount -n --bind "$e" "$t"
	done
	mkdir -p "$r/var/lib/dhcp"
	mount -n --bind "$root/var/lib/dhcp" "$r/var/lib/dhcp"
	# on an overlay of its own, as cmd_enter: an overlay of /usr mounted later hides it
	mkdir "$state/mnt/sbin-upper" "$state/mnt/sbin-work"
	mount -n -t overlay lab-sbin -o "lowerdir=$r/usr/sbin,upperdir=$state/mnt/sbin-upper,workdir=$state/mnt/sbin-work" "$r/usr/sbin"
	install -m 0755 "$HERE/../../debian/linkbal" "$r/usr/sbin/linkbal"
	# the root's programs only (not the checkout's node_modules/.bin, which has a node 18)
	export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	# in the caller's directory when the root has it (the checkout, /tmp), else /
	# shellcheck disable=SC2016 # expanded by the chroot's sh
	exec chroot "$r" /bin/sh -c 'cd "$0" 2>/dev/null || cd /; exec "$@"' "$PWD" "$@"
}

# A new router for a --dhcp uplink: the ISP answers on ADDR too, and its dnsmasq (restarted)
# hands ADDR out from now on; the host's dhclient sees it at its next renewal. --pool N:
# leases from 10.1.K.N on (the host's address is then refused, and it binds anew);
# --classless: option 121, dnsmasq's classless-static-route list.
cmd_router() {
	[[ $# -ge 3 ]] || usage
	local name=$1 iface=$2 k=${2#wan} addr=$3 state pid pool=50 classless=
	shift 3
	while (($#)); do
		case $1 in
		--pool) pool=${2:-}; shift 2 || usage ;;
		--classless) classless=${2:-}; shift 2 || usage ;;
		*) die "router: unknown option '$1'" ;;
		esac
	done
	need_root
	state=$(lab_state "$name")
	[[ -e $state/dnsmasq-isp$k.pid && $iface == wan* ]] || die "router: $iface is not a --dhcp uplink of lab '$name'"
	[[ $addr =~ ^10\.1\.$k\.([1-9][0-9]{0,2})$ ]] || die "router: want an address 10.1.$k.N"
	[[ $pool =~ ^[1-9][0-9]?$|^1[0-9][0-9]$|^2[0-3][0-9]$ ]] || die "router: --pool must be 1..239"
	[[ $classless =~ ^[0-9./,]*$ ]] || die "router: --classless wants NET/BITS,GW,..."
	RENEW=$(sed -n 's/^renew=//p' "$state/config")
	ip -n "lb-$name-isp$k" addr replace "$addr/24" dev tohost
	pid=$(cat "$state/dnsmasq-isp$k.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	start_dnsmasq "$name" "$state" "$k" "$addr" "$pool" "$classless"
}

# A new router for an --ra uplink: its advertisements say the old one leaves (lifetime 0),
# then come from link-local ADDR. Returns once the host dropped the old router's route.
cmd_ra_router() {
	[[ $# -eq 3 ]] || usage
	local name=$1 iface=$2 k=${2#wan} addr=$3 state pid isp="lb-$1-isp${2#wan}" t
	need_root
	state=$(lab_state "$name")
	[[ -e $state/dnsmasq-ra$k.pid && $iface == wan* ]] || die "ra-router: $iface is not an --ra uplink of lab '$name'"
	[[ $addr =~ ^fe80::[0-9a-f:]+$ ]] || die "ra-router: want a link-local address fe80::N"
	for lifetime in 0 30; do
		pid=$(cat "$state/dnsmasq-ra$k.pid")
		kill "$pid"
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
		if ((lifetime)); then
			ip -n "$isp" addr flush dev tohost scope link
			ip -n "$isp" addr add "$addr/64" dev tohost nodad
		fi
		start_ra "$name" "$state" "$k" "$lifetime"
		((lifetime)) && break
		for ((t = 0; t < 100; t++)); do
			[[ -z $(ip -n "lb-$name-host" -6 route show default dev "$iface" proto ra) ]] && break
			sleep 0.05
		done
		((t < 100)) || die "ra-router: the host kept $iface's advertised router"
	done
}

cmd_netexec() {
	[[ $# -ge 3 ]] || usage
	local name=$1 ns=$2
	shift 2
	need_root
	lab_state "$name" >/dev/null
	[[ $ns =~ ^(host|isp[0-9]+|net|lan)$ ]] || die "bad namespace '$ns' (host|ispN|net|lan)"
	exec ip netns exec "lb-$name-$ns" "$@"
}

cmd_root() {
	[[ $# -eq 1 ]] || usage
	echo "$(lab_state "$1")/root"
}

main() {
	local cmd=${1:-}
	[[ $# -ge 1 ]] && shift
	case $cmd in
	create) cmd_create "$@" ;;
	exec) cmd_exec "$@" ;;
	_enter) cmd_enter "$@" ;;
	netexec) cmd_netexec "$@" ;;
	router) cmd_router "$@" ;;
	ra-router) cmd_ra_router "$@" ;;
	root) cmd_root "$@" ;;
	destroy) cmd_destroy "$@" ;;
	gc) cmd_gc ;;
	list) cmd_list ;;
	*) usage ;;
	esac
}

main "$@"
