# ---- iptables backend (templates/lib/iptables.sh) ----
# Rules load with one `iptables-restore --noflush` batch: each table's COMMIT is atomic, and
# declaring ":linkbal-x - [0:0]" creates or flushes just that chain, never anyone else's.

# lb_jump CHAIN TARGET: print the rule that sends built-in CHAIN to TARGET, unless
# iptables-save showed it already ($_saved, read once by lb_ruleset).
lb_jump() {
	# shellcheck disable=SC2154 # _saved: set by lb_ruleset
	case $_saved in
	*"-A $1 -j $2
"*) ;;
	*) echo "-I $1 -j $2" ;;
	esac
}

# lb_choose MARK:WEIGHT...: the rules of chain linkbal-choose that give a new connection
# its link mark, spread by weight according to MODE.
lb_choose() {
	[ $# -gt 0 ] || return 0
	case $MODE in
	random)
		for _p in $(lb_cascade "$@"); do
			if [ "${_p#*:}" = 1 ]; then
				echo "-A linkbal-choose -m mark --mark 0 -j MARK --set-mark ${_p%:*}"
			else
				echo "-A linkbal-choose -m mark --mark 0 -m statistic --mode random --probability ${_p#*:} -j MARK --set-mark ${_p%:*}"
			fi
		done
		;;
	*)
		# shellcheck disable=SC2046
		set -- $(lb_swrr "$@")
		if [ $# -eq 1 ]; then echo "-A linkbal-choose -j MARK --set-mark $1"; return 0; fi
		# nth: every rule sees every new connection, so their counters stay in step.
		# hash: HMARK puts hash(destination) mod N in the mark, then each slot gets its link.
		[ "$MODE" = hash ] &&
			echo "-A linkbal-choose -j HMARK --hmark-tuple dst --hmark-mod $# --hmark-offset 65536 --hmark-rnd 0x6c62"
		_k=0
		for _m; do
			if [ "$MODE" = hash ]; then
				echo "-A linkbal-choose -m mark --mark $((65536 + _k)) -j MARK --set-mark $_m"
			else
				echo "-A linkbal-choose -m statistic --mode nth --every $# --packet $_k -j MARK --set-mark $_m"
			fi
			_k=$((_k + 1))
		done
		;;
	esac
}

# lb_keep_routed: the rules of chain linkbal-choose that let a connection to a destination
# of the main table's specific routes (lb_routed) pass unmarked, without taking a turn.
lb_keep_routed() {
	for _net in $(lb_routed); do echo "-A linkbal-choose -d $_net -j RETURN"; done
}

lb_load() {
	iptables-restore -w --noflush <"$1"
}

# lb_unload: take out the jumps to linkbal's chains, then the chains, in one batch.
lb_unload() {
	for _t in raw nat mangle; do
		echo "*$_t"
		_chains=''
		while read -r _l; do
			case $_l in
			:linkbal-*) _chains="$_chains ${_l%% *}" ;;
			"-A linkbal-"*) ;;
			"-A "*" -j linkbal-"*) echo "-D ${_l#-A }" ;;
			esac
		done <<EOF
$(iptables-save -t "$_t" 2>/dev/null)
EOF
		for _c in $_chains; do echo "-F ${_c#:}"; done
		for _c in $_chains; do echo "-X ${_c#:}"; done
		echo COMMIT
	done >"$RUN/unload"
	iptables-restore -w --noflush <"$RUN/unload" && rm -f "$RUN/unload" || return 1
	# iptables-nft made its tables (raw, nat, mangle) on the first load; where nothing but
	# empty built-in chains is left, take the table away too, as it was before linkbal.
	case $(iptables -V) in *nf_tables*) ;; *) return 0 ;; esac
	for _t in raw nat mangle; do
		iptables -w -t "$_t" -S | grep -qv "^-P [A-Z]* ACCEPT$" || nft delete table ip "$_t" 2>/dev/null
	done
	return 0
}
