# ---- iptables backend (templates/lib/iptables.sh) ----
# Rules load with one `iptables-restore --noflush` batch: each table's COMMIT is atomic, and
# declaring ":linkbal-x - [0:0]" creates or flushes just that chain, never anyone else's.

# lb_ruleset MARK:WEIGHT...: print linkbal's chains for iptables-restore; the links given
# are the ones new connections are spread over now (lb_choose).
lb_ruleset() {
	_saved="$(iptables-save 2>/dev/null)
"
	echo '*raw'
	echo ':linkbal-helper - [0:0]'
	lb_jump "$_saved" PREROUTING linkbal-helper
	lb_jump "$_saved" OUTPUT linkbal-helper
	cat <<'EOF'
# FTP data connections become RELATED to their control connection and inherit its link
-A linkbal-helper -p tcp --dport 21 -j CT --helper ftp
COMMIT
*nat
:linkbal-nat - [0:0]
EOF
	lb_jump "$_saved" POSTROUTING linkbal-nat
	echo "# a connection leaving by an uplink takes that uplink's address"
	lb_links | while read -r _if _rest; do echo "-A linkbal-nat -o $_if -j MASQUERADE"; done
	cat <<'EOF'
COMMIT
*mangle
:linkbal-pre - [0:0]
:linkbal-out - [0:0]
:linkbal-choose - [0:0]
EOF
	lb_jump "$_saved" PREROUTING linkbal-pre
	lb_jump "$_saved" OUTPUT linkbal-out
	cat <<'EOF'
# every packet of a connection takes the link mark of its first packet
-A linkbal-pre -j CONNMARK --restore-mark
-A linkbal-pre -m mark ! --mark 0 -j RETURN
-A linkbal-pre -m conntrack ! --ctstate NEW -j RETURN
# a connection that comes in on an uplink is answered through it
EOF
	lb_links | while read -r _if _gw _w _m _rest; do echo "-A linkbal-pre -i $_if -j MARK --set-mark $_m"; done
	for _if in $LAN; do echo "-A linkbal-pre -i $_if -m addrtype ! --dst-type LOCAL -j linkbal-choose"; done
	cat <<'EOF'
-A linkbal-pre -j CONNMARK --save-mark
# a socket that set its own mark (a tracker's probe) keeps the route it chose
-A linkbal-out -m mark ! --mark 0 -j RETURN
-A linkbal-out -j CONNMARK --restore-mark
-A linkbal-out -m mark ! --mark 0 -j RETURN
-A linkbal-out -m conntrack --ctstate NEW -m addrtype ! --dst-type LOCAL -j linkbal-choose
-A linkbal-out -j CONNMARK --save-mark
# connections to the main table's specific routes keep their route, and take no turn
EOF
	for _net in $(lb_routed); do echo "-A linkbal-choose -d $_net -j RETURN"; done
	[ -z "$BYPASS_DST$BYPASS_PORTS" ] || echo '# bypass: these keep the default link'
	for _net in $BYPASS_DST; do echo "-A linkbal-choose -d $_net -j RETURN"; done
	echo "$BYPASS_PORTS" | while read -r _proto _ports; do
		[ -z "$_proto" ] || echo "-A linkbal-choose -p $_proto -m multiport --dports $_ports -j RETURN"
	done
	lb_choose "$@"
	echo COMMIT
}

# lb_jump SAVED CHAIN TARGET: print the rule that sends built-in CHAIN to TARGET, unless
# SAVED (the output of iptables-save) shows it already.
lb_jump() {
	case $1 in
	*"-A $2 -j $3
"*) ;;
	*) echo "-I $2 -j $3" ;;
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

# lb_load FILE: load the batch in FILE (each table atomic).
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
	done >"$LB_UNLOAD"
	iptables-restore -w --noflush <"$LB_UNLOAD" && rm -f "$LB_UNLOAD" || return 1
	# iptables-nft made its tables (raw, nat, mangle) on the first load; where nothing but
	# empty built-in chains is left, take the table away too, as it was before linkbal.
	case $(iptables -V) in *nf_tables*) ;; *) return 0 ;; esac
	for _t in raw nat mangle; do
		iptables -w -t "$_t" -S | grep -qv "^-P [A-Z]* ACCEPT$" || nft delete table ip "$_t" 2>/dev/null
	done
	return 0
}

# lb_loaded: true if the kernel holds the jumps from the built-in chains to linkbal's chains
# in raw, mangle and nat (a firewall reload, a full iptables-restore, removes them). One
# iptables-save: cheap, as the guard asks every second.
lb_loaded() {
	iptables-save 2>/dev/null | awk '
		/^\*/ { t = substr($1, 2) }
		$1 == "-A" && $(NF - 1) == "-j" && $NF ~ /^linkbal-/ { j[t " " $2 " " $NF] = 1 }
		END { exit !(("raw PREROUTING linkbal-helper" in j) && ("raw OUTPUT linkbal-helper" in j) &&
			("mangle PREROUTING linkbal-pre" in j) && ("mangle OUTPUT linkbal-out" in j) &&
			("nat POSTROUTING linkbal-nat" in j)) }'
}
