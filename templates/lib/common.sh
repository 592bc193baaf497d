# ---- linkbal runtime (templates/lib/common.sh, the same on every router) ----
# Expects: BACKEND MODE DEFAULT_WEIGHT LINKS FLUSH_ON_DOWN and the backend's
# lb_ruleset, lb_load, lb_unload. State lives under /run/linkbal:
#   up/IFACE     "GATEWAY MARK TABLE" of a link that is up
#   sysctl       original values of the sysctls linkbal changed
#   ruleset      the ruleset loaded last (what `nft list` or iptables shows)
RUN=/run/linkbal
PREF=1000	# ip rule priority: PREF looks up main without its default route, PREF+MARK the link's table
FALLBACK=32800	# after main: FALLBACK+MARK the link's table, so that while the main table has no
		# default route (the default link is down) a new local connection still finds a
		# route at all, before its mark sends it where it belongs

# lb_info: to syslog only; lb_log, for trouble: to syslog and stderr (ifup shows it).
lb_info() {
	logger -t linkbal -- "$*" 2>/dev/null
}
lb_log() {
	lb_info "$*"
	echo "linkbal: $*" >&2
}

# lb_link IFACE: set GW WEIGHT MARK TABLE from LINKS; false if IFACE is not listed.
lb_link() {
	while read -r _if GW WEIGHT MARK TABLE; do
		[ "$_if" = "$1" ] && return 0
	done <<EOF
$LINKS
EOF
	return 1
}

lb_is_ipv4() {
	case $1 in
	*[!0-9.]* | *..* | .* | *. | '') return 1 ;;
	*.*.*.*.*) return 1 ;;
	*.*.*.*) return 0 ;;
	esac
	return 1
}

