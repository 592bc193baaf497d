# ---- links and routing (templates/lib/links.sh): tables, ip rules, taking links in and out ----
LB_UNIT=$((MARK_MASK & -MARK_MASK))	# the lowest bit of MARK_MASK: link number K has mark K*LB_UNIT; the default link LB_UNIT
# shellcheck disable=SC2034 # for the learner and status
LB_SPAN=$((MARK_MASK / LB_UNIT + 1))	# link numbers 0 to LB_SPAN-1: a mark's is int(MARK / LB_UNIT) % LB_SPAN
FALLBACK=32800	# after main: FALLBACK+K link K's table, so that while the main table has no
		# default route (the default link is down) a new local connection still finds a
		# route at all, before its mark sends it where it belongs
# Every priority linkbal uses is checked before it adds a rule there: a rule of someone else
# at it is never deleted, and the link is not used (lb_rule_add).
LB_AF=-4	# the address family of the ip rules below; IPv6's set LB_AF=-6 in a subshell (inet6.sh)

# lb_pref MARK [BASE]: print the priority of the link with mark MARK: BASE (default PREF) + K.
lb_pref() {
	echo $((${2:-$PREF} + $1 / LB_UNIT))
}

# lb_rules_at PREF: print the rules at priority PREF, one a line, as `ip -N rule` shows them
# after "PREF:" (tables by number, marks in hex: "from all fwmark 0x2000000/0x3f000000 lookup 102").
lb_rules_at() {
	ip -N "$LB_AF" rule show pref "$1" 2>/dev/null | sed -e 's/^[0-9]*:[[:space:]]*//' -e 's/[[:space:]]*$//'
}

# lb_pref_free PREF RULE: true if priority PREF holds no rule but linkbal's RULE (written as
# lb_rules_at prints it); else log the rule of someone else that holds it, and false.
lb_pref_free() {
	_other=$(lb_rules_at "$1" | grep -vxF "$2" | head -n 1)
	[ -z "$_other" ] && return 0
	lb_log "ip rule priority $1 holds a rule that is not linkbal's ($_other): left alone and not used; give linkbal other priorities with linkbal-gen --pref"
	return 1
}

# lb_rule_add PREF RULE: add RULE at priority PREF unless it is there; false if PREF is not free.
lb_rule_add() {
	lb_pref_free "$1" "$2" || return 1
	lb_rules_at "$1" | grep -qxF "$2" && return 0
	# shellcheck disable=SC2086 # RULE is words: a selector and an action
	ip "$LB_AF" rule add $2 pref "$1"
}

# lb_rule_del PREF RULE: delete linkbal's RULE at PREF by its whole selector, while it is there
# (the kernel matches a delete loosely: a delete at a priority is never blind); false if
# it stays.
lb_rule_del() {
	while lb_rules_at "$1" | grep -qxF "$2"; do
		# shellcheck disable=SC2086 # RULE is words
		ip "$LB_AF" rule del $2 pref "$1" 2>/dev/null || { lb_log "could not delete ip $LB_AF rule $2 at priority $1"; return 1; }
	done
}

# lb_fwmark_rule MARK TABLE [MASK]: print the link's fwmark rule, as lb_rules_at shows it.
lb_fwmark_rule() {
	printf 'from all fwmark 0x%x/0x%x lookup %s\n' "$1" "$((${3:-$MARK_MASK}))" "$2"
}
LB_SUPPRESS='from all lookup 254 suppress_prefixlength 0'	# at PREF: main's routes but its default route

# lb_base_add: the rules before every link's: at PREF main's routes but its default route
# (LB_SUPPRESS); at PREF+1 the default link's mark looks up main, so that what linkbal sends
# by the default link (its tracker's probes) goes there though a VPN's rules after PREF
# would take it. False if a priority is not free. lb_base_del [PREF MASK]: take them away
# (default: the settings now).
lb_base_add() {
	_rule=$(lb_fwmark_rule "$LB_UNIT" 254)
	lb_pref_free $((PREF + 1)) "$_rule" && lb_rule_add "$PREF" "$LB_SUPPRESS" &&
		lb_rule_add $((PREF + 1)) "$_rule"
}
# shellcheck disable=SC2120 # lb_side_down passes PREF MASK, by a name shellcheck cannot follow
lb_base_del() {
	_mask=${2:-$MARK_MASK} _bd=0
	lb_rule_del "${1:-$PREF}" "$LB_SUPPRESS" || _bd=1
	lb_rule_del $((${1:-$PREF} + 1)) "$(lb_fwmark_rule $((_mask & -_mask)) 254 "$_mask")" || _bd=1
	return "$_bd"
}

