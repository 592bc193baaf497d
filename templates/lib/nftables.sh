# ---- nftables backend (templates/lib/nftables.sh) ----
# Everything lives in one table, inet linkbal, replaced whole by one `nft -f` transaction:
# a load the kernel refuses leaves the previous table as it was. No other table is touched.

# lb_choose MARK:WEIGHT...: the statement of chain choose that gives a new connection its
# link mark with one map lookup, spread by weight according to MODE.
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

# lb_keep_routed: the rule of chain choose that lets a connection to a destination of the
# main table's specific routes (lb_routed) pass unmarked, without taking a turn.
lb_keep_routed() {
	_nets=''
	for _net in $(lb_routed); do _nets="${_nets:+$_nets, }$_net"; done
	[ -z "$_nets" ] || printf '\t\tip daddr { %s } return\n' "$_nets"
}

lb_load() {
	nft -f "$1"
}

lb_unload() {
	printf 'table inet linkbal {}\ndelete table inet linkbal\n' | nft -f -
}