# lb_gateway IFACE CONFIGURED: print the gateway to use. For dhcp: the default route the
# DHCP client installed on IFACE (dhclient, udhcpc), else the last router of dhclient's lease.
lb_gateway() {
	if [ "$2" != dhcp ]; then echo "$2"; return 0; fi
	# shellcheck disable=SC2046 # split "default via GW dev IFACE ..." into words
	set -- "$1" $(ip -4 route show default dev "$1" 2>/dev/null)
	while [ $# -gt 1 ]; do
		if [ "$2" = via ] && lb_is_ipv4 "${3:-}"; then echo "$3"; return 0; fi
		shift
	done
	for _lease in "/var/lib/dhcp/dhclient.$1.leases" /var/lib/dhcp/dhclient.leases; do
		[ -r "$_lease" ] || continue
		_gw=$(sed -n 's/^[[:space:]]*option routers \([0-9.]*\).*/\1/p' "$_lease" | tail -n 1)
		lb_is_ipv4 "$_gw" && { echo "$_gw"; return 0; }
	done
	return 1
}

# lb_conntrack: the connection tracking table, one connection a line ("mark=M", "bytes=B").
lb_conntrack() {
	cat /proc/net/nf_conntrack 2>/dev/null || conntrack -L -o extended 2>/dev/null
}

# lb_routed: print the destinations of the main table's routes other than its default
# route (the uplinks' own networks and gateways, a LAN, an admin's static routes), one a
# line. Connections to them keep their route and take no turn of the chooser. Routes on
# a link linkbal holds down are left out: ifdown removes them only after its hook ran.
lb_routed() {
	_gone=' '
	[ -f "$RUN/default-down" ] && [ -r "$RUN/default-dev" ] && read -r _gone <"$RUN/default-dev"
	while read -r _if _rest; do
		[ -n "$_if" ] && [ ! -f "$RUN/up/$_if" ] && _gone="$_gone $_if"
	done <<EOF
$LINKS
EOF
	ip -4 route show table main 2>/dev/null | awk -v gone=" $_gone " '
		$1 ~ /^(unicast|blackhole|unreachable|prohibit|throw)$/ { $1 = $2 }
		{ for (i = 2; i < NF; i++) if ($i == "dev" && index(gone, " " $(i + 1) " ")) next }
		$1 ~ /^[0-9.]+(\/[0-9]+)?$/ { print $1 }'
}

# lb_sysctl KEY VALUE: set a sysctl under /proc/sys, remembering its first value for `stop`.
lb_sysctl() {
	_f=/proc/sys/$1
	[ -w "$_f" ] || return 0
	grep -q "^$1 " "$RUN/sysctl" 2>/dev/null || echo "$1 $(cat "$_f")" >>"$RUN/sysctl"
	echo "$2" >"$_f"
}

# lb_members: print "MARK:WEIGHT" of the default link (mark 1; unless its ifdown ran) and
# of each link that is up, in LINKS order, with their configured weights.
lb_members() {
	[ "$DEFAULT_WEIGHT" -gt 0 ] && [ ! -f "$RUN/default-down" ] && printf '1:%s ' "$DEFAULT_WEIGHT"
	while read -r _if _gw _w _m _t; do
		[ -n "$_if" ] && [ -f "$RUN/up/$_if" ] && printf '%s:%s ' "$_m" "$_w"
	done <<EOF
$LINKS
EOF
	echo
}

# lb_participants: the members new connections are spread over now, "MARK:WEIGHT", with
# learned weights when AUTO=1 (a learned 0: the link takes no new connection for now).
lb_participants() {
	for _p in $(lb_members); do
		lb_weight "${_p%:*}" "${_p#*:}"
		[ "$_lw" -gt 0 ] && printf '%s:%s ' "${_p%:*}" "$_lw"
	done
	echo
}

# lb_reduce MARK:WEIGHT...: the same list with the weights divided by their gcd.
lb_reduce() {
	_g=0
	for _p; do
		_a=${_p#*:} _b=$_g
		while [ "$_b" -ne 0 ]; do _r=$((_a % _b)) _a=$_b _b=$_r; done
		_g=$_a
	done
	for _p; do printf '%s:%s ' "${_p%:*}" $((${_p#*:} / _g)); done
	echo
}

# lb_swrr MARK:WEIGHT...: print one mark per slot, sum-of-weights slots, in smooth weighted
# round-robin order (4:2:1 gives a b a c a b a): a link's connections are spread evenly.
lb_swrr() {
	_n=0 _total=0 _c=0
	for _p; do
		_n=$((_n + 1)) _total=$((_total + ${_p#*:}))
		eval "_m$_n=${_p%:*} _w$_n=${_p#*:} _c$_n=0"
	done
	_k=0
	while [ "$_k" -lt "$_total" ]; do
		_best=0 _i=1
		while [ "$_i" -le "$_n" ]; do
			eval "_c$_i=\$((_c$_i + _w$_i)); _c=\$_c$_i"
			if [ "$_best" -eq 0 ] || [ "$_c" -gt "$_bestc" ]; then _best=$_i _bestc=$_c; fi
			_i=$((_i + 1))
		done
		eval "_c$_best=\$((_c$_best - _total)); printf '%s ' \"\$_m$_best\""
		_k=$((_k + 1))
	done
	echo
}

# lb_cascade MARK:WEIGHT...: print "MARK:P" per link, P the probability that the link takes
# a connection the links before it left: w_i / (w_i + ... + w_n), 8 decimals; the last is 1.
lb_cascade() {
	_rest=0
	for _p; do _rest=$((_rest + ${_p#*:})); done
	for _p; do
		_w=${_p#*:}
		if [ "$_w" -eq "$_rest" ]; then
			printf '%s:1 ' "${_p%:*}"
		else
			printf '%s:0.%08d ' "${_p%:*}" $((_w * 100000000 / _rest))
		fi
		_rest=$((_rest - _w))
	done
	echo
}

# lb_apply: load the whole ruleset for the links up now, in one transaction.
lb_apply() {
	# shellcheck disable=SC2046 # the participants are words without glob characters
	set -- $(lb_reduce $(lb_participants))
	lb_ruleset "$@" >"$RUN/ruleset.new" || return 1
	if lb_load "$RUN/ruleset.new"; then
		mv -f "$RUN/ruleset.new" "$RUN/ruleset"
		# remember the default link's device, for the hooks
		lb_device 1
		[ -z "$_dev" ] || echo "$_dev" >"$RUN/default-dev"
	else
		lb_log "the kernel refused the new ruleset ($RUN/ruleset.new); the previous one stays"
		return 1
	fi
}

lb_rule_del() {
	while ip rule del pref "$1" 2>/dev/null; do :; done
}

# lb_up IFACE: give the link its table and fwmark rule, then re-spread over the links up.
lb_up() {
	lb_link "$1" || return 0
	if ! _gw=$(lb_gateway "$1" "$GW"); then
		lb_log "$1: no gateway found (no DHCP route or lease); link not used"
		return 1
	fi
	lb_sysctl "net/ipv4/conf/$1/rp_filter" 2
	lb_sysctl "net/ipv4/conf/$1/src_valid_mark" 1
	lb_sysctl net/netfilter/nf_conntrack_acct 1
	ip rule show pref "$PREF" | grep -q . ||
		ip rule add lookup main suppress_prefixlength 0 pref "$PREF" || return 1
	if ip route replace default via "$_gw" dev "$1" table "$TABLE"; then
		lb_rule_del $((PREF + MARK))
		lb_rule_del $((FALLBACK + MARK))
		ip rule add fwmark "$MARK" lookup "$TABLE" pref $((PREF + MARK)) &&
			ip rule add lookup "$TABLE" pref $((FALLBACK + MARK)) &&
			echo "$_gw $MARK $TABLE" >"$RUN/up/$1" &&
			lb_apply && lb_learner_start && lb_info "$1 up: gateway $_gw, weight $WEIGHT" && return 0
	fi
	lb_log "$1: could not be brought into balancing; it carries no new connections"
	rm -f "$RUN/up/$1"
	lb_apply
	lb_rule_del $((PREF + MARK))
	lb_rule_del $((FALLBACK + MARK))
	ip route flush table "$TABLE" 2>/dev/null
	return 1
}

# lb_down IFACE: take the link out first (re-spread), then drop its rule and table.
# The device may already be gone (unplugged): every step tolerates that.
lb_down() {
	[ -f "$RUN/up/$1" ] || return 0
	read -r _gw _mark _table <"$RUN/up/$1"
	rm -f "$RUN/up/$1"
	lb_apply
	lb_rule_del $((PREF + _mark))
	lb_rule_del $((FALLBACK + _mark))
	ip route flush table "$_table" 2>/dev/null
	if [ "$FLUSH_ON_DOWN" = 1 ]; then
		conntrack -D -m "$_mark" >/dev/null 2>&1 || lb_log "$1: could not flush its connections (conntrack)"
	fi
	lb_info "$1 down"
}

# lb_default up|down: the default link's own ifup or ifdown (the hooks know its device from
# default-dev): while it is down, new connections go to the listed links only.
lb_default() {
	if [ "$1" = down ]; then : >"$RUN/default-down"; else rm -f "$RUN/default-down"; fi
	lb_apply && lb_info "default link ($_dev) $1"
}

# lb_start: load the rules and take in every listed link that is up with an IPv4 address.
lb_start() {
	_rc=0
	while read -r _if _rest; do
		[ -n "$_if" ] || continue
		if ip -4 -o addr show dev "$_if" up 2>/dev/null | grep -q inet; then
			lb_up "$_if" || _rc=1
		fi
	done <<EOF
$LINKS
EOF
	lb_apply || _rc=1
	return "$_rc"
}

# lb_stop: remove everything linkbal added, from the state of what it did.
lb_stop() {
	[ -r "$RUN/learner.pid" ] && read -r _pid <"$RUN/learner.pid" && kill "$_pid" 2>/dev/null
	rm -rf "$RUN/learner.pid" "$RUN/learn"
	lb_unload
	for _f in "$RUN"/up/*; do
		[ -f "$_f" ] || continue
		read -r _gw _mark _table <"$_f"
		lb_rule_del $((PREF + _mark))
		lb_rule_del $((FALLBACK + _mark))
		ip route flush table "$_table" 2>/dev/null
		rm -f "$_f"
	done
	lb_rule_del "$PREF"
	if [ -f "$RUN/sysctl" ]; then
		while read -r _key _val; do
			[ -w "/proc/sys/$_key" ] && echo "$_val" >"/proc/sys/$_key"
		done <"$RUN/sysctl"
		rm -f "$RUN/sysctl"
	fi
	rm -f "$RUN/ruleset" "$RUN/ruleset.new" "$RUN/default-dev" "$RUN/default-down"
}

# ---- learned weights (AUTO=1: --weight auto) ----
# A background loop, started by the first "up" and ended by "stop", samples each link's
# received bytes in /sys/class/net every STEP seconds. Each link keeps an estimate of its
# capacity: the highest rate seen, decaying by a sixteenth a step while the link carries
# 100 kbit/s or more (halved in about 3 s), so a busy link shows its capacity at once and a
# link that slows down is followed within seconds; an idle link keeps its estimate.
# With connections open, a link's weight is what it lacks of its fair load (open
# connections in proportion to capacity), so new connections go where they finish first;
# with none open, the weights are the capacities scaled to 1-20.
STEP=0.25

# lb_weight MARK WEIGHT: set _lw to the weight of MARK: learned when AUTO=1, else WEIGHT.
lb_weight() {
	_lw=$2
	[ "$AUTO" = 1 ] && [ -r "$RUN/learn/weights" ] || return 0
	read -r _learned <"$RUN/learn/weights"
	for _q in $_learned; do [ "${_q%:*}" = "$1" ] && _lw=${_q#*:}; done
	return 0
}

# lb_device MARK: set _dev to the device of the link with MARK; for the default link (1),
# the device of the main table's default route, looked up every 40 steps (10 s).
lb_device() {
	_dev=
	if [ "$1" = 1 ]; then
		if [ $((_step % 40)) -eq 0 ]; then
			_defdev=
			# shellcheck disable=SC2046
			set -- $(ip -4 route show default table main)
			while [ $# -gt 1 ]; do
				[ "$1" = dev ] && _defdev=$2
				shift
			done
		fi
		_dev=$_defdev
		return 0
	fi
	while read -r _dif _dgw _dw _dm _dt; do [ "$_dm" = "$1" ] && _dev=$_dif; done <<EOF
$LINKS
EOF
}

lb_learn() {
	mkdir -p "$RUN/learn"
	read -r _t _rest </proc/uptime
	_t=${_t%.*}${_t#*.}
	_ests='' _max=0 _sum=0
	for _p in $(lb_members); do
		_m=${_p%:*}
		lb_device "$_m"
		[ -n "$_dev" ] || continue
		read -r _rx <"/sys/class/net/$_dev/statistics/rx_bytes" || continue
		_pt=$_t _prx=$_rx _est=0
		[ -r "$RUN/learn/$_m" ] && read -r _pt _prx _est <"$RUN/learn/$_m"
		_rate=0
		[ "$_t" -gt "$_pt" ] && [ "$_rx" -ge "$_prx" ] && _rate=$(((_rx - _prx) * 100 / (_t - _pt)))
		# an idle link tells nothing about its capacity: only a link in use moves its estimate
		[ "$_rate" -ge 12500 ] && _est=$((_est - _est / 16))
		[ "$_rate" -gt "$_est" ] && _est=$_rate
		echo "$_t $_rx $_est" >"$RUN/learn/$_m"
		_ests="$_ests $_m:$_est"
		_sum=$((_sum + _est))
		[ "$_est" -gt "$_max" ] && _max=$_est
	done
	[ "$_max" -ge 12500 ] || return 0
	# the load each link has now: its open connections (conntrack, by mark)
	_open=$(lb_conntrack | awk '/(^| )tcp / && !/ ESTABLISHED /{ next }
		{ for (i = 1; i <= NF; i++) if ($i ~ /^mark=/) n[substr($i, 6)]++ }
		END { for (m in n) printf "%s:%d ", m, n[m] }')
	_n=0
	for _q in $_open; do _n=$((_n + ${_q#*:})); done
	# with N open, a link of capacity c should hold 2N c / C after the next new ones: its
	# weight is what it lacks of that (0 if it holds more); idle, the weights are capacities
	_new='' _any=0
	for _p in $_ests; do
		_c=${_p#*:} _o=0
		for _q in $_open; do [ "${_q%:*}" = "${_p%:*}" ] && _o=${_q#*:}; done
		_w=$(((20 * _n * _c + _sum / 2) / _sum - 10 * _o))
		[ "$_w" -gt 0 ] || _w=0
		[ "$_n" -gt 0 ] || _w=$(((_c * 20 + _max / 2) / _max))
		_any=$((_any + _w))
		_new="$_new ${_p%:*}:$_w"
	done
	[ "$_any" -gt 0 ] || return 0
	[ -r "$RUN/learn/weights" ] && read -r _old <"$RUN/learn/weights" && [ "$_old" = "${_new# }" ] && return 0
	echo "${_new# }" >"$RUN/learn/weights"
	lb_apply
}

# lb_learner: the loop; its first step, at once, takes the counters' starting point.
lb_learner() {
	_step=0 _defdev=''
	while [ -f "$RUN/ruleset" ]; do
		flock 9 && lb_learn
		flock -u 9
		_step=$((_step + 1))
		sleep "$STEP"
	done 9>"$RUN/lock"
}

lb_learner_start() {
	[ "$AUTO" = 1 ] || return 0
	[ -r "$RUN/learner.pid" ] && read -r _pid <"$RUN/learner.pid" && kill -0 "$_pid" 2>/dev/null && return 0
	setsid "$0" learner </dev/null >/dev/null 2>&1 9>&- &
	echo $! >"$RUN/learner.pid"
}

# lb_status: per link, state, gateway, weight, target share, and the connections conntrack
# holds for it now with their bytes (both directions), with a bar of its share of the bytes.
lb_status() {
	echo "linkbal: backend $BACKEND, mode $MODE, rules $([ -f "$RUN/ruleset" ] && echo loaded || echo 'not loaded')"
	# shellcheck disable=SC2046
	set -- $(lb_participants)
	_sum=0
	for _p; do _sum=$((_sum + ${_p#*:})); done
	{
		lb_weight 1 "$DEFAULT_WEIGHT"
		if [ -f "$RUN/default-down" ]; then echo "default down main-table $_lw 1 0"
		else echo "default up main-table $_lw 1 $_sum"; fi
		while read -r _if _gw _w _m _t; do
			[ -n "$_if" ] || continue
			if [ -f "$RUN/up/$_if" ]; then
				read -r _gw _rest <"$RUN/up/$_if"
				lb_weight "$_m" "$_w"
				echo "$_if up $_gw $_lw $_m $_sum"
			else
				echo "$_if down $_gw $_w $_m 0"
			fi
		done <<LINKS
$LINKS
LINKS
		echo --
		lb_conntrack
	} | awk '
		$1 == "--" { ct = 1; next }
		!ct { n++; name[n] = $1; state[n] = $2; gw[n] = $3; w[n] = $4; mark[n] = $5
			share[n] = ($6 > 0 && $4 > 0) ? int($4 * 100 / $6) "%" : "-"; next }
		{ m = ""; b = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^mark=/) m = substr($i, 6)
				if ($i ~ /^bytes=/) b += substr($i, 7)
			}
			conns[m]++; bytes[m] += b; total += b }
		END {
			printf "%-15s %-5s %-15s %6s %5s %7s %12s\n", "link", "state", "gateway", "weight", "share", "conns", "bytes"
			for (i = 1; i <= n; i++) {
				k = mark[i]; bar = ""
				for (j = 0; total > 0 && j < 30 * bytes[k] / total; j++) bar = bar "#"
				printf "%-15s %-5s %-15s %6s %5s %7d %12d %s\n", name[i], state[i], gw[i], w[i], share[i], conns[k], bytes[k], bar
			}
		}'
}

lb_main() {
	umask 022
	mkdir -p "$RUN/up" || exit 1
	[ "${1:-}" = learner ] && { lb_learner; exit 0; }
	exec 9>"$RUN/lock"
	if ! flock -w 60 9; then
		lb_log "another linkbal run held $RUN/lock for 60 s; nothing changed"
		exit 1
	fi
	case "${1:-}" in
	up | down) [ -n "${2:-}" ] || set -- usage ;;
	esac
	case "${1:-}" in
	start) lb_start ;;
	stop) lb_stop ;;
	restart) lb_stop; lb_start ;;
	status) lb_status ;;
	up) lb_up "$2" ;;
	down) lb_down "$2" ;;
	default-up) lb_default up ;;
	default-down) lb_default down ;;
	*)
		echo "usage: $0 start|stop|restart|status|up IFACE|down IFACE|default-up|default-down" >&2
		exit 2
		;;
	esac
}
