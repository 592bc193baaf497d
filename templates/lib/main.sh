# ---- the dispatcher (templates/lib/main.sh): `rules COMMAND`, one change at a time ----

# lb_reload: `rules reload`, from the guard (when the kernel lacks linkbal's ruleset) and
# from the firewall's own reload (nftables.service, netfilter-persistent): while linkbal is
# started, load its ruleset again, over whatever the reload left (nothing, or an old copy
# of linkbal's that a saved firewall held); say so when it was gone. Nothing when stopped.
lb_reload() {
	[ -f "$LB_RULESET" ] || return 0
	_why=''
	lb_loaded || _why="the ruleset had been removed by another program (a firewall reload?); "
	if ! lb_apply; then
		lb_log "${_why}loading it again failed"
		return 1
	fi
	if [ -n "$_why" ]; then lb_log "${_why}loaded again"; else lb_info "ruleset loaded again (a firewall reload)"; fi
}

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
	up | down | up6 | down6) [ -n "${2:-}" ] || set -- usage ;;
	health) [ -n "${5:-}" ] || set -- usage ;;
	status) [ -z "${2:-}" ] || [ "$2" = --json ] || set -- usage ;;
	esac
	_rc=0
	case "${1:-}" in
	start) lb_start || _rc=$?; lb_start6 || _rc=$? ;;
	stop) lb_guard_stop; lb_stop6 || _rc=1; lb_stop || _rc=1; return "$_rc" ;;
	restart) lb_guard_stop; lb_stop6 || _rc=$?; lb_stop || _rc=$?; lb_start || _rc=$?; lb_start6 || _rc=$? ;;
	# it may run in a firewall service, whose end would take the programs started here
	reload) lb_reload; return ;;
	status) if [ -n "${2:-}" ]; then lb_status_json || _rc=$?; else lb_status || _rc=$?; fi ;;
	up) lb_up "$2" || _rc=$? ;;
	down) lb_down "$2" || _rc=$? ;;
	default-up) lb_default up "${2:-}" || _rc=$? ;; # IFACE: from a hook, the device not known yet
	default-down) lb_default down "${2:-}" || _rc=$? ;;
	# a link's IPv6 side, from its inet6 stanza (--gw6)
	up6) lb_up6 "$2" || _rc=$? ;;
	down6) lb_down6 "$2" || _rc=$? ;;
	default-up6) lb_default6 up || _rc=$? ;;
	default-down6) lb_default6 down || _rc=$? ;;
	health) lb_health_set "$2" "$3" "$4" "$5" || _rc=$? ;; # from a tracker: NAME STATE STARTED REASON
	ensure) ;; # from a tracker or the guard: start the programs that should run and do not
	*)
		echo "usage: $0 start|stop|restart|status [--json]|reload|up IFACE|down IFACE|default-up [IFACE]|default-down [IFACE]|up6 IFACE|down6 IFACE|default-up6|default-down6" >&2
		exit 2
		;;
	esac
	lb_track_ensure
	lb_guard_start
	return "$_rc"
}
