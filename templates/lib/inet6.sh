# ---- IPv6 (templates/lib/inet6.sh): the links' IPv6 sides, from their inet6 stanzas ----
# A link listed in LINKS6 (--gw6) balances IPv6 as well: its IPv6 default route in its own
# table (the IPv4 one's number), `ip -6 rule fwmark MARK/MARK_MASK` at the same priority as
# its IPv4 rule, and the same mark. Each family comes and goes with its own stanza (the
# hooks call up6/down6 for ADDRFAM=inet6): a link whose IPv6 side is down still balances
# IPv4, and the reverse. LB_UP6/IFACE: "GATEWAY6 MARK TABLE MARK_MASK PREF", as LB_UP's.
# Without LINKS6, nothing here does anything.
RA_METRIC=4000000000	# the metric of an auto link's router-advertised default route in main:
			# below every other, so the default link's route stays the main table's

# lb_link6 IFACE: print the link's --gw6 (an address or auto); false if it has none.
lb_link6() {
	while read -r _if6 _gw6; do
		[ "$_if6" = "$1" ] && { echo "$_gw6"; return 0; }
	done <<EOF
${LINKS6:-}
EOF
	return 1
}

# lb_ra_router IFACE: print the router that IFACE's router advertisements name: the
# kernel's default route on IFACE with proto ra in main, or while there is none (up6 takes
# one at the kernel's metric out, to have it back at RA_METRIC with the next advertisement,
# minutes away on some networks), the neighbour on IFACE the kernel knows as a router if
# it knows one only; false otherwise.
lb_ra_router() {
	{ ip -6 route show default dev "$1" proto ra table main; ip -6 neigh show dev "$1"; } 2>/dev/null | awk '
		$1 == "default" && gw == "" { for (i = 1; i < NF; i++) if ($i == "via") gw = $(i + 1) }
		$1 != "default" && / router / && $NF !~ /^(FAILED|INCOMPLETE)$/ { n++; r = $1 }
		END { if (gw == "" && n == 1) gw = r; if (gw != "") print gw; exit gw == "" }'
}

# lb_default_dev6 [all]: print the device of the main table's IPv6 default route with the
# lowest metric (the default link's), not counting an auto link's advertised router (at
# RA_METRIC); with all: the devices of every IPv6 default route in main, that one included.
lb_default_dev6() {
	ip -6 route show default table main 2>/dev/null | awk -v all="${1:-}" -v ra="$RA_METRIC" '
		{ m = 1024; d = ""
		  for (i = 1; i < NF; i++) { if ($i == "metric") m = $(i + 1); if ($i == "dev") d = $(i + 1) } }
		all != "" && d != "" { print d; next }
		d != "" && m != ra && (best == "" || m + 0 < best + 0) { best = m; dev = d }
		END { if (dev != "") print dev }'
}

# lb_routed6: print the destinations of the main table's IPv6 routes but its default
# routes (connected networks, a LAN, static routes), once each; as lb_routed for IPv4,
# leaving out the routes on a link whose IPv6 side linkbal holds down.
lb_routed6() {
	_gone=' '
	[ -f "$LB_DEFAULT_DOWN6" ] && [ -r "$LB_DEFAULT_DEV" ] && read -r _gone <"$LB_DEFAULT_DEV"
	_gone="$_gone $(echo "${LINKS6:-}" | while read -r _if _rest; do [ -z "$_if" ] || [ -f "$LB_UP6/$_if" ] || printf '%s ' "$_if"; done)"
	ip -6 route show table main 2>/dev/null | awk -v gone=" $_gone " '
		$1 ~ /^(unicast|blackhole|unreachable|prohibit|throw)$/ { $1 = $2 }
		{ for (i = 2; i < NF; i++) if ($i == "dev" && index(gone, " " $(i + 1) " ")) next }
		$1 ~ /^[0-9a-f:]+(\/[0-9]+)?$/ && $1 !~ /^fe80:/ { print $1 }' | sort -u
}

