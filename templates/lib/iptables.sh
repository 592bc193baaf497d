# ---- iptables backend (templates/lib/iptables.sh) ----
# Rules load with `iptables-restore --noflush` batches, all or nothing (lb_load), and
# declaring ":linkbal-x - [0:0]" creates or flushes just that chain, never anyone else's.
# With LINKS6 (--gw6) the same chains are loaded for IPv6 by ip6tables-restore. A ruleset
# then holds both families' batches, a line belonging to the family of the last heading
# (LB_V4, LB_V6) before it, IPv4 before any (lb_batch): IPv4's tables, IPv6's, then
# (lb_choosers) each family's rules of chain linkbal-choose, which end its mangle. A function
# given a family F (4 or 6) runs "ip${F#4}tables": iptables for 4, ip6tables for 6 (and
# lb_exits or lb_exits6 likewise).
LB_V4='# ---- IPv4: iptables-restore ----'
LB_V6='# ---- IPv6: ip6tables-restore ----'

# lb_ruleset MARK:WEIGHT...: print linkbal's chains for iptables-restore, and with LINKS6 for
# ip6tables-restore too; the links given are the ones new IPv4 connections are spread over
# now (lb_choose). linkbal writes only the bits of MARK_MASK, in the packet mark and the
# connection mark.
lb_ruleset() {
	lb_tables 4
	[ -z "${LINKS6:-}" ] || { echo "$LB_V6"; lb_tables 6; }
	lb_choosers "$@"
}

# lb_tables 4|6: print the family's batch up to the rules of chain linkbal-choose (lb_choosers
# print those and the end of mangle). IPv6: masquerade on the links whose IPv6 side is up,
# and IPv6's exits and pins (lb_exits6, lb_pinned6).
lb_tables() {
	_saved="$("ip${1#4}tables-save" 2>/dev/null)
"
	_m=$(lb_hex "$MARK_MASK")
	echo '*raw'
	echo ':linkbal-helper - [0:0]'
	lb_jumps raw "$_saved"
	cat <<'EOF'
# FTP data connections of outgoing connections become RELATED to their control connection
# and inherit its link
-A linkbal-helper -p tcp --dport 21 -m addrtype ! --dst-type LOCAL -j CT --helper ftp
COMMIT
*nat
:linkbal-nat - [0:0]
EOF
	lb_jumps nat "$_saved"
	echo "# a connection leaving by an uplink takes that uplink's address"
	lb_links | while read -r _if _rest; do
		[ "$1" = 4 ] || [ -f "$LB_UP6/$_if" ] || continue
		echo "-A linkbal-nat -o $_if -j MASQUERADE"
	done
	cat <<EOF
COMMIT
*mangle
:linkbal-pre - [0:0]
:linkbal-out - [0:0]
:linkbal-exit - [0:0]
:linkbal-choose - [0:0]
EOF
	lb_jumps mangle "$_saved"
	cat <<EOF
# every packet of a connection takes its link's mark again
-A linkbal-pre -j CONNMARK --restore-mark --nfmask $_m --ctmask $_m
-A linkbal-pre -m mark ! --mark 0/$_m -j RETURN
-A linkbal-pre -m conntrack ! --ctstate NEW -j RETURN
# a connection that comes in on an uplink is answered through it
EOF
	lb_links | while read -r _if _gw _w _mk _rest; do
		echo "-A linkbal-pre -i $_if -j MARK --set-xmark $(lb_hex "$_mk")/$_m"
	done
	# one that someone else marked keeps its route
	for _if in $LAN; do
		echo "-A linkbal-pre -i $_if -m mark --mark 0 -m addrtype ! --dst-type LOCAL -j linkbal-choose"
	done
	cat <<EOF
-A linkbal-pre -j CONNMARK --save-mark --nfmask $_m --ctmask $_m
# a socket that set its own mark (WireGuard, a tracker's probe) keeps the route it chose
-A linkbal-out -m mark ! --mark 0 -j RETURN
-A linkbal-out -j CONNMARK --restore-mark --nfmask $_m --ctmask $_m
-A linkbal-out -m mark ! --mark 0/$_m -j RETURN
-A linkbal-out -m conntrack ! --ctstate NEW -j RETURN
-A linkbal-out -m addrtype --dst-type LOCAL -j RETURN
EOF
	# only what leaves by the default route: one that a VPN, a policy rule or a specific
	# route sends elsewhere keeps its route
	for _dev in $("lb_exits${1#4}"); do echo "-A linkbal-out -o $_dev -j linkbal-exit"; done
	_pins=$("lb_pinned${1#4}")
	[ -z "$_pins" ] || echo "# a socket bound to a link's address keeps that link"
	echo "$_pins" | while read -r _addr _n _mk; do
		[ -z "$_addr" ] || echo "-A linkbal-exit -s $_addr -j MARK --set-xmark $(lb_hex "$_mk")/$_m"
	done
	echo "-A linkbal-exit -m mark --mark 0/$_m -j linkbal-choose"
	echo "-A linkbal-out -j CONNMARK --save-mark --nfmask $_m --ctmask $_m"
}

# LB_CHOOSER: the first line of lb_choosers, which print the rest of the ruleset: chain
# linkbal-choose of each family, all that changes when only the weights do (lb_reweigh).
LB_CHOOSER="# connections to the main table's specific routes keep their route, and take no turn"

# lb_choosers MARK:WEIGHT...: print the rules of chain linkbal-choose and the end of mangle;
# with LINKS6, then IPv6's, spread over the IPv6 participants.
lb_choosers() {
	echo "$LB_CHOOSER"
	[ -z "${LINKS6:-}" ] || echo "$LB_V4"
	lb_chooser 4 "$@"
	[ -n "${LINKS6:-}" ] || return 0
	echo "$LB_V6"
	# shellcheck disable=SC2046 # the participants are words without glob characters
	lb_chooser 6 $(lb_reduce $(lb_participants 6))
}

# lb_chooser 4|6 MARK:WEIGHT...: the family's rules of chain linkbal-choose, then COMMIT.
lb_chooser() {
	_bypass=$BYPASS_DST
	[ "$1" = 4 ] || _bypass=${BYPASS_DST6:-}
	for _net in $("lb_routed${1#4}"); do echo "-A linkbal-choose -d $_net -j RETURN"; done
	shift
	[ -z "$_bypass$BYPASS_PORTS" ] || echo '# bypass: these keep the default link'
	for _net in $_bypass; do echo "-A linkbal-choose -d $_net -j RETURN"; done
	echo "$BYPASS_PORTS" | while read -r _proto _ports; do
		[ -z "$_proto" ] || echo "-A linkbal-choose -p $_proto -m multiport --dports $_ports -j RETURN"
	done
	lb_choose "$@"
	echo COMMIT
}

# lb_choose_load FILE: load chain linkbal-choose of each batch in FILE, alone: mangle only,
# all or nothing for a family. False if one was refused (IPv6's, after IPv4's went in: the
# caller's full load, lb_apply, then makes both whole again).
lb_choose_load() {
	for _f in 4 ${LINKS6:+6}; do
		{
			echo '*mangle'
			echo ':linkbal-choose - [0:0]'
			lb_batch "$1" "$_f" | grep '^-A linkbal-choose '
			echo COMMIT
		} | "ip${_f#4}tables-restore" -w --noflush || return 1
	done
}

# lb_batch FILE 4|6: print the lines of the ruleset in FILE that are the family's batch: IPv4's
# before any heading and after LB_V4, IPv6's after LB_V6.
lb_batch() {
	awk -v f="$2" -v v4="$LB_V4" -v v6="$LB_V6" '$0 == v4 { g = 4 } $0 == v6 { g = 6 } (g ? g : 4) == f' "$1"
}

# lb_jump SAVED "CHAIN [MATCH...]" TARGET: print the rule that sends built-in CHAIN (what
# MATCH matches) to TARGET, unless SAVED (the output of iptables-save, or ip6tables-save)
# shows it already.
lb_jump() {
	case $1 in
	*"-A $2 -j $3
"*) ;;
	*) echo "-I $2 -j $3" ;;
	esac
}

