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
