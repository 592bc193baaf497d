# ---- weights (templates/lib/weights.sh): who takes new connections, in which order ----
# A member is "MARK:WEIGHT"; the default link has mark 1. Pure arithmetic but for
# lb_members and lb_weight, which read the state.

# lb_links: print LINKS without its empty lines: "IFACE GATEWAY WEIGHT MARK TABLE TIER".
lb_links() {
	echo "$LINKS" | while read -r _if _rest; do [ -z "$_if" ] || echo "$_if $_rest"; done
}

# lb_candidates: print "NAME MARK WEIGHT TIER HEALTH" of the default link (NAME default;
# unless its ifdown ran, or its weight is 0) and of each listed link that is up.
lb_candidates() {
	[ "$DEFAULT_WEIGHT" -gt 0 ] && [ ! -f "$LB_DEFAULT_DOWN" ] &&
		echo "default 1 $DEFAULT_WEIGHT $DEFAULT_TIER $(lb_health default)"
	lb_links | while read -r _if _gw _w _m _t _tier; do
		[ -f "$LB_UP/$_if" ] && echo "$_if $_m $_w $_tier $(lb_health "$_if")"
	done
}

# lb_members: print "MARK:WEIGHT" of the links new connections go to, configured weights:
# the healthy candidates of the lowest tier that has one; with none healthy, every
# candidate that has carrier (and with none of those either, every candidate).
lb_members() {
	lb_candidates | awk '
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

# lb_participants: print the members new connections are spread over now, "MARK:WEIGHT",
# with their weights now (a learned 0: the link takes no new connection for now).
lb_participants() {
	for _p in $(lb_members); do
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
