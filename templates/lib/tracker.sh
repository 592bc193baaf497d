# ---- the tracker (templates/lib/tracker.sh): is a link's upstream alive? ----
# A program of its own, /etc/linkbal/tracker NAME, one per side of a balanced link (NAME:
# the link, default for the default link; with ":6", its IPv6 side), started by the rules
# script while that side is up and its family has addresses to probe (PROBES, PROBES6).
# For each of those it runs one ping that leaves by the link's own routing table (its
# mark) from the link's own address (for IPv6, its first global one that is neither
# tentative nor deprecated), every INTERVAL seconds, reporting an unanswered probe before
# the next (ping -O). States:
#   dead       no answer from any target for DOWN_AFTER, having tried at least two targets
#              (or the only one): one dead target never takes a link down, and a late
#              answer (latency, however high) counts as an answer
#   nocarrier  the device has no carrier (at once)
#   ok         back from either after a clean window: answers and no loss for HOLD, which
#              is UP_AFTER, doubled (up to HOLD_MAX) each time the link fails again within
#              FLAP_WINDOW of its last failure: a flapping link is held out
# It ends by itself when its side goes down or `rules stop` ran (LB_STARTED changed), and
# when its probes fail because the link's address changed (a new DHCP lease, a new IPv6
# prefix) rather than call the link dead; `rules` restarts it if it died (with the
# address the link has then), and every tracker asks for that every ENSURE_EVERY.
INTERVAL=0.5		# seconds between two probes to one target
TICK=2			# seconds between two ticks: the loop's own pulse, should the pings stop
DOWN_AFTER=150		# hundredths of a second of silence (1.5 s: 3 probes a target)
UP_AFTER=300		# the clean window a link needs to come back the first time (3 s)
HOLD_MAX=6400		# the longest clean window a flapping link needs (64 s)
FLAP_WINDOW=6000	# a failure within 60 s of the last doubles the window
ENSURE_EVERY=500	# every 5 s: a tracker that died is started again (`rules ensure`)
STATS_WINDOW=6000	# loss and round trip over the last minute (two halves)
START6=200		# an IPv6 tracker's first verdict waits 2 s more: on a link just up, duplicate
			# address detection and neighbour discovery hold its first probes a second or so

# lb_src -4|-6 DEVICE: print DEVICE's first IPv4 address, or its first global IPv6 address
# that is usable (past duplicate address detection, not deprecated by a prefix change).
lb_src() {
	_sf=$1 && shift
	[ "$_sf" = -4 ] || set -- "$1" scope global -tentative -deprecated
	ip "$_sf" -o addr show dev "$@" 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }'
}

# lb_track_missing: true if a link that should be tracked has no tracker (its lock is free).
lb_track_missing() {
	for _n in $(lb_tracked); do flock -n "$LB_TRACK/$_n.lock" true 2>/dev/null && return 0; done
	return 1
}

# lb_probe TARGET MARK SOURCE: ping TARGET every INTERVAL, each line prefixed with TARGET.
lb_probe() {
	ping -n -O -i "$INTERVAL" -m "$2" -I "$3" "$1" 2>&1 | while read -r _line && echo "$1 $_line"; do :; done
}

