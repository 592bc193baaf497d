# ---- health (templates/lib/health.sh): what the trackers found, and starting them ----
# Each balanced link, the default link included (NAME default), has a tracker,
# /etc/linkbal/tracker NAME, while it is up and PROBES is not empty. The tracker tells
# its findings with `rules health NAME STATE STARTED REASON`; STATE is ok, dead (no probe
# answered) or nocarrier. LB_HEALTH/NAME holds "STATE SINCE REASON" (SINCE: hundredths of
# a second since boot); a link without one is ok.

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

# lb_mark_of NAME: print the link mark of NAME (default: LB_UNIT); false if NAME is not a link.
lb_mark_of() {
	if [ "$1" = default ]; then echo "$LB_UNIT"; return 0; fi
	# shellcheck disable=SC2154 # set by lb_link
	lb_link "$1" && echo "$lb_link_mark"
}

# lb_health_set NAME STATE STARTED REASON: record a tracker's finding; on a change,
# re-spread (one transaction), flush the link's connections with FLUSH_ON_DOWN=1 when it
# is not ok, log it, and run the admin's /etc/linkbal/event.d/* with LINK STATE REASON
# TIER set. STARTED is the LB_STARTED the tracker began under.
lb_health_set() {
	# from a tracker of an earlier start, or for a link that went down meanwhile: that
	# tracker is about to end, nothing to record
	_started='' && read -r _started <"$LB_STARTED"
	[ "$3" = "$_started" ] || return 0
	if [ "$1" = default ]; then
		[ ! -f "$LB_DEFAULT_DOWN" ] || return 0
		_tier=$DEFAULT_TIER
	else
		lb_link "$1" && [ -f "$LB_UP/$1" ] || return 0
		# shellcheck disable=SC2154 # set by lb_link
		_tier=$lb_link_tier
	fi
	[ "$(lb_health "$1")" != "$2" ] || return 0
	mkdir -p "$LB_HEALTH"
	echo "$2 $(lb_uptime) $4" >"$LB_HEALTH/$1"
	_spread=0
	lb_apply || _spread=1
	if [ "$2" = ok ]; then lb_info "$1 healthy again: $4"; else lb_log "$1 $2: $4"; fi
	if [ "$2" != ok ] && [ "$FLUSH_ON_DOWN" = 1 ]; then
		conntrack -D -m "$(lb_mark_of "$1")/$MARK_MASK" >/dev/null 2>&1 || lb_log "$1: could not flush its connections (conntrack)"
	fi
	if lb_candidates | awk '$5 == "ok" { ok = 1 } END { exit !(NR && !ok) }'; then
		lb_log "no link is healthy: new connections go to every link that has carrier"
	fi
	if [ -d "$LB_ETC/event.d" ]; then
		LINK=$1 STATE=$2 REASON=$4 TIER=$_tier timeout 30 run-parts -- "$LB_ETC/event.d" >/dev/null 2>&1 ||
			lb_log "$LB_ETC/event.d: a script failed for $1 $2"
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

# lb_tracked: print the links that should have a tracker now: the default link (unless
# its ifdown ran, or the main table has no default route) and each listed link that is up.
lb_tracked() {
	[ -f "$LB_DEFAULT_DOWN" ] || [ -z "$(lb_default_dev)" ] || echo default
	for _f in "$LB_UP"/*; do [ ! -f "$_f" ] || echo "${_f##*/}"; done
}

# lb_track_ensure: start the tracker of every link that should have one and has none (a
# tracker that died is restarted by the next rules command; trackers call this too).
lb_track_ensure() {
	[ -n "$PROBES" ] && [ -f "$LB_RULESET" ] || return 0
	for _n in $(lb_tracked); do lb_track_start "$_n"; done
}