# lb_link IFACE: set lb_link_gw lb_link_weight lb_link_mark lb_link_table lb_link_tier from LINKS;
# false if IFACE is not a listed link.
lb_link() {
	# shellcheck disable=SC2034 # the results, for the caller
	while read -r _if lb_link_gw lb_link_weight lb_link_mark lb_link_table lb_link_tier; do
		[ "$_if" = "$1" ] && return 0
	done <<EOF
$LINKS
EOF
	return 1
}

# lb_is_ipv4 WORD: true if WORD is an IPv4 address: four decimal numbers 0-255 without
# leading zeros (iproute2 reads 010 as octal), as the generator's parseIPv4. No fork: it runs
# on every DHCP gateway.
lb_is_ipv4() {
	case $1 in *.*.*.*.* | *[!0-9.]*) return 1 ;; *.*.*.*) ;; *) return 1 ;; esac
	_ip4=$1.
	while [ -n "$_ip4" ]; do
		case ${_ip4%%.*} in
		[0-9] | [1-9][0-9] | 1[0-9][0-9] | 2[0-4][0-9] | 25[0-5]) _ip4=${_ip4#*.} ;;
		*) return 1 ;;
		esac
	done
}

# lb_lease_gw IFACE NOW FILE: print the router of the newest lease for IFACE in dhclient's
# lease FILE (the last written) that is unexpired at NOW (`date -u +'%Y%m%d%H%M%S %s'`:
# dhclient writes "expire W YYYY/MM/DD HH:MM:SS;" in UTC, "expire epoch N;" with
# db-time-format local, or "expire never;"); false if it has none, or not an IPv4 address.
# The router is the default route of the classless static routes (option 121) when they
# have one, as the enter hook takes it, else the first of option routers.
lb_lease_gw() {
	_gw=$(awk -v ifc="$1" -v now="${2% *}" -v epoch="${2#* }" '
		function dflt(list, b, n, k) {	# "BITS,NET...,GW,GW,GW,GW,..." -> the gateway of BITS 0
			n = split(list, b, ",")
			for (k = 1; k + 4 <= n; k += int((b[k] + 7) / 8) + 5)
				if (b[k] == "0") return b[k + 1] "." b[k + 2] "." b[k + 3] "." b[k + 4]
			return ""
		}
		{ sub(/;.*/, "") }	# the value, without its ";" and a comment after it
		$1 == "lease" && $2 == "{" { i = r = e = c = ""; next }
		$1 == "interface" { i = $2; gsub(/"/, "", i) }
		$1 == "option" && $2 == "routers" { r = $3; sub(/,.*/, "", r) }	# the first router
		$1 == "option" && $2 == "rfc3442-classless-static-routes" { c = dflt($3) }
		$1 == "expire" && $2 == "never" { e = "live" }
		$1 == "expire" && $2 == "epoch" { e = ($3 + 0 > epoch + 0) ? "live" : "" }
		$1 == "expire" && $3 ~ /^[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9]$/ && $4 ~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ {
			t = $3 $4; gsub(/[\/:]/, "", t); e = (t > now) ? "live" : ""	# as strings of 14 digits
		}
		$1 == "}" { if (i == ifc && e == "live") gw = (c != "") ? c : r; i = r = e = c = "" }
		END { print gw }' "$3" 2>/dev/null)
	lb_is_ipv4 "$_gw" && echo "$_gw"
}

# lb_gateway IFACE CONFIGURED: print the gateway to use. For dhcp: the router dhclient's
# enter hook recorded (LB_DHCP/IFACE), else the default route the DHCP client installed
# on IFACE (udhcpc), else the router of dhclient's newest unexpired lease for IFACE
# (lb_lease_gw); only an IPv4 address (lb_is_ipv4).
lb_gateway() {
	if [ "$2" != dhcp ]; then echo "$2"; return 0; fi
	_gwif=$1 _gw=''
	[ ! -r "$LB_DHCP/$1" ] || read -r _gw <"$LB_DHCP/$1"
	if lb_is_ipv4 "$_gw"; then echo "$_gw"; return 0; fi
	# shellcheck disable=SC2046 # split "default via GW dev IFACE ..." into words
	set -- "$1" $(ip -4 route show default dev "$1" 2>/dev/null)
	while [ $# -gt 1 ]; do
		if [ "$2" = via ] && lb_is_ipv4 "${3:-}"; then echo "$3"; return 0; fi
		shift
	done
	_now=$(date -u +'%Y%m%d%H%M%S %s')
	for _lease in "/var/lib/dhcp/dhclient.$_gwif.leases" /var/lib/dhcp/dhclient.leases; do
		[ -r "$_lease" ] && lb_lease_gw "$_gwif" "$_now" "$_lease" && return 0
	done
	return 1
}

# lb_default_dev: print the device of the main table's default route (the default link's).
lb_default_dev() {
	ip -4 route show default table main 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }'
}

# lb_routed: print the destinations of the main table's routes other than its default
# route (the uplinks' own networks and gateways, a LAN, an admin's static routes), one a
# line. Connections to them keep their route and take no turn of the chooser. Routes on
# a link linkbal holds down are left out: ifdown removes them only after its hook ran.
lb_routed() {
	_gone=' '
	[ -f "$LB_DEFAULT_DOWN" ] && [ -r "$LB_DEFAULT_DEV" ] && read -r _gone <"$LB_DEFAULT_DEV"
	_gone="$_gone $(lb_links | while read -r _if _rest; do [ -f "$LB_UP/$_if" ] || printf '%s ' "$_if"; done)"
	ip -4 route show table main 2>/dev/null | awk -v gone=" $_gone " '
		$1 ~ /^(unicast|blackhole|unreachable|prohibit|throw)$/ { $1 = $2 }
		{ for (i = 2; i < NF; i++) if ($i == "dev" && index(gone, " " $(i + 1) " ")) next }
		$1 ~ /^[0-9.]+(\/[0-9]+)?$/ { print $1 }'
}

# lb_link_add IFACE GATEWAY MARK TABLE: the link's default route in its table, its fwmark
# rule and its fallback rule; false if it could not, 2 if a priority it needs holds a rule of
# someone else (then nothing is added). lb_link_del IFACE GATEWAY MARK TABLE [MASK PREF]
# takes away what linkbal added with that MARK_MASK and PREF (default: the settings now), and
# nothing else: its own rules, and its own default route (a missing one, or a device that is
# gone, is fine; false if one of its rules stays). Other routes in the table stay.
lb_link_add() {
	_p=$(lb_pref "$3")
	_fb=$(lb_pref "$3" "$FALLBACK")
	_rule=$(lb_fwmark_rule "$3" "$4")
	# both priorities first: a refused link leaves nothing behind
	lb_pref_free "$_p" "$_rule" && lb_pref_free "$_fb" "from all lookup $4" || return 2
	ip route replace default via "$2" dev "$1" table "$4" &&
		lb_rule_add "$_p" "$_rule" && lb_rule_add "$_fb" "from all lookup $4" || return 1
}
lb_link_del() {
	_mask=${5:-$MARK_MASK}
	_k=$(($3 / (_mask & -_mask)))	# the link number
	_kept=0
	lb_rule_del $((${6:-$PREF} + _k)) "$(lb_fwmark_rule "$3" "$4" "$_mask")" || _kept=1
	lb_rule_del $((FALLBACK + _k)) "from all lookup $4" || _kept=1
	ip route del default via "$2" dev "$1" table "$4" 2>/dev/null
	return "$_kept"
}

# lb_any_up: true if a listed link is in balance.
lb_any_up() {
	for _f in "$LB_UP"/*; do [ -f "$_f" ] && return 0; done
	return 1
}

# lb_apply: load the whole ruleset for the links up now, in one transaction; false, logged,
# if it could not (then the previous ruleset stays).
lb_apply() {
	# what it is made of, read before it is: a change meanwhile makes lb_reweigh load all
	rm -f "$LB_INPUTS"
	lb_inputs >"$LB_INPUTS.new"
	# shellcheck disable=SC2046 # the participants are words without glob characters
	set -- $(lb_reduce $(lb_participants))
	if ! lb_ruleset "$@" >"$LB_RULESET_NEW"; then
		lb_log "could not write the new ruleset ($LB_RULESET_NEW); the previous one stays"
		return 1
	fi
	if ! lb_load "$LB_RULESET_NEW"; then
		lb_log "the kernel refused the new ruleset ($LB_RULESET_NEW); the previous one stays"
		return 1
	fi
	mv -f "$LB_RULESET_NEW" "$LB_RULESET"
	mv -f "$LB_INPUTS.new" "$LB_INPUTS"
	[ -f "$LB_STARTED" ] || lb_uptime >"$LB_STARTED"
	# remember the default link's device, for the hooks
	_dev=$(lb_default_dev)
	[ -z "$_dev" ] || echo "$_dev" >"$LB_DEFAULT_DEV"
}

# lb_inputs: print what a ruleset is made of but the part lb_choosers print: the settings,
# the links in balance, the default links' state, the main table's default routes and the
# addresses (all that lb_exits, lb_pinned and their IPv6 twins read). Two rulesets with the
# same inputs differ only in that part.
lb_inputs() {
	_v6=${LINKS6:+1}
	echo "$LINKS|$_v6|$LAN|$BYPASS_DST|$BYPASS_PORTS|$MARK_MASK|$MODE|" "$LB_UP"/* "$LB_UP6"/*
	[ ! -f "$LB_DEFAULT_DOWN" ] || echo "held down"
	[ ! -f "$LB_DEFAULT_DOWN6" ] || echo "IPv6 held down"
	cat "$LB_DEFAULT_DEV" 2>/dev/null
	ip -4 route show default table main 2>/dev/null
	ip -4 -br addr show 2>/dev/null
	[ -z "$_v6" ] || { ip -6 route show default table main | sed 's/ expires [0-9]*sec//'; ip -6 -br addr show; } 2>/dev/null
}

# lb_reweigh: the learner's load, a few times a second: when the inputs are those of the
# last lb_apply, load only what lb_choosers print now (chain choose: the weights, routes,
# bypasses) in one transaction (lb_choose_load), as lb_apply would have; else, or if that
# fails, lb_apply.
lb_reweigh() {
	if lb_inputs | cmp -s - "$LB_INPUTS"; then
		# shellcheck disable=SC2046 # as in lb_apply
		set -- $(lb_reduce $(lb_participants))
		# the ruleset loaded last up to LB_CHOOSER's line, then the new choosers
		{ awk -v m="$LB_CHOOSER" '{ l = $0; sub(/^\t*/, "", l) } l == m { f = 1; exit } { print } END { exit !f }' "$LB_RULESET" &&
			lb_choosers "$@"; } >"$LB_RULESET_NEW" &&
			lb_choose_load "$LB_RULESET_NEW" 2>/dev/null && mv -f "$LB_RULESET_NEW" "$LB_RULESET" && return 0
	fi
	lb_apply
}

