# ---- the dispatcher (templates/lib/main.sh): `rules COMMAND`, one change at a time ----

# lb_main COMMAND [IFACE]: run COMMAND holding LB_LOCK (a minute at most to get it).
lb_main() {
	umask 022
	mkdir -p "$LB_UP" || exit 1
	exec 9>"$LB_LOCK"
	if ! flock -w 60 9; then
		lb_log "another linkbal run held $LB_LOCK for 60 s; nothing changed"
		exit 1
	fi
	case "${1:-}" in
	up | down) [ -n "${2:-}" ] || set -- usage ;;
	health) [ -n "${5:-}" ] || set -- usage ;;
	esac
	_rc=0
	case "${1:-}" in
	start) lb_start || _rc=$? ;;
	stop) lb_stop; return ;;
	restart) lb_stop; lb_start || _rc=$? ;;
	status) lb_status || _rc=$? ;;
	up) lb_up "$2" || _rc=$? ;;
	down) lb_down "$2" || _rc=$? ;;
	default-up) lb_default up || _rc=$? ;;
	default-down) lb_default down || _rc=$? ;;
	health) lb_health_set "$2" "$3" "$4" "$5" || _rc=$? ;; # from a tracker: NAME STATE STARTED REASON
	ensure) ;; # from a tracker: start the trackers that should run and do not
	*)
		echo "usage: $0 start|stop|restart|status|up IFACE|down IFACE|default-up|default-down" >&2
		exit 2
		;;
	esac
	lb_track_ensure
	return "$_rc"
}