# lb_link6_add IFACE GATEWAY6 MARK TABLE: as lb_link_add, for IPv6 (ip -6). lb_link6_del
# IFACE GATEWAY6 MARK TABLE [MASK PREF]: as lb_link_del. Each in a subshell: LB_AF=-6.
lb_link6_add() (
	LB_AF=-6
	_p=$(lb_pref "$3")
	_fb=$(lb_pref "$3" "$FALLBACK")
	_rule=$(lb_fwmark_rule "$3" "$4")
	lb_pref_free "$_p" "$_rule" && lb_pref_free "$_fb" "from all lookup $4" || exit 2
	lb_pref_free $((PREF + 1)) "$(lb_fwmark_rule "$LB_UNIT" 254)" && lb_rule_add "$PREF" "$LB_SUPPRESS" &&
		lb_rule_add $((PREF + 1)) "$(lb_fwmark_rule "$LB_UNIT" 254)" || exit 2
	ip -6 route replace default via "$2" dev "$1" table "$4" &&
		lb_rule_add "$_p" "$_rule" && lb_rule_add "$_fb" "from all lookup $4" || exit 1
)
lb_link6_del() (
	LB_AF=-6
	lb_link_del "$@"
	_kept=$?
	ip -6 route del default via "$2" dev "$1" table "$4" 2>/dev/null
	exit "$_kept"
)

# lb_base6_del [PREF MASK]: the IPv6 rules at PREF and PREF+1, once no link's IPv6 is up.
# shellcheck disable=SC2120 # lb_side_down passes PREF MASK, by a name shellcheck cannot follow
lb_base6_del() (
	# shellcheck disable=SC2034 # read by the rule functions lb_base_del calls
	LB_AF=-6
	lb_base_del "$@"
)

# lb_any_up6: true if a listed link's IPv6 side is in balance.
lb_any_up6() {
	for _f in "$LB_UP6"/*; do [ -f "$_f" ] && return 0; done
	return 1
}

# lb_up6 IFACE: take the link's IPv6 side in (its inet6 stanza is up). An auto link's router
# is the one its router advertisements name now; the guard calls up6 again when it changes
# (LB_WANT6/IFACE: the stanza is up). False, logged, when it could not.
# shellcheck disable=SC2154 # lb_link sets lb_link_mark, lb_link_table, lb_link_weight
lb_up6() {
	_cfg6=$(lb_link6 "$1") || return 0
	lb_link "$1" || return 0
	mkdir -p "$LB_UP6" "$LB_WANT6" && : >"$LB_WANT6/$1"
	if [ "$_cfg6" = auto ]; then
		# keep its router's default route below the default link's in main
		lb_sysctl "net/ipv6/conf/$1/ra_defrtr_metric" "$RA_METRIC"
		_try=0
		until _gw6=$(lb_ra_router "$1"); do
			# ifup returns before the first advertisement: wait for it, 3 s at most
			_try=$((_try + 1))
			[ "$_try" -le 30 ] || { lb_log "$1: no IPv6 router advertised yet; its IPv6 joins when one is"; return 1; }
			sleep 0.1
		done
		ip -6 route show default dev "$1" proto ra table main | grep -q "metric $RA_METRIC " ||
			ip -6 route del default via "$_gw6" dev "$1" proto ra table main 2>/dev/null
	else
		_gw6=$_cfg6
	fi
	if [ -r "$LB_UP6/$1" ]; then
		read -r _old _rest <"$LB_UP6/$1"
		[ "$_old" = "$_gw6" ] && return 0
		lb_link6_del "$1" "$_old" "$lb_link_mark" "$lb_link_table"
	fi
	lb_link6_add "$1" "$_gw6" "$lb_link_mark" "$lb_link_table"
	_added=$?
	if [ "$_added" = 0 ] && echo "$_gw6 $lb_link_mark $lb_link_table $MARK_MASK $PREF" >"$LB_UP_NEW" &&
		mv -f "$LB_UP_NEW" "$LB_UP6/$1" && lb_apply; then
		lb_info "$1 IPv6 up: gateway $_gw6, weight $lb_link_weight"
		return 0
	fi
	_why=''
	[ "$_added" != 2 ] || _why=' (an ip -6 rule priority it needs is taken)'
	lb_log "$1: its IPv6 could not be brought into balancing$_why"
	rm -f "$LB_UP6/$1"
	lb_apply
	lb_link6_del "$1" "$_gw6" "$lb_link_mark" "$lb_link_table"
	lb_any_up6 || lb_base6_del
	return 1
}

# lb_down6 IFACE: take the link's IPv6 side out (its inet6 stanza goes down), re-spread.
lb_down6() {
	rm -f "$LB_WANT6/$1"
	[ ! -f "$LB_UP6/$1" ] || lb_side_down 6 "$1"
}

# lb_default6 up|down: the default link's inet6 stanza: while it is down, new IPv6
# connections go to the listed links' IPv6 sides only.
lb_default6() {
	if [ "$1" = down ]; then : >"$LB_DEFAULT_DOWN6"; else rm -f "$LB_DEFAULT_DOWN6"; fi
	rm -f "$LB_HEALTH/default:6"
	lb_apply && lb_info "default link IPv6 $1"
}

# lb_follow6: for each auto link whose inet6 stanza is up, up6 again when its advertised
# router is not the one in its table (the guard calls it every second).
lb_follow6() {
	for _f in "$LB_WANT6"/*; do
		[ -f "$_f" ] || continue
		_r=$(lb_ra_router "${_f##*/}") || continue
		_old=''
		[ ! -r "$LB_UP6/${_f##*/}" ] || read -r _old _rest <"$LB_UP6/${_f##*/}"
		[ "$_r" = "$_old" ] || "$LB_ETC/rules" up6 "${_f##*/}" </dev/null >/dev/null 2>&1 6>&-
	done
}

