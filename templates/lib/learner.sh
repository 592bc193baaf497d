# ---- the learner (templates/lib/learner.sh): learned weights, --weight auto ----
# A program of its own, /etc/linkbal/learner, started by the first `rules up` (AUTO=1);
# it ends by itself within a step once `rules stop` took the ruleset away. Every STEP
# seconds it samples each link's received bytes in /sys/class/net. Each link keeps an
# estimate of its capacity: the highest rate seen, decaying by 1/DECAY a step while the
# link carries BUSY or more (halved in about 3 s), so a busy link shows its capacity at
# once and a link that slows down is followed within seconds; an idle link keeps its
# estimate. With connections open, a link's weight is what it lacks of its fair load (open
# connections in proportion to capacity), so new connections go where they finish first;
# with none open, and always with --mode least, the weights are the capacities scaled to
# 1-IDLE_SCALE.
STEP=0.25		# seconds between samples
BUSY=12500		# bytes/s (100 kbit/s): below it, a link tells nothing of its capacity
DECAY=16		# a busy link's estimate loses 1/DECAY a step
IDLE_SCALE=20		# weights with no connection open: capacities scaled to 1-IDLE_SCALE
DEVICE_EVERY=40		# steps between two looks for the default link's device (10 s)
LB_UPTIME=/proc/uptime	# where a step reads the time, and the devices' counters (tests
LB_SYSNET=/sys/class/net	# point these at files of their own)

# lb_devices: print " MARK:DEVICE" for each listed link, on one line: the learner's map
# from a mark to the device whose counters it reads (looked up with case, no process).
lb_devices() {
	lb_links | while read -r _if _gw _w _m _rest; do printf ' %s:%s' "$_m" "$_if"; done
}

# lb_open: print "MARK:N" for each link mark with N open connections (conntrack; TCP
# counts only once established; no link mark, never balanced, not at all: probes, bypasses).
lb_open() {
	lb_conntrack | awk -v unit="$LB_UNIT" -v span="$LB_SPAN" '
		/(^| )tcp / && !/ ESTABLISHED /{ next }
		{ for (i = 1; i <= NF; i++) if ($i ~ /^mark=/ && (m = int(substr($i, 6) / unit) % span)) n[sprintf("%.0f", m * unit)]++ }
		END { for (m in n) printf "%s:%d ", m, n[m] }'
}

# lb_learn DEFAULT_DEVICE DEVICES: one step: sample the counters (DEVICES: lb_devices's map),
# update the estimates in LB_LEARN, and when the weights change, write LB_LEARN/weights and
# load them (lb_reweigh). It runs four times a second: reads, not processes, where it can.
lb_learn() {
	mkdir -p "$LB_LEARN"
	read -r _t _rest <"$LB_UPTIME"
	_t=${_t%.*}${_t#*.}
	_ests='' _max=0 _sum=0
	for _p in $(lb_members); do
		_m=${_p%:*} _dev=$1
		if [ "$_m" != "$LB_UNIT" ]; then
			case "$2 " in *" $_m:"*) _dev=${2#*" $_m:"} _dev=${_dev%% *} ;; *) continue ;; esac
		fi
		# the bytes it has received; none: the device is gone
		{ [ -n "$_dev" ] && read -r _rx <"$LB_SYSNET/$_dev/statistics/rx_bytes"; } 2>/dev/null || continue
		_pt=$_t _prx=$_rx _est=0
		[ -r "$LB_LEARN/$_m" ] && read -r _pt _prx _est <"$LB_LEARN/$_m"
		_rate=0
		[ "$_t" -gt "$_pt" ] && [ "$_rx" -ge "$_prx" ] && _rate=$(((_rx - _prx) * 100 / (_t - _pt)))
		# an idle link tells nothing about its capacity: only a link in use moves its estimate
		[ "$_rate" -ge "$BUSY" ] && _est=$((_est - _est / DECAY))
		[ "$_rate" -gt "$_est" ] && _est=$_rate
		echo "$_t $_rx $_est" >"$LB_LEARN/$_m"
		_ests="$_ests $_m:$_est"
		_sum=$((_sum + _est))
		[ "$_est" -gt "$_max" ] && _max=$_est
	done
	[ "$_max" -ge "$BUSY" ] || return 0
	# the load each link has now: its open connections (--mode least: the kernel counts them
	# when a connection comes, so the weights are the capacities alone)
	_open=''
	[ "$MODE" = least ] || _open=$(lb_open)
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
		[ "$_n" -gt 0 ] || _w=$(((_c * IDLE_SCALE + _max / 2) / _max))
		_any=$((_any + _w))
		_new="$_new ${_p%:*}:$_w"
	done
	[ "$_any" -gt 0 ] || return 0
	[ -r "$LB_LEARN/weights" ] && read -r _old <"$LB_LEARN/weights" && [ "$_old" = "${_new# }" ] && return 0
	echo "${_new# }" >"$LB_LEARN/weights"
	lb_reweigh
}

# lb_learner_main: the loop, while the ruleset is loaded; one learner at a time (it holds
# LB_LEARNER_LOCK, on fd 8 from lb_learner_start). Its first step, at once, takes the
# counters' starting point.
lb_learner_main() {
	{ : >&8; } 2>/dev/null || exec 8>"$LB_LEARNER_LOCK"
	flock -n 8 || exit 0
	_step=0 _defdev='' _devs=$(lb_devices)
	while [ -f "$LB_RULESET" ]; do
		[ $((_step % DEVICE_EVERY)) -eq 0 ] && _defdev=$(lb_default_dev)
		# the ruleset may have gone while this step waited for the lock
		flock 9 && [ -f "$LB_RULESET" ] && lb_learn "$_defdev" "$_devs"
		flock -u 9
		_step=$((_step + 1))
		sleep "$STEP"
	done 9>"$LB_LOCK"
}