# lb_up IFACE: give the link its table and rules, then re-spread over the links up. A link
# whose priorities hold rules of someone else is not used. LB_UP/IFACE keeps what was added
# and with which settings: "GATEWAY MARK TABLE MARK_MASK PREF" (for down and stop).
lb_up() {
	lb_link "$1" || return 0
	if [ "$1" = "$(lb_default_dev)" ]; then
		lb_log "$1: not taken in as a listed uplink: the main table's default route leaves by it, so it is the default link (leave it out of linkbal-gen --iface)"
		lb_default up
		return 1
	fi
	if ! _gw=$(lb_gateway "$1" "$lb_link_gw"); then
		lb_log "$1: no gateway found (no DHCP route or lease); link not used"
		return 1
	fi
	if ! lb_base_add; then
		lb_log "$1: not used: linkbal takes no link in while priority $PREF or $((PREF + 1)) is not its own"
		return 1
	fi
	lb_sysctl "net/ipv4/conf/$1/rp_filter" 2
	lb_sysctl "net/ipv4/conf/$1/src_valid_mark" 1
	lb_sysctl net/netfilter/nf_conntrack_acct 1
	lb_link_add "$1" "$_gw" "$lb_link_mark" "$lb_link_table"
	_added=$?
	if [ "$_added" = 0 ] && echo "$_gw $lb_link_mark $lb_link_table $MARK_MASK $PREF" >"$LB_UP_NEW" &&
		mv -f "$LB_UP_NEW" "$LB_UP/$1" && lb_apply; then
		lb_learner_start
		lb_info "$1 up: gateway $_gw, weight $lb_link_weight"
		return 0
	fi
	if [ "$_added" = 2 ]; then
		lb_log "$1: not used: its ip rule priorities are taken; it carries no new connections"
		lb_down "$1" # in before: out now, and what linkbal added for it goes
	else
		lb_log "$1: could not be brought into balancing; it carries no new connections"
		rm -f "$LB_UP/$1"
		lb_apply
		lb_link_del "$1" "$_gw" "$lb_link_mark" "$lb_link_table"
	fi
	lb_any_up || lb_base_del
	return 1
}