# lb_jumps TABLE SAVED: print the jumps from TABLE's built-in chains to linkbal's chains that
# SAVED lacks.
lb_jumps() {
	case $1 in
	raw)
		lb_jump "$2" OUTPUT linkbal-helper
		for _if in $LAN; do lb_jump "$2" "PREROUTING -i $_if" linkbal-helper; done
		;;
	nat) lb_jump "$2" POSTROUTING linkbal-nat ;;
	mangle) lb_jump "$2" PREROUTING linkbal-pre; lb_jump "$2" OUTPUT linkbal-out ;;
	esac
}

# lb_choose MARK:WEIGHT...: the rules of chain linkbal-choose that give a new connection
# its link mark, spread by weight according to MODE (the packet's mark is 0 here).
lb_choose() {
	[ $# -gt 0 ] || return 0
	_mask=$(lb_hex "$MARK_MASK")
	case $MODE in
	random)
		for _p in $(lb_cascade "$@"); do
			_set="-j MARK --set-xmark $(lb_hex "${_p%:*}")/$_mask"
			if [ "${_p#*:}" = 1 ]; then
				echo "-A linkbal-choose -m mark --mark 0/$_mask $_set"
			else
				echo "-A linkbal-choose -m mark --mark 0/$_mask -m statistic --mode random --probability ${_p#*:} $_set"
			fi
		done
		;;
	*)
		# shellcheck disable=SC2046
		set -- $(lb_swrr "$@")
		if [ $# -eq 1 ]; then echo "-A linkbal-choose -j MARK --set-xmark $(lb_hex "$1")/$_mask"; return 0; fi
		# nth: every rule sees every new connection, so their counters stay in step.
		# hash: HMARK puts hash(destination) mod N in the whole mark (0 before), then each
		# slot gets its link's mark instead.
		[ "$MODE" = hash ] &&
			echo "-A linkbal-choose -j HMARK --hmark-tuple dst --hmark-mod $# --hmark-offset 65536 --hmark-rnd 0x6c62"
		_k=0
		for _mk; do
			if [ "$MODE" = hash ]; then
				echo "-A linkbal-choose -m mark --mark $((65536 + _k)) -j MARK --set-mark $(lb_hex "$_mk")"
			else
				echo "-A linkbal-choose -m statistic --mode nth --every $# --packet $_k -j MARK --set-xmark $(lb_hex "$_mk")/$_mask"
			fi
			_k=$((_k + 1))
		done
		;;
	esac
}

