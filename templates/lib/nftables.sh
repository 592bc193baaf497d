# ---- nftables backend (templates/lib/nftables.sh) ----
# Everything lives in one table, inet linkbal, replaced whole by one `nft -f` transaction
# (when only the weights changed, only its chains that choose: lb_choose_load): a load the
# kernel refuses leaves the previous table as it was. No other table is touched.

# --mode least: the open TCP connections each family counts, one slot each; a new one takes
# the first free slot in lb_slots's order, so it goes to the link with the fewest open per
# unit of weight. With all taken, new ones go by weight (nth). A slot is freed by its
# connection's first FIN or RST, or after LB_SLOT_TIMEOUT (one that never closed cleanly).
LB_SLOTS=16
LB_SLOT_TIMEOUT=10m

# lb_ruleset MARK:WEIGHT...: print the table for `nft -f`, replacing the old one in the
# same transaction; the links given are the ones new connections are spread over now.
# linkbal writes only the bits of MARK_MASK, in the packet mark and the connection mark.
# With LINKS6 (--gw6), IPv6 connections pass the same chains, each family checked against
# its own default route, and are spread by chain choose6 over lb_participants 6.
lb_ruleset() {
	_mask=$(lb_hex "$MARK_MASK") _keep=$(lb_hex $((~MARK_MASK & 0xffffffff)))
	_v6=${LINKS6:+1}
	_only4='meta nfproto != ipv4 return'
	[ -z "$_v6" ] || _only4='# IPv4, and IPv6 (--gw6)'
	cat <<'EOF'
table inet linkbal {}
delete table inet linkbal
table inet linkbal {
	ct helper ftp {
		type "ftp" protocol tcp
	}

EOF
	[ "$MODE" != least ] || lb_slot_sets
	# one chain a link: mark the packet and its connection for that link (and with --mode
	# least, free the connection's slot when it ends)
	{ echo "default $LB_UNIT"; lb_links | while read -r _if _gw _w _m _rest; do echo "$_if $_m"; done; } |
		while read -r _n _m; do
			printf '\tchain link_%s {\n' "$_n"
			printf '\t\tct mark set ct mark and %s or %s\n' "$_keep" "$(lb_hex "$_m")"
			printf '\t\tmeta mark set meta mark and %s or %s\n' "$_keep" "$(lb_hex "$_m")"
			[ "$MODE" != least ] || printf '\t\ttcp flags & (fin | rst) != 0 jump free\n'
			printf '\t}\n\n'
		done
	_restore="ct mark and $_mask vmap { $(lb_hex "$LB_UNIT") : goto link_default"
	_inbound=''
	# shellcheck disable=SC2034
	while read -r _if _gw _w _m _rest; do
		[ -n "$_if" ] || continue
		_restore="$_restore, $(lb_hex "$_m") : goto link_$_if"
		_inbound="${_inbound:+$_inbound, }\"$_if\" : goto link_$_if"
	done <<EOF
$LINKS
EOF
	_exits='' _exits6=''
	for _dev in $(lb_exits); do _exits="${_exits:+$_exits, }\"$_dev\""; done
	_lanexits="fib daddr oifname != { ${_exits:-\"lo\"} } return"
	_outexits="oifname != { ${_exits:-\"lo\"} } return"
	if [ -n "$_v6" ]; then
		for _dev in $(lb_exits6); do _exits6="${_exits6:+$_exits6, }\"$_dev\""; done
		_lanexits="meta nfproto ipv4 $_lanexits
		meta nfproto ipv6 fib daddr oifname != { ${_exits6:-\"lo\"} } return"
		_outexits="meta nfproto ipv4 $_outexits
		meta nfproto ipv6 oifname != { ${_exits6:-\"lo\"} } return"
	fi
	cat <<EOF
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		$_only4
		# every packet of a connection takes its link's mark again
		$_restore }
		ct state != new return
EOF
	[ -z "$_inbound" ] || printf '\t\t# a connection that comes in on an uplink is answered through it\n\t\tiifname vmap { %s }\n' "$_inbound"
	for _if in $LAN; do printf '\t\tiifname "%s" jump lan\n' "$_if"; done
	cat <<EOF
	}

	# a new connection from the LAN
	chain lan {
		fib daddr type local return
		tcp dport 21 ct helper set "ftp"
		# one that someone else marked, or routes elsewhere than the default route, keeps its route
		meta mark != 0 return
		$_lanexits
		goto choose
	}

	# a "route" chain: a mark set here sends the packet through the routing table again
	chain out {
		type route hook output priority mangle; policy accept;
		$_only4
		# a socket that set its own mark (WireGuard, a tracker's probe) keeps the route it chose
		meta mark != 0 return
		$_restore }
		ct state != new return
		fib daddr type local return
		tcp dport 21 ct helper set "ftp"
		# one that a VPN, a policy rule or a specific route sends elsewhere keeps its route
		$_outexits
EOF
	_pins=''
	while read -r _addr _n _m; do
		[ -z "$_addr" ] || _pins="${_pins:+$_pins, }$_addr : goto link_$_n"
	done <<EOF
$(lb_pinned)
EOF
	[ -z "$_pins" ] || printf '\t\t# a socket bound to a link'"'"'s address or device keeps that link\n\t\tip saddr vmap { %s }\n' "$_pins"
	_pins=''
	[ -z "$_v6" ] || while read -r _addr _n _m; do
		[ -z "$_addr" ] || _pins="${_pins:+$_pins, }$_addr : goto link_$_n"
	done <<EOF
$(lb_pinned6)
EOF
	[ -z "$_pins" ] || printf '\t\tip6 saddr vmap { %s }\n' "$_pins"
	cat <<EOF
		goto choose
	}

	chain nat {
		type nat hook postrouting priority srcnat; policy accept;
		# a connection leaving by an uplink takes that uplink's address
EOF
	lb_links | while read -r _if _rest; do printf '\t\tmeta nfproto ipv4 oifname "%s" masquerade\n' "$_if"; done
	[ -z "$_v6" ] || lb_links | while read -r _if _rest; do
		[ ! -f "$LB_UP6/$_if" ] || printf '\t\tmeta nfproto ipv6 oifname "%s" masquerade\n' "$_if"
	done
	printf '\t}\n\n'
	lb_choosers "$@"
}

# lb_slot_sets: print --mode least's sets, two a slot (takenK: taken; connK: by which
# connection), LB_SLOTS for IPv4 and, with IPv6 (lb_ruleset's _v6), as many more; and chain
# free, which frees the slot of a connection that ends.
lb_slot_sets() {
	_n=$LB_SLOTS
	[ -z "$_v6" ] || _n=$((_n * 2))
	printf '\t# --mode least: a slot (takenK) is held by one open TCP connection (connK)\n'
	_k=0
	while [ "$_k" -lt "$_n" ]; do
		printf '\tset taken%s { typeof meta l4proto; flags dynamic,timeout; timeout %s; }\n' "$_k" "$LB_SLOT_TIMEOUT"
		printf '\tset conn%s { typeof ct id; flags dynamic,timeout; timeout %s; }\n' "$_k" "$LB_SLOT_TIMEOUT"
		_k=$((_k + 1))
	done
	printf '\n\t# a connection that ends (its first FIN or RST) frees its slot\n\tchain free {\n'
	_k=0
	while [ "$_k" -lt "$_n" ]; do
		printf '\t\tct id @conn%s delete @taken%s { meta l4proto } delete @conn%s { ct id }\n' "$_k" "$_k" "$_k"
		_k=$((_k + 1))
	done
	printf '\t}\n\n'
}

# lb_least ip|ip6 MARK:WEIGHT...: print chain least (least6): a new TCP connection takes the
# first free slot of its family, in lb_slots's order, and that slot's link; all taken, by weight.
lb_least() {
	_fam=$1 _k=0
	shift
	[ "$_fam" = ip ] || _k=$LB_SLOTS
	printf '\n\tchain least%s {\n' "${_fam#ip}"
	if [ $# -gt 1 ]; then
		printf '\t\t# the first free slot: to the link with the fewest open connections per unit of weight\n'
		for _m in $(lb_slots "$LB_SLOTS" "$@"); do
			_l=${_names#* "$_m"=}
			printf '\t\tmeta l4proto != @taken%s add @taken%s { meta l4proto } add @conn%s { ct id } goto link_%s\n' \
				"$_k" "$_k" "$_k" "${_l%% *}"
			_k=$((_k + 1))
		done
		printf '\t\t# every slot taken: by weight\n'
	fi
	lb_spread "$_fam" nth "$@"
	printf '\t}\n'
}

# lb_slots_taken [6]: with --mode least, print "NAME N, NAME N, ..." for the links of chain
# least (least6): how many of its slots are taken now, the open TCP connections the kernel
# counts for it.
lb_slots_taken() {
	nft list table inet linkbal 2>/dev/null | awk -v chain="least${1:-}" '
		$1 == "set" && $2 ~ /^taken[0-9]+$/ { set = substr($2, 6); next }
		set != "" && /elements = / { taken[set] = 1 }
		/^\t}/ { set = "" }
		$1 == "chain" { in_chain = $2 == chain }
		in_chain && / goto link_/ && /@taken/ {
			k = $0; sub(/.*@taken/, "", k); sub(/ .*/, "", k)
			l = $NF; sub(/^link_/, "", l)
			if (!(l in n)) order[++m] = l
			n[l] += taken[k]
		}
		END { for (i = 1; i <= m; i++) printf "%s%s %d", (i > 1 ? ", " : ""), order[i], n[order[i]] + 0; print "" }'
}

# LB_CHOOSER: the first line of lb_choosers, which print the rest of the ruleset: chain
# choose (and choose6), all that changes when only the weights do (lb_reweigh).
LB_CHOOSER="# a new connection that leaves by the default route: give it a link"

# lb_choosers MARK:WEIGHT...: print chain choose, chain choose6 with LINKS6, and the end.
lb_choosers() {
	_v6=${LINKS6:+1}
	lb_names	# for lb_spread and lb_least
	printf '\t%s\n\tchain choose {\n' "$LB_CHOOSER"
	[ -z "$_v6" ] || printf '\t\tmeta nfproto ipv6 goto choose6\n'
	# connections to the main table's specific routes keep their route, and take no turn
	_nets=''
	for _net in $(lb_routed); do _nets="${_nets:+$_nets, }$_net"; done
	[ -z "$_nets" ] || printf '\t\tip daddr { %s } return\n' "$_nets"
	[ -z "$BYPASS_DST$BYPASS_PORTS" ] || printf '\t\t# bypass: these keep the default link\n'
	for _net in $BYPASS_DST; do printf '\t\tip daddr %s return\n' "$_net"; done
	echo "$BYPASS_PORTS" | while read -r _proto _ports; do
		[ -z "$_proto" ] || printf '\t\t%s dport { %s } return\n' "$_proto" "$_ports"
	done
	lb_choose ip "$@"
	printf '\t}\n'
	[ "$MODE" != least ] || lb_least ip "$@"
	[ -z "$_v6" ] || lb_choose6
	printf '}\n'
}

# lb_choose6: print chain choose6, chain choose's IPv6 twin: main's other IPv6 routes and
# the bypasses keep their route, the rest is spread over the IPv6 participants.
lb_choose6() {
	printf '\n\tchain choose6 {\n'
	_nets=''
	for _net in $(lb_routed6); do _nets="${_nets:+$_nets, }$_net"; done
	[ -z "$_nets" ] || printf '\t\tip6 daddr { %s } return\n' "$_nets"
	for _net in ${BYPASS_DST6:-}; do printf '\t\tip6 daddr %s return\n' "$_net"; done
	echo "$BYPASS_PORTS" | while read -r _proto _ports; do
		[ -z "$_proto" ] || printf '\t\t%s dport { %s } return\n' "$_proto" "$_ports"
	done
	# shellcheck disable=SC2046 # the participants are words without glob characters
	set -- $(lb_reduce $(lb_participants 6))
	lb_choose ip6 "$@"
	printf '\t}\n'
	[ "$MODE" != least ] || lb_least ip6 "$@"
}

# lb_choose ip|ip6 MARK:WEIGHT...: print the statements of chain choose (choose6) that give a
# new connection its link, spread by weight according to MODE; least: TCP to chain least
# (least6), the rest by weight (nth).
lb_choose() {
	_fam=$1
	shift
	if [ "$MODE" = least ] && [ $# -gt 1 ]; then
		printf '\t\tmeta l4proto tcp goto least%s\n' "${_fam#ip}"
		lb_spread "$_fam" nth "$@"
	else
		lb_spread "$_fam" "$MODE" "$@"
	fi
}

# lb_names: set _names to " MARK=NAME ...", to name the link of a mark without a subshell
# (once, in lb_choosers).
lb_names() {
	_names=" $LB_UNIT=default $(lb_links | while read -r _if _gw _w _m _rest; do printf '%s=%s ' "$_m" "$_if"; done)"
}

# lb_spread ip|ip6 nth|random|hash MARK:WEIGHT...: print the statement that gives a new
# connection its link with one map lookup (_names: lb_names).
lb_spread() {
	_fam=$1 _how=$2
	shift 2
	[ $# -gt 0 ] || return 0
	if [ $# -eq 1 ]; then _l=${_names#* "${1%:*}"=}; printf '\t\tgoto link_%s\n' "${_l%% *}"; return 0; fi
	case $_how in
	nth)
		# shellcheck disable=SC2046
		set -- $(lb_swrr "$@")
		printf '\t\tnumgen inc mod %s vmap {' $#
		_k=0 _sep=' '
		for _m; do
			_l=${_names#* "$_m"=}
			printf '%s%s : goto link_%s' "$_sep" $_k "${_l%% *}"
			_k=$((_k + 1)) _sep=', '
		done
		echo ' }'
		;;
	*)
		_n=0
		for _p; do _n=$((_n + ${_p#*:})); done
		# weights as ranges: 4:2:1 gives { 0-3 : a, 4-5 : b, 6 : c }
		if [ "$_how" = hash ]; then
			printf '\t\tjhash %s daddr mod %s seed 0x6c62 vmap {' "$_fam" "$_n"
		else
			printf '\t\tnumgen random mod %s vmap {' "$_n"
		fi
		_k=0 _sep=' '
		for _p; do
			_last=$((_k + ${_p#*:} - 1))
			if [ "$_last" -eq "$_k" ]; then _r=$_k; else _r=$_k-$_last; fi
			_l=${_names#* "${_p%:*}"=}
			printf '%s%s : goto link_%s' "$_sep" "$_r" "${_l%% *}"
			_k=$((_last + 1)) _sep=', '
		done
		echo ' }'
		;;
	esac
}

# lb_choose_load FILE: load the chains that lb_choosers printed in the ruleset in FILE,
# alone: flushed and filled again in one transaction (false, nothing changed, if one is
# missing from the kernel).
lb_choose_load() {
	{
		awk -v m="$LB_CHOOSER" '$0 == "\t" m { p = 1 } p && /^\tchain / { print "flush chain inet linkbal " $2 }' "$1"
		echo 'table inet linkbal {'
		awk -v m="$LB_CHOOSER" '$0 == "\t" m { p = 1 } p' "$1"
	} | nft -f -
}

# lb_load FILE: load the ruleset in FILE in one transaction. lb_unload: take the table away.
lb_load() {
	nft -f "$1"
}
lb_unload() {
	printf 'table inet linkbal {}\ndelete table inet linkbal\n' | nft -f -
}

# lb_loaded: true if the kernel holds linkbal's table, with its chains on the prerouting and
# output hooks (a firewall reload, `flush ruleset`, removes it). One `nft -t`: cheap, as
# the guard asks every second.
lb_loaded() {
	_t=$(nft -t list table inet linkbal 2>/dev/null) || return 1
	case $_t in *"hook prerouting"*) ;; *) return 1 ;; esac
	case $_t in *"hook output"*) ;; *) return 1 ;; esac
}
