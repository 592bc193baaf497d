# ---- status (templates/lib/status.sh): what linkbal holds now, for `rules status` ----

# lb_conntrack: print the connection tracking table, one connection a line ("mark=M", "bytes=B").
lb_conntrack() {
	cat /proc/net/nf_conntrack 2>/dev/null || conntrack -L -o extended 2>/dev/null
}

# lb_status: whether the kernel holds the rules; per link, state, gateway, weight, target
# share, and the connections conntrack holds for it now with their bytes (both directions),
# with a bar of its share of the bytes. False when the kernel and the state disagree.
lb_status() {
	_rules_rc=0 && _rules=$(lb_status_rules) || _rules_rc=1
	echo "linkbal: backend $BACKEND, mode $MODE, rules $_rules"
	# shellcheck disable=SC2046
	set -- $(lb_participants)
	_sum=0
	for _p; do _sum=$((_sum + ${_p#*:})); done
	{
		_w=$(lb_weight "$LB_UNIT" "$DEFAULT_WEIGHT")
		if [ -f "$LB_DEFAULT_DOWN" ]; then echo "default down main-table $_w $LB_UNIT 0"
		else echo "default up main-table $_w $LB_UNIT $_sum"; fi
		lb_links | while read -r _if _gw _w _m _rest; do
			if [ -f "$LB_UP/$_if" ]; then
				read -r _gw _rest <"$LB_UP/$_if"
				echo "$_if up $_gw $(lb_weight "$_m" "$_w") $_m $_sum"
			else
				echo "$_if down $_gw $_w $_m 0"
			fi
		done
		echo --
		lb_conntrack
	} | awk -v unit="$LB_UNIT" -v span=$((MARK_MASK / LB_UNIT + 1)) '
		$1 == "--" { ct = 1; next }
		!ct { n++; name[n] = $1; state[n] = $2; gw[n] = $3; w[n] = $4; mark[n] = $5
			share[n] = ($6 > 0 && $4 > 0) ? int($4 * 100 / $6) "%" : "-"; next }
		{ m = ""; b = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^mark=/) m = sprintf("%.0f", int(substr($i, 6) / unit) % span * unit)
				if ($i ~ /^bytes=/) b += substr($i, 7)
			}
			conns[m]++; bytes[m] += b; total += b }
		END {
			printf "%-15s %-5s %-15s %6s %5s %7s %12s\n", "link", "state", "gateway", "weight", "share", "conns", "bytes"
			for (i = 1; i <= n; i++) {
				k = mark[i]; bar = ""
				for (j = 0; total > 0 && j < 30 * bytes[k] / total; j++) bar = bar "#"
				printf "%-15s %-5s %-15s %6s %5s %7d %12d %s\n", name[i], state[i], gw[i], w[i], share[i], conns[k], bytes[k], bar
			}
		}'
	[ -n "$PROBES" ] && lb_status_health
	return "$_rules_rc"
}

# lb_status_rules: print what the kernel holds of linkbal's ruleset (lb_loaded), not what
# linkbal's state says; false when the two disagree (status then exits 1).
lb_status_rules() {
	if [ -f "$LB_RULESET" ]; then
		lb_loaded && echo loaded && return 0
		echo "missing from the kernel (removed by another program?); the guard loads them again"
	else
		lb_loaded || { echo 'not loaded'; return 0; }
		echo "not loaded by linkbal, but the kernel holds a copy (restored by another program?); rules stop removes it"
	fi
	return 1
}

# lb_status_health: per link, the tracker's finding, the link's tier, the reason of the
# last change and how long ago, and loss and median round trip over the last minute.
lb_status_health() {
	echo "health (probes: $PROBES)"
	{
		echo "now $(lb_uptime)"
		[ -f "$LB_DEFAULT_DOWN" ] || echo "default $DEFAULT_TIER"
		lb_links | while read -r _if _gw _w _m _t _tier; do [ ! -f "$LB_UP/$_if" ] || echo "$_if $_tier"; done
	} | while read -r _n _tier; do
		if [ "$_n" = now ]; then echo "now $_tier"; continue; fi
		_h='ok - tracking'
		[ -r "$LB_HEALTH/$_n" ] && read -r _h <"$LB_HEALTH/$_n"
		_s='0 0'
		[ -r "$LB_TRACK/$_n.stats" ] && read -r _s <"$LB_TRACK/$_n.stats"
		_alive=no
		flock -n "$LB_TRACK/$_n.lock" true 2>/dev/null || _alive=yes
		echo "$_n $_tier $_alive $_s | $_h"
	done | awk '
		$1 == "now" { now = $2; printf "%-15s %-9s %4s %8s %5s %8s  %s\n", "link", "health", "tier", "since", "loss", "rtt", "reason"; next }
		{ split($0, part, " [|] "); split(part[1], f, " "); split(part[2], h, " ")
			loss = f[4] > 0 ? int(f[5] * 100 / f[4] + 0.5) "%" : "-"
			n = 0; for (i = 6; i in f; i++) r[++n] = f[i]
			for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] + 0 > r[j] + 0; j--) { x = r[j]; r[j] = r[j - 1]; r[j - 1] = x }
			rtt = n ? r[int((n + 1) / 2)] "ms" : "-"
			since = h[2] == "-" ? "-" : int((now - h[2]) / 100) "s"
			reason = ""; for (i = 3; i in h; i++) reason = reason (i > 3 ? " " : "") h[i]
			if (f[3] != "yes") reason = "(no tracker running) " reason
			printf "%-15s %-9s %4s %8s %5s %8s  %s\n", f[1], h[1], f[2], since, loss, rtt, reason
			delete r }'
}