# lb_start6: take in the IPv6 side of every --gw6 link that has a global IPv6 address.
# lb_stop6: take every IPv6 side out, from the state.
lb_start6() {
	_start6=0
	for _if in $(echo "${LINKS6:-}" | while read -r _n _rest; do echo "$_n"; done); do
		if ip -6 -o addr show dev "$_if" scope global up 2>/dev/null | grep -q inet6; then
			lb_up6 "$_if" || _start6=1
		fi
	done
	return "$_start6"
}
lb_stop6() {
	_stop6=0
	lb_del_all "$LB_UP6" lb_link6_del lb_base6_del || _stop6=1
	[ -z "${LINKS6:-}" ] || lb_base6_del || _stop6=1
	rm -rf "$LB_WANT6" "$LB_DEFAULT_DOWN6"
	return "$_stop6"
}

# lb_candidates6: as lb_candidates, for IPv6: the default link while the main table has an
# IPv6 default route (and its inet6 stanza's ifdown did not hold it out), and each listed
# link whose IPv6 side is up; each with its IPv6 side's health (NAME:6, its own tracker's).
lb_candidates6() {
	[ "$DEFAULT_WEIGHT" -gt 0 ] && [ ! -f "$LB_DEFAULT_DOWN6" ] && [ -n "$(lb_default_dev6)" ] &&
		echo "default $LB_UNIT $DEFAULT_WEIGHT $DEFAULT_TIER $(lb_health default:6)"
	lb_links | while read -r _if _gw _w _m _t _tier; do
		[ -f "$LB_UP6/$_if" ] && echo "$_if $_m $_w $_tier $(lb_health "$_if:6")"
	done
}

# lb_default_gone6: true while the default link's inet6 stanza is held down or main has no
# IPv6 default route (then the fallback link's, lb_fallback 6, routes IPv6).
lb_default_gone6() {
	[ -f "$LB_DEFAULT_DOWN6" ] || [ -z "$(lb_default_dev6)" ]
}

# lb_exits6: as lb_exits, for IPv6: the devices of main's IPv6 default routes, and while
# the default link's IPv6 is gone, the fallback link's (an auto link's advertised router in
# main, or the fallback rule, routes then).
lb_exits6() {
	{ lb_default_dev6 all; ! lb_default_gone6 || lb_fallback 6; } | awk '!seen[$0]++'
}

# lb_pinned6: print "ADDRESS NAME MARK" for the global IPv6 addresses of the listed links
# whose IPv6 side is up: a socket bound to one keeps that link (as lb_pinned). Not those of
# the links that route IPv6 while the default link's is gone: unbound sockets take them too.
lb_pinned6() {
	_skip=''
	! lb_default_gone6 || _skip=" $(lb_exits6 | tr '\n' ' ')"
	lb_links | while read -r _if _gw _w _m _rest; do
		[ -f "$LB_UP6/$_if" ] || continue
		case $_skip in *" $_if "*) continue ;; esac
		for _a in $(ip -6 -o addr show dev "$_if" scope global 2>/dev/null | awk '{ print $4 }'); do
			echo "${_a%/*} $_if $_m"
		done
	done
}
