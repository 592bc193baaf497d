# ---- state (templates/lib/state.sh): every path linkbal keeps, its log, its lock ----
# shellcheck disable=SC2034 # the paths are for the other parts of the runtime
# Everything linkbal knows at run time lives under /run/linkbal (gone at reboot, as the
# kernel state it describes is). The only place that names these paths.
LB_ETC=/etc/linkbal
RUN=/run/linkbal
LB_LOCK=$RUN/lock                 # flock: one change at a time (hooks run in parallel)
LB_UP=$RUN/up                     # up/IFACE: "GATEWAY MARK TABLE MARK_MASK PREF" of a listed
                                  # link in balance: what was added, with which settings
LB_UP_NEW=$RUN/up.new             # the next up/IFACE, renamed into place whole
LB_UP6=$RUN/up6                   # up6/IFACE: the same for a link's IPv6 side (GATEWAY6 ...)
LB_WANT6=$RUN/want6               # want6/IFACE: its inet6 stanza is up (an auto link's router
                                  # is followed while it is)
LB_DEFAULT_DOWN6=$RUN/default-down6 # exists while the default link's inet6 ifdown holds it out
LB_DEFAULT_DEV=$RUN/default-dev   # the default link's device, as last seen (for the hooks)
LB_DHCP=$RUN/dhcp                 # dhcp/IFACE: the router of IFACE's lease, from the dhclient
                                  # enter hook (etc/dhcp/dhclient-enter-hooks.d/linkbal)
LB_DEFAULT_DOWN=$RUN/default-down # exists while the default link's ifdown holds it out
LB_SYSCTL=$RUN/sysctl             # "KEY VALUE": the first value of each sysctl linkbal set
LB_RULESET=$RUN/ruleset           # the ruleset loaded last: exists while linkbal is started
LB_RULESET_NEW=$RUN/ruleset.new   # the ruleset being loaded
LB_INPUTS=$RUN/inputs             # what the ruleset loaded last was made of but its
                                  # choosers (lb_inputs): the same, only those are loaded
LB_STARTED=$RUN/started           # when the first ruleset after a stop was loaded: the
                                  # trackers of an earlier start see it change, and end
# shellcheck disable=SC2034 # used by the iptables backend only
LB_UNLOAD=$RUN/unload             # iptables: the batch that takes linkbal's chains out
LB_LEARN=$RUN/learn               # learner: learn/MARK "TIME RX_BYTES ESTIMATE", learn/weights
LB_LEARNER_LOCK=$RUN/learner.lock # held by the running learner: its liveness, not a pid
LB_GUARD_LOCK=$RUN/guard.lock     # held by the running guard, likewise
LB_HEALTH=$RUN/health             # health/NAME: "STATE SINCE REASON" from NAME's tracker
LB_TRACK=$RUN/track               # track/NAME.lock held by NAME's tracker; track/NAME.stats
                                  # "PROBES LOST RTT..." over the last minute, for status

# lb_info MESSAGE: to syslog only. lb_log MESSAGE, for trouble: syslog and stderr (ifup shows it).
lb_info() {
	logger -t linkbal -- "$*" 2>/dev/null
}
lb_log() {
	lb_info "$*"
	echo "linkbal: $*" >&2
}

# lb_sysctl KEY VALUE: set a sysctl under /proc/sys, remembering its first value for `stop`.
lb_sysctl() {
	_f=/proc/sys/$1
	[ -w "$_f" ] || return 0
	grep -q "^$1 " "$LB_SYSCTL" 2>/dev/null || echo "$1 $(cat "$_f")" >>"$LB_SYSCTL"
	echo "$2" >"$_f"
}

# lb_sysctl_restore: put back every sysctl lb_sysctl changed.
lb_sysctl_restore() {
	[ -f "$LB_SYSCTL" ] || return 0
	while read -r _key _val; do
		[ -w "/proc/sys/$_key" ] && echo "$_val" >"/proc/sys/$_key"
	done <"$LB_SYSCTL"
	rm -f "$LB_SYSCTL"
}

# lb_bg NAME PROGRAM [ARG]: start PROGRAM in the background, in a session of its own, with
# the open files it is handed (its lock) and nothing on stdin, stdout or stderr. On a
# systemd system also in a scope unit of its own, linkbal-NAME-PID.scope: started from
# ifup@IFACE.service (allow-hotplug) or networking.service, it would live in that unit's
# cgroup, and die when the unit stops (ifdown IFACE, the device unplugged).
lb_bg() {
	_bg=linkbal-$1-$$
	shift
	if [ -d /run/systemd/system ]; then
		setsid systemd-run --scope --quiet --collect --unit="$_bg" -- "$@" </dev/null >/dev/null 2>&1 &
	else
		setsid "$@" </dev/null >/dev/null 2>&1 &
	fi
}

# lb_learner_start: start the learner (AUTO=1) unless one runs: one holds LB_LEARNER_LOCK.
# The lock is taken here and handed to the learner (fd 8), so two starts never make two
# learners; the learner leaves this run's lock (fd 9) behind.
lb_learner_start() {
	[ "$AUTO" = 1 ] || return 0
	exec 8>"$LB_LEARNER_LOCK"
	if flock -n 8; then
		lb_bg learner "$LB_ETC/learner" 9>&-
	fi
	exec 8>&-
}

# lb_guard_start: while linkbal is started, start the guard (/etc/linkbal/guard: it loads
# the ruleset again when another program removed it) unless one runs. As for the learner,
# the guard's lock is taken here and handed over (fd 6); linkbal's other locks stay here.
lb_guard_start() {
	[ -f "$LB_RULESET" ] || return 0
	exec 6>"$LB_GUARD_LOCK"
	if flock -n 6; then
		lb_bg guard "$LB_ETC/guard" 7>&- 8>&- 9>&-
	fi
	exec 6>&-
}

# lb_guard_stop: make the guard end (it sees LB_STARTED go) and wait for it, a second at most.
lb_guard_stop() {
	rm -f "$LB_STARTED"
	[ ! -f "$LB_GUARD_LOCK" ] || flock -w 1 "$LB_GUARD_LOCK" true
}
