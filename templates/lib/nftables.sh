# ---- nftables backend (templates/lib/nftables.sh) ----
# Everything lives in one table, inet linkbal, replaced whole by one `nft -f` transaction:
# a load the kernel refuses leaves the previous table as it was. No other table is touched.

# lb_ruleset MARK:WEIGHT...: print the table for `nft -f`, replacing the old one in the
# same transaction; the links given are the ones new connections are spread over now.
lb_ruleset() {
	cat <<'EOF'
table inet linkbal {}
delete table inet linkbal
table inet linkbal {
	ct helper ftp {
		type "ftp" protocol tcp
	}

	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		meta nfproto != ipv4 return
		# FTP data connections become RELATED to their control connection and inherit its link
		ct state new tcp dport 21 ct helper set "ftp"
		# every packet of a connection takes the link mark of its first packet
		ct mark != 0 meta mark set ct mark return
		ct state != new return
		# a connection that comes in on an uplink is answered through it
EOF
	lb_links | while read -r _if _gw _w _m _rest; do
		printf '\t\tiifname "%s" ct mark set %s meta mark set %s return\n' "$_if" "$_m" "$_m"
	done
	for _if in $LAN; do printf '\t\tiifname "%s" fib daddr type != local jump choose\n' "$_if"; done
	cat <<'EOF'
	}

	# a "route" chain: a mark set here sends the packet through the routing table again
	chain out {
		type route hook output priority mangle; policy accept;
		meta nfproto != ipv4 return
		# a socket that set its own mark (a tracker's probe) keeps the route it chose
		meta mark != 0 return
		ct state new tcp dport 21 ct helper set "ftp"
		ct mark != 0 meta mark set ct mark return
		ct state new fib daddr type != local jump choose
	}

	chain nat {
		type nat hook postrouting priority srcnat; policy accept;
		# a connection leaving by an uplink takes that uplink's address
EOF
	lb_links | while read -r _if _rest; do printf '\t\tmeta nfproto ipv4 oifname "%s" masquerade\n' "$_if"; done
	printf '\t}\n\n\tchain choose {\n'
	# connections to the main table's specific routes keep their route, and take no turn
	_nets=''
	for _net in $(lb_routed); do _nets="${_nets:+$_nets, }$_net"; done
	[ -z "$_nets" ] || printf '\t\tip daddr { %s } return\n' "$_nets"
	[ -z "$BYPASS_DST$BYPASS_PORTS" ] || printf '\t\t# bypass: these keep the default link\n'
	for _net in $BYPASS_DST; do printf '\t\tip daddr %s return\n' "$_net"; done
	echo "$BYPASS_PORTS" | while read -r _proto _ports; do
		[ -z "$_proto" ] || printf '\t\t%s dport { %s } return\n' "$_proto" "$_ports"
	done
	lb_choose "$@"
	printf '\t\tmeta mark set ct mark\n\t}\n}\n'
}

# lb_choose MARK:WEIGHT...: print the statement of chain choose that gives a new connection
# its link mark with one map lookup, spread by weight according to MODE.
lb_choose() {
	[ $# -gt 0 ] || return 0
	case $MODE in
	nth)
		# shellcheck disable=SC2046
		set -- $(lb_swrr "$@")
		if [ $# -eq 1 ]; then printf '\t\tct mark set %s\n' "$1"; return 0; fi
		printf '\t\tct mark set numgen inc mod %s map {' $#
		_k=0 _sep=' '
		for _m; do printf '%s%s : %s' "$_sep" $_k "$_m"; _k=$((_k + 1)) _sep=', '; done
		echo ' }'
		;;
	*)
		_n=0
		for _p; do _n=$((_n + ${_p#*:})); done
		if [ "$_n" -eq 1 ]; then printf '\t\tct mark set %s\n' "${1%:*}"; return 0; fi
		# weights as ranges: 4:2:1 gives { 0-3 : a, 4-5 : b, 6 : c }
		if [ "$MODE" = hash ]; then
			printf '\t\tct mark set jhash ip daddr mod %s seed 0x6c62 map {' "$_n"
		else
			printf '\t\tct mark set numgen random mod %s map {' "$_n"
		fi
		_k=0 _sep=' '
		for _p; do
			_last=$((_k + ${_p#*:} - 1))
			if [ "$_last" -eq "$_k" ]; then _r=$_k; else _r=$_k-$_last; fi
			printf '%s%s : %s' "$_sep" "$_r" "${_p%:*}"
			_k=$((_last + 1)) _sep=', '
		done
		echo ' }'
		;;
	esac
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