# lb_down IFACE: take the link out first (re-spread), then drop its rules and its route; the
# last link out takes the rule at PREF with it. False if the re-spread or a delete failed
# (the link is out of linkbal's state all the same).
lb_down() {
	if [ ! -f "$LB_UP/$1" ]; then
		# the default link listed as an uplink (lb_up refused it): its ifdown is the default link's
		_dev=''
		[ ! -r "$LB_DEFAULT_DEV" ] || read -r _dev <"$LB_DEFAULT_DEV"
		[ "$_dev" != "$1" ] || lb_default down
		return 0
	fi
	lb_side_down 4 "$1"
}

# lb_side_down 4|6 IFACE: take the link's side of that family out, as its state (LB_UP or
# LB_UP6) records it: re-spread, its rules and route away, the base rules once no link of
# the family is up, its connections of that family flushed with FLUSH_ON_DOWN=1.
lb_side_down() {
	_dir=$LB_UP _sfx='' _what=$2
	[ "$1" = 4 ] || _dir=$LB_UP6 _sfx=6 _what="$2 IPv6"
	read -r _gw _mark _table _mask _pref <"$_dir/$2"
	rm -f "$_dir/$2" "$LB_HEALTH/$2${_sfx:+:6}"
	_down=0
	lb_apply || _down=1
	"lb_link${_sfx}_del" "$2" "$_gw" "$_mark" "$_table" "$_mask" "$_pref" || _down=1
	"lb_any_up$_sfx" || "lb_base${_sfx}_del" "$_pref" "$_mask" || _down=1
	if [ "$FLUSH_ON_DOWN" = 1 ]; then
		conntrack -f "ipv$1" -D -m "$_mark/${_mask:-$MARK_MASK}" >/dev/null 2>&1 || { lb_log "$_what: could not flush its connections (conntrack)"; _down=1; }
	fi
	lb_info "$_what down"
	return "$_down"
}

