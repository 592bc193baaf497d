# ---- the guard (templates/lib/guard.sh): linkbal's ruleset stays in the kernel ----
# A program of its own, /etc/linkbal/guard, started by the rules script while linkbal is
# started (every rules command starts it if none runs). A firewall reload removes linkbal's
# ruleset with the rest: Debian's /etc/nftables.conf begins with "flush ruleset", and
# netfilter-persistent or a plain iptables-restore replace whole tables. So every second
# the guard asks the kernel (lb_loaded), and when the ruleset is gone it runs
# `rules reload`, which loads it again. It ends when `rules stop` ran (LB_STARTED went, or
# changed: a stop and a start). It holds a lock, LB_GUARD_LOCK; it signals nothing.
STEP=0.5		# seconds between two looks at LB_STARTED: `rules stop` waits a second at most
CHECK_EVERY=2		# steps between two looks at the kernel (1 s)
RETRY_EVERY=60		# steps before trying again after a reload failed (30 s)

# lb_guard_main: the loop, while linkbal is started; one guard at a time (it holds
# LB_GUARD_LOCK, on fd 6 from lb_guard_start).
lb_guard_main() {
	{ : >&6; } 2>/dev/null || exec 6>"$LB_GUARD_LOCK"
	flock -n 6 || exit 0
	read -r _gen <"$LB_STARTED" 2>/dev/null || exit 0
	_step=0 _next=0 _g=$_gen
	while sleep "$STEP"; do
		_g='' && read -r _g <"$LB_STARTED" 2>/dev/null
		[ "$_g" = "$_gen" ] || break
		_step=$((_step + 1))
		[ "$_step" -ge "$_next" ] || continue
		_next=$((_step + CHECK_EVERY))
		lb_follow6
		lb_loaded && continue
		# the rules script logs what it did; without the guard's lock, which is the guard's alone
		"$LB_ETC/rules" reload </dev/null >/dev/null 2>&1 6>&- || _next=$((_step + RETRY_EVERY))
	done
	# stopped and started again since this guard began: the new start's guard takes over
	exec 6>&-
	[ -z "$_g" ] || exec "$LB_ETC/rules" ensure </dev/null >/dev/null 2>&1
}
