# ---- weights (templates/lib/weights.sh): who takes new connections, in which order ----
# A member is "MARK:WEIGHT"; the default link has mark LB_UNIT. Pure arithmetic but for
# lb_members and lb_weight, which read the state.

# lb_links: print LINKS without its empty lines: "IFACE GATEWAY WEIGHT MARK TABLE TIER".
lb_links() {
	echo "$LINKS" | while read -r _if _rest; do [ -z "$_if" ] || echo "$_if $_rest"; done
}

# lb_candidates: print "NAME MARK WEIGHT TIER HEALTH" of the default link (NAME default;
# unless its ifdown ran, or its weight is 0) and of each listed link that is up.
lb_candidates() {
	[ "$DEFAULT_WEIGHT" -gt 0 ] && [ ! -f "$LB_DEFAULT_DOWN" ] &&
		echo "default $LB_UNIT $DEFAULT_WEIGHT $DEFAULT_TIER $(lb_health default)"
	lb_links | while read -r _if _gw _w _m _t _tier; do
		[ -f "$LB_UP/$_if" ] && echo "$_if $_m $_w $_tier $(lb_health "$_if")"
	done
}

# lb_members [6]: print "MARK:WEIGHT" of the links new connections go to, configured weights:
# the healthy candidates of the lowest tier that has one; with none healthy, every
# candidate that has carrier (and with none of those either, every candidate). With 6: of
# IPv6 connections (lb_candidates6).
lb_members() {
	lb_candidates"${1:-}" | awk '
		{ m[NR] = $2; w[NR] = $3; t[NR] = $4; h[NR] = $5 }
		$5 == "ok" && (best == "" || $4 + 0 < best + 0) { best = $4 }
		$5 != "nocarrier" { carrier = 1 }
		END {
			for (i = 1; i <= NR; i++)
				if (best != "" ? h[i] == "ok" && t[i] == best : !carrier || h[i] != "nocarrier")
					printf "%s:%s ", m[i], w[i]
			print ""
		}'
}

# lb_weight MARK WEIGHT: print the weight of MARK now: learned when AUTO=1 and the learner
# has learned one, else WEIGHT.
lb_weight() {
	_lw=$2
	if [ "$AUTO" = 1 ] && [ -r "$LB_LEARN/weights" ]; then
		read -r _learned <"$LB_LEARN/weights"
		for _q in $_learned; do [ "${_q%:*}" = "$1" ] && _lw=${_q#*:}; done
	fi
	echo "$_lw"
}

# lb_participants [6]: print the members new connections (IPv6 ones with 6) are spread over
# now, "MARK:WEIGHT", with their weights now (a learned 0: the link takes none for now).
# shellcheck disable=SC2120 # 6: from the nftables backend's choose6 only
lb_participants() {
	for _p in $(lb_members "${1:-}"); do
		_w=$(lb_weight "${_p%:*}" "${_p#*:}")
		[ "$_w" -gt 0 ] && printf '%s:%s ' "${_p%:*}" "$_w"
	done
	echo
}

# lb_reduce MARK:WEIGHT...: print the same list with the weights divided by their gcd.
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
	_n=0 _total=0 _c=0 _bestc=0
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

# lb_slots N MARK:WEIGHT...: print the marks of N slots, in the order --mode least fills
# them: each next slot to the link with the fewest slots per unit of weight, a tie to the
# heavier link, then to the first (4:2:1 gives a b c a a b a a b c ...).
lb_slots() {
	_s=$1 _n=0
	shift
	for _p; do
		[ "${_p#*:}" -gt 0 ] || continue
		_n=$((_n + 1))
		eval "_m$_n=${_p%:*} _w$_n=${_p#*:} _c$_n=0"
	done
	while [ "$_s" -gt 0 ] && [ "$_n" -gt 0 ]; do
		_best=0 _i=1
		while [ "$_i" -le "$_n" ]; do
			eval "_c=\$_c$_i _w=\$_w$_i"
			# c/w below the best's bc/bw, or equal with a heavier weight
			if [ "$_best" -eq 0 ] || [ $((_c * _bw)) -lt $((_bc * _w)) ] ||
				{ [ $((_c * _bw)) -eq $((_bc * _w)) ] && [ "$_w" -gt "$_bw" ]; }; then
				_best=$_i _bc=$_c _bw=$_w
			fi
			_i=$((_i + 1))
		done
		eval "_c$_best=\$((_c$_best + 1)); printf '%s ' \"\$_m$_best\""
		_s=$((_s - 1))
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

# lb_hex NUMBER: print NUMBER as a 32-bit mark in hex (0x02000000), as nft and iptables show it.
lb_hex() {
	printf '0x%08x' "$1"
}

# lb_fallback [6]: print the listed link that is up whose fallback rule comes first: while the
# main table has no default route (or the default link is held down), a connection that
# nobody routed elsewhere starts out by it, with its address. With 6: of the IPv6 sides.
# shellcheck disable=SC2120 # inet6.sh passes the 6
lb_fallback() {
	_up=$LB_UP
	[ -z "${1:-}" ] || _up=$LB_UP6
	lb_links | while read -r _if _rest; do
		[ -f "$_up/$_if" ] && { echo "$_if"; break; }
	done
}

# lb_default_gone: true while the default link is held down or the main table has no
# default route.
lb_default_gone() {
	[ -f "$LB_DEFAULT_DOWN" ] || [ -z "$(lb_default_dev)" ]
}

# lb_exits: print the devices that a new connection leaves by when nothing but the main
# table's default route routes it: the default link's, and while that is gone, the fallback
# link's. Only such connections are balanced: one that a VPN, a policy rule or a specific
# route sends elsewhere keeps its route.
lb_exits() {
	_dev=$(lb_default_dev)
	[ -n "$_dev" ] || { [ -r "$LB_DEFAULT_DEV" ] && read -r _dev <"$LB_DEFAULT_DEV"; }
	[ -z "$_dev" ] || echo "$_dev"
	! lb_default_gone || lb_fallback
}

# lb_pinned: print "ADDRESS NAME MARK" for the addresses of the listed links that are up:
# a socket bound to one chose that link. Not the default link's addresses, nor while the
# default link is gone the fallback link's: a connection that chose nothing starts out
# with those too, so a socket bound to them cannot be told apart (see the README).
lb_pinned() {
	_skip=''
	! lb_default_gone || _skip=$(lb_fallback)
	lb_links | while read -r _if _gw _w _m _rest; do
		[ -f "$LB_UP/$_if" ] || continue
		[ "$_if" != "$_skip" ] || continue
		for _a in $(ip -4 -o addr show dev "$_if" 2>/dev/null | awk '{ print $4 }'); do
			echo "${_a%/*} $_if $_m"
		done
	done
}