# lb_default up|down [IFACE]: the default link's own ifup or ifdown (the hooks know its device
# from LB_DEFAULT_DEV): while it is down, new connections go to the listed links only. With
# IFACE (from a hook while LB_DEFAULT_DEV is not known yet): only if IFACE is the device of
# the main table's default route and linkbal holds something.
lb_default() {
	if [ -n "${2:-}" ]; then
		[ "$2" = "$(lb_default_dev)" ] && { lb_any_up || [ -f "$LB_RULESET" ]; } || return 0
	fi
	if [ "$1" = down ]; then : >"$LB_DEFAULT_DOWN"; else rm -f "$LB_DEFAULT_DOWN"; fi
	rm -f "$LB_HEALTH/default"
	lb_apply && lb_info "default link ($(cat "$LB_DEFAULT_DEV" 2>/dev/null)) $1"
}

# lb_start: load the rules and take in every listed link that is up with an IPv4 address.
lb_start() {
	_start=0
	for _if in $(lb_links | while read -r _name _rest; do echo "$_name"; done); do
		if ip -4 -o addr show dev "$_if" up 2>/dev/null | grep -q inet; then
			lb_up "$_if" || _start=1
		fi
	done
	lb_apply || _start=1
	return "$_start"
}

# lb_del_all DIR LINK_DEL BASE_DEL: take out each link DIR records (LB_UP or LB_UP6, "GATEWAY
# MARK TABLE MARK_MASK PREF") with its family's LINK_DEL and BASE_DEL; false if any failed.
lb_del_all() {
	_ua=0
	for _uf in "$1"/*; do
		[ -f "$_uf" ] || continue
		read -r _gw _mark _table _mask _pref <"$_uf"
		"$2" "${_uf##*/}" "$_gw" "$_mark" "$_table" "$_mask" "$_pref" || _ua=1
		rm -f "$_uf"
		"$3" "$_pref" "$_mask" || _ua=1
	done
	return "$_ua"
}

# lb_stop: remove everything linkbal added, from its state. The trackers end within a
# step, and stop waits for them; the learner ends within a step of it. When the kernel
# keeps the ruleset (lb_unload failed), the rest goes all the same (ip rules, routes,
# sysctls: the main table's default route is left to carry everything), and stop is false.
lb_stop() {
	_stop=0
	# the trackers see LB_STARTED go: wait for them (a second at most each)
	rm -f "$LB_STARTED"
	for _f in "$LB_TRACK"/*.lock; do [ ! -f "$_f" ] || flock -w 1 "$_f" true; done
	rm -rf "$LB_LEARN" "$LB_HEALTH" "$LB_TRACK"
	if ! lb_unload; then
		lb_log "stop: the kernel kept linkbal's ruleset (removing it failed; rules status shows it); its ip rules and routes go all the same; run stop again once the cause is gone"
		_stop=1
	fi
	lb_del_all "$LB_UP" lb_link_del lb_base_del || _stop=1
	lb_base_del || _stop=1
	lb_sysctl_restore
	rm -f "$LB_RULESET" "$LB_RULESET_NEW" "$LB_INPUTS" "$LB_INPUTS.new" "$LB_UP_NEW" "$LB_STARTED" "$LB_DEFAULT_DEV" "$LB_DEFAULT_DOWN"
	return "$_stop"
}
