# ---- health (templates/lib/health.sh): what the trackers found, and starting them ----
# Each side of a balanced link has a tracker, /etc/linkbal/tracker NAME, while it is in
# balance: NAME is the link (default: the default link) for its IPv4 side, while PROBES
# is not empty, and the link with ":6" (wan1:6, default:6) for its IPv6 side (--gw6),
# while PROBES6 is not empty; ":" is in no interface name. A link's two sides are tracked,
# taken out and brought back each on its own. The tracker tells its findings with `rules
# health NAME STATE STARTED REASON`; STATE is ok, dead (no probe answered) or nocarrier.
# LB_HEALTH/NAME holds "STATE SINCE REASON" (SINCE: hundredths of a second since boot); a
# side without one is ok.

# lb_uptime: print the time in hundredths of a second since boot.
lb_uptime() {
	read -r _up _rest </proc/uptime
	echo "${_up%.*}${_up#*.}"
}

# lb_health NAME: print the link's health: ok, dead or nocarrier.
lb_health() {
	_h=ok
	[ -r "$LB_HEALTH/$1" ] && read -r _h _rest <"$LB_HEALTH/$1"
	echo "$_h"
}

# lb_mark_of NAME: print the link mark of NAME (default: LB_UNIT; a link's two sides share
# it); false if NAME is not a link.
lb_mark_of() {
	if [ "${1%:6}" = default ]; then echo "$LB_UNIT"; return 0; fi
	# shellcheck disable=SC2154 # set by lb_link
	lb_link "${1%:6}" && echo "$lb_link_mark"
}

# lb_side NAME: true while the side NAME is in balance: a link's IPv4 or IPv6 side is up
# (LB_UP, LB_UP6), the default link's ifdown (of that family's stanza) did not hold it
# out. File tests only: a tracker asks on every line.
lb_side() {
	case $1 in
	default) [ ! -f "$LB_DEFAULT_DOWN" ] ;;
	default:6) [ ! -f "$LB_DEFAULT_DOWN6" ] ;;
	*:6) [ -f "$LB_UP6/${1%:6}" ] ;;
	*) [ -f "$LB_UP/$1" ] ;;
	esac
}

# lb_health_set NAME STATE STARTED REASON: record a tracker's finding; on a change,
# re-spread (one transaction), flush the side's connections (of its family) with
# FLUSH_ON_DOWN=1 when it is not ok, log it, and run the admin's /etc/linkbal/event.d/*
# with LINK (the link: wan1, default), FAMILY (inet or inet6, as ifupdown's ADDRFAM), STATE,
# REASON and TIER set. STARTED is the LB_STARTED the tracker began under.
lb_health_set() {
	# from a tracker of an earlier start, or for a side that went down meanwhile: that
	# tracker is about to end, nothing to record
	_started='' && read -r _started <"$LB_STARTED"
	[ "$3" = "$_started" ] && lb_side "$1" || return 0
	_link=${1%:6} _6="" _family=inet _what=$1
	[ "$_link" = "$1" ] || _6=6 _family=inet6 _what="$_link IPv6"
	if [ "$_link" = default ]; then
		_tier=$DEFAULT_TIER
	else
		lb_link "$_link" || return 0
		# shellcheck disable=SC2154 # set by lb_link
		_tier=$lb_link_tier
	fi
	[ "$(lb_health "$1")" != "$2" ] || return 0
	mkdir -p "$LB_HEALTH"
	echo "$2 $(lb_uptime) $4" >"$LB_HEALTH/$1"
	_spread=0
	lb_apply || _spread=1
	if [ "$2" = ok ]; then lb_info "$_what healthy again: $4"; else lb_log "$_what $2: $4"; fi
	if [ "$2" != ok ] && [ "$FLUSH_ON_DOWN" = 1 ]; then
		conntrack -f "ipv${_6:-4}" -D -m "$(lb_mark_of "$1")/$MARK_MASK" >/dev/null 2>&1 ||
			lb_log "$_what: could not flush its connections (conntrack)"
	fi
	if lb_candidates$_6 | awk '$5 == "ok" { ok = 1 } END { exit !(NR && !ok) }'; then
		lb_log "no link is healthy${_6:+ for IPv6}: new connections go to every link that has carrier"
	fi
	if [ -d "$LB_ETC/event.d" ]; then
		LINK=$_link FAMILY=$_family STATE=$2 REASON=$4 TIER=$_tier timeout 30 run-parts -- "$LB_ETC/event.d" >/dev/null 2>&1 ||
			lb_log "$LB_ETC/event.d: a script failed for $_what $2"
	fi
	return "$_spread"
}

# lb_track_start NAME: start NAME's tracker unless one runs (it holds LB_TRACK/NAME.lock,
# taken here and handed over on fd 7, as lb_learner_start does for the learner).
lb_track_start() {
	mkdir -p "$LB_TRACK"
	exec 7>"$LB_TRACK/$1.lock"
	if flock -n 7; then
		lb_bg "tracker-$1" "$LB_ETC/tracker" "$1" 9>&-
	fi
	exec 7>&-
}

# lb_tracked: print the sides that should have a tracker now: with PROBES, the default link
# (unless its ifdown ran, or the main table has no default route) and each listed link
# that is up; with PROBES6, the same of their IPv6 sides (NAME:6).
lb_tracked() {
	if [ -n "$PROBES" ]; then
		[ -f "$LB_DEFAULT_DOWN" ] || [ -z "$(lb_default_dev)" ] || echo default
		for _f in "$LB_UP"/*; do [ ! -f "$_f" ] || echo "${_f##*/}"; done
	fi
	[ -n "${PROBES6:-}" ] || return 0
	[ -f "$LB_DEFAULT_DOWN6" ] || [ -z "$(lb_default_dev6)" ] || echo default:6
	for _f in "$LB_UP6"/*; do [ ! -f "$_f" ] || echo "${_f##*/}:6"; done
}

# lb_track_ensure: start the tracker of every side that should have one and has none (a
# tracker that died, or ended as its address went, is restarted by the next rules command;
# trackers call this too).
lb_track_ensure() {
	[ -n "$PROBES${PROBES6:-}" ] && [ -f "$LB_RULESET" ] || return 0
	for _n in $(lb_tracked); do lb_track_start "$_n"; done
}