# lb_track NAME DEVICE SOURCE: read the probes' lines (and a tick every TICK) and tell the
# rules script each change of state; return when the side is no longer balanced, or the
# link no longer has the address SOURCE the probes leave from. The family's -4/-6 and
# addresses to probe: _af, _probes (lb_tracker_main's).
lb_track() {
	_name=$1 _dev=$2 _src=$3
	read -r _now _rest </proc/uptime
	_now=${_now%.*}${_now#*.}
	_state=ok _last_ok=$_now _failed='' _clean=$_now _answers=0 _hold=$UP_AFTER
	_last_down=$((_now - FLAP_WINDOW)) _next_ensure=$((_now + ENSURE_EVERY))
	_half=$_now _sent=0 _lost=0 _psent=0 _plost=0 _rtts='' _nrtt=0
	[ "$_af" = -4 ] || _last_ok=$((_now + START6))
	[ -r "$LB_HEALTH/$_name" ] && read -r _state _rest <"$LB_HEALTH/$_name"
	read -r _gen <"$LB_STARTED" || return 0
	_ntargets=0
	for _t in $_probes; do _ntargets=$((_ntargets + 1)); done
	[ "$_ntargets" -lt 2 ] || _ntargets=2
	while read -r _t _line; do
		# lb_uptime without its subshell: this runs for every line
		read -r _now _rest </proc/uptime
		_now=${_now%.*}${_now#*.}
		# a stop, or a stop and a start since this tracker began: it is not wanted
		_g='' && read -r _g <"$LB_STARTED" 2>/dev/null
		[ "$_g" = "$_gen" ] && lb_side "$_name" || return 0
		case $_line in
		tick) ;;
		*" bytes from "*)
			_last_ok=$_now _failed='' _answers=$((_answers + 1)) _sent=$((_sent + 1))
			# the last 30 round trips, in ms
			_rtt=${_line##*time=}
			_rtts="$_rtts ${_rtt%% *}" _nrtt=$((_nrtt + 1))
			if [ "$_nrtt" -gt 30 ]; then _rtts=${_rtts# } _rtts=" ${_rtts#* }" _nrtt=30; fi
			;;
		"no answer yet"* | From* | *nreachable* | ping:*)
			# a probe lost, or refused on its way ("From GW ... Unreachable", sendmsg errors);
			# the first since an answer: is the address still the link's? If it went (a new
			# prefix, a new lease), end now: masquerade would send the next probes from the new
			# one, and their answers, for the old one, would stray
			[ -n "$_failed" ] || [ "$(lb_src "$_af" "$_dev")" = "$_src" ] || return 0
			case " $_failed " in *" $_t "*) ;; *) _failed="$_failed $_t" ;; esac
			_clean=$_now _answers=0 _sent=$((_sent + 1)) _lost=$((_lost + 1))
			;;
		esac
		_carrier=0
		read -r _carrier <"/sys/class/net/$_dev/carrier" 2>/dev/null
		if [ "$_carrier" != 1 ]; then
			_clean=$_now _answers=0
			[ "$_state" = nocarrier ] || { _state=nocarrier; "$LB_ETC/rules" health "$_name" nocarrier "$_gen" "no carrier on $_dev"; }
		elif [ "$_state" = ok ]; then
			# shellcheck disable=SC2086 # the targets that failed, as words
			set -- $_failed
			if [ $((_now - _last_ok)) -ge "$DOWN_AFTER" ] && [ $# -ge "$_ntargets" ]; then
				# the probes' address is gone: not the link's fault; another tracker takes over
				[ "$(lb_src "$_af" "$_dev")" = "$_src" ] || return 0
				# failing again soon after the last failure: a longer clean window to come back
				if [ $((_now - _last_down)) -lt "$FLAP_WINDOW" ]; then _hold=$((_hold * 2)); else _hold=$UP_AFTER; fi
				[ "$_hold" -le "$HOLD_MAX" ] || _hold=$HOLD_MAX
				_last_down=$_now _state=dead
				"$LB_ETC/rules" health "$_name" dead "$_gen" "no answer from$_failed for $(((_now - _last_ok) / 100)) s"
			fi
		elif [ $((_now - _clean)) -ge "$_hold" ] && [ "$_answers" -ge 2 ]; then
			_state=ok
			"$LB_ETC/rules" health "$_name" ok "$_gen" "probes answered for $((_hold / 100)) s"
		fi
		[ "$_t" = - ] || continue
		# on each tick: a link held out whose address changed is probed anew (by another tracker)
		[ "$_state" = ok ] || [ "$(lb_src "$_af" "$_dev")" = "$_src" ] || return 0
		# loss and round trips for `rules status` (this half-minute and the one before), and
		# the other trackers
		if [ $((_now - _half)) -ge $((STATS_WINDOW / 2)) ]; then
			_half=$_now _psent=$_sent _plost=$_lost _sent=0 _lost=0
		fi
		echo "$((_sent + _psent)) $((_lost + _plost))$_rtts" >"$LB_TRACK/$_name.stats"
		if [ "$_now" -ge "$_next_ensure" ]; then
			_next_ensure=$((_now + ENSURE_EVERY))
			! lb_track_missing || "$LB_ETC/rules" ensure </dev/null >/dev/null 2>&1
		fi
	done
}

# lb_tracker_main NAME: one tracker per side (it holds LB_TRACK/NAME.lock, on fd 7 from
# lb_track_start); its pings and ticks feed lb_track; at its end, the whole group ends.
lb_tracker_main() {
	[ -n "${1:-}" ] && _mark=$(lb_mark_of "$1") || exit 2
	mkdir -p "$LB_TRACK"
	{ : >&7; } 2>/dev/null || exec 7>"$LB_TRACK/$1.lock"
	flock -n 7 || exit 0
	_af=-4 _probes=$PROBES _dev=${1%:6}
	[ "$_dev" = "$1" ] || _af=-6 _probes=${PROBES6:-}
	case $1 in
	default) read -r _dev <"$LB_DEFAULT_DEV" || exit 0 ;;
	default:6) _dev=$(lb_default_dev6) ;;
	esac
	_src=$(lb_src "$_af" "$_dev")
	[ -n "$_src" ] || exit 0
	trap 'trap - TERM; kill 0' EXIT
	trap 'exit 0' TERM
	{
		for _t in $_probes; do lb_probe "$_t" "$_mark" "$_src" & done
		while sleep "$TICK" && echo "- tick"; do :; done
	} | {
		lb_track "$1" "$_dev" "$_src"
		kill 0 # the pings and ticks too, at once
	}
}