# lb_load FILE: load the ruleset in FILE (IPv4's batch, then IPv6's with LINKS6), all or
# nothing; false if it was not. iptables-restore commits each table on its own: a table
# refused leaves the tables before it committed, and the family before it. So a failed load
# is undone (lb_undo). No check first (--test): it is the parser's only (with iptables-nft
# 1.8.9 MASQUERADE in mangle passes it, the kernel refuses it at commit), and it would cost
# as much as the load, every time.
lb_load() {
	for _f in 4 ${LINKS6:+6}; do
		lb_batch "$1" "$_f" | "ip${_f#4}tables-restore" -w --noflush && continue
		lb_undo || lb_log "undoing the part of the new ruleset that the kernel took failed too"
		return 1
	done
}

# lb_undo: after a load the kernel took part of, the ruleset loaded last (LB_RULESET) goes
# back in (lb_restore), and IPv6 loses linkbal's chains if that had none (--gw6 is new); with
# none loaded before, linkbal's chains go (lb_unload).
lb_undo() {
	[ -f "$LB_RULESET" ] || { lb_unload; return; }
	lb_restore "$LB_RULESET" || return 1
	[ -z "${LINKS6:-}" ] || grep -qxF "$LB_V6" "$LB_RULESET" || lb_unload 6
}

# lb_restore FILE: load FILE, a ruleset lb_ruleset printed earlier, each family's batch with
# the jumps to its chains that the kernel lacks now (lb_jumps) instead of the ones it held then.
lb_restore() {
	_rr=0
	for _f in 4 6; do
		[ "$_f" = 4 ] || grep -qxF "$LB_V6" "$1" || continue
		_saved="$("ip${_f#4}tables-save" 2>/dev/null)
"
		lb_batch "$1" "$_f" | while IFS= read -r _l; do
			case $_l in
			"*"*) _t=${_l#?} ;;
			"-I "*" -j linkbal-"*) continue ;;
			COMMIT) lb_jumps "$_t" "$_saved" ;;
			esac
			printf '%s\n' "$_l"
		done | "ip${_f#4}tables-restore" -w --noflush || _rr=1
	done
	return "$_rr"
}

# lb_unload [4|6...]: take out the jumps to linkbal's chains, then the chains, one batch a
# family (default: both, whatever LINKS6 says now); false, with the ruleset loaded last
# back in place, if the kernel refused part of it.
lb_unload() {
	[ $# -gt 0 ] || set -- 4 6
	for _f; do
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
$("ip${_f#4}tables-save" -t "$_t" 2>/dev/null)
EOF
			for _c in $_chains; do echo "-F ${_c#:}"; done
			for _c in $_chains; do echo "-X ${_c#:}"; done
			echo COMMIT
		done >"$LB_UNLOAD"
		if ! "ip${_f#4}tables-restore" -w --noflush <"$LB_UNLOAD"; then
			# all or nothing, as a load: what the tables before, and the other family, let go comes back
			[ ! -f "$LB_RULESET" ] || lb_restore "$LB_RULESET"
			return 1
		fi
		# iptables-nft made its tables (raw, nat, mangle) on the first load; where linkbal's
		# chains were and nothing but empty built-in chains is left, take the table away too,
		# as it was before linkbal.
		grep -q '^-' "$LB_UNLOAD" || continue
		case $("ip${_f#4}tables" -V) in *nf_tables*) ;; *) continue ;; esac
		for _t in raw nat mangle; do
			"ip${_f#4}tables" -w -t "$_t" -S | grep -qv "^-P [A-Z]* ACCEPT$" || nft delete table "ip${_f#4}" "$_t" 2>/dev/null
		done
	done
	rm -f "$LB_UNLOAD"
}

# lb_loaded: true if the kernel holds the jumps from the built-in chains to linkbal's chains
# in raw, mangle and nat, of IPv4 and with LINKS6 of IPv6 (a firewall reload, a full
# iptables-restore or ip6tables-restore, removes them; raw's PREROUTING has one only with a
# LAN). One iptables-save a family: cheap, as the guard asks every second.
lb_loaded() {
	for _f in 4 ${LINKS6:+6}; do
		"ip${_f#4}tables-save" 2>/dev/null | awk '
			/^\*/ { t = substr($1, 2) }
			$1 == "-A" && $(NF - 1) == "-j" && $NF ~ /^linkbal-/ { j[t " " $2 " " $NF] = 1 }
			END { exit !(("raw OUTPUT linkbal-helper" in j) &&
				("mangle PREROUTING linkbal-pre" in j) && ("mangle OUTPUT linkbal-out" in j) &&
				("nat POSTROUTING linkbal-nat" in j)) }' || return 1
	done
}
