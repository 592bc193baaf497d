# ---- status (templates/lib/status.sh): what linkbal holds now, for `rules status` ----

# lb_conntrack: print the connection tracking table, one connection a line ("mark=M", "bytes=B").
lb_conntrack() {
	cat /proc/net/nf_conntrack 2>/dev/null || conntrack -L -o extended 2>/dev/null
}

# lb_status_links: per link, what status reports: "NAME STATE GATEWAY DEVICE WEIGHT MARK
# SUM TIER" (the default link first, as the main table's default route shows it; SUM: the
# weights of the links taking new connections now, 0 for a link that takes none: down, a
# backup tier, unhealthy; - for none).
lb_status_links() {
	# shellcheck disable=SC2046
	set -- $(lb_participants)
	_sum=0
	for _p; do _sum=$((_sum + ${_p#*:})); done
	_in=" $* "
	_w=$(lb_weight "$LB_UNIT" "$DEFAULT_WEIGHT")
	_def=$(ip -4 route show default table main 2>/dev/null | awk '{ g = d = "-"
		for (i = 1; i < NF; i++) { if ($i == "via") g = $(i + 1); if ($i == "dev") d = $(i + 1) }
		print g, d; exit }')
	if [ -f "$LB_DEFAULT_DOWN" ]; then echo "default down ${_def:-- -} $_w $LB_UNIT 0 $DEFAULT_TIER"
	else echo "default up ${_def:-- -} $_w $LB_UNIT $(lb_status_sum "$LB_UNIT") $DEFAULT_TIER"; fi
	lb_links | while read -r _if _gw _w _m _t _tier; do
		if [ -f "$LB_UP/$_if" ]; then
			read -r _gw _rest <"$LB_UP/$_if"
			echo "$_if up $_gw $_if $(lb_weight "$_m" "$_w") $_m $(lb_status_sum "$_m") $_tier"
		else
			echo "$_if down $_gw $_if $_w $_m 0 $_tier"
		fi
	done
}

# lb_status_sum MARK: print _sum if MARK is in _in (lb_status_links' participants), else 0.
lb_status_sum() {
	case $_in in *" $1:"*) echo "$_sum" ;; *) echo 0 ;; esac
}

# LB_AWK_LINKS: awk rules reading lb_status_links, then "--" and lb_conntrack: the n links'
# name[i] ... tier[i], share[i] (percent, - when none), and conns[MARK] and bytes[MARK].
# shellcheck disable=SC2016 # awk, not shell
LB_AWK_LINKS='
	$1 == "--" { ct = 1; next }
	!ct { n++; name[n] = $1; state[n] = $2; gw[n] = $3; dev[n] = $4; w[n] = $5; mark[n] = $6
		share[n] = ($7 > 0 && $5 > 0) ? int($5 * 100 / $7) : "-"; tier[n] = $8; next }
	{ m = ""; b = 0
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^mark=/) m = sprintf("%.0f", int(substr($i, 6) / unit) % span * unit)
			if ($i ~ /^bytes=/) b += substr($i, 7)
		}
		conns[m]++; bytes[m] += b; total += b }'

# lb_status: whether the kernel holds the rules; per link, state, gateway, weight, target
# share, and the connections conntrack holds for it now with their bytes (both directions),
# with a bar of its share of the bytes. False when the kernel and the state disagree.
lb_status() {
	_rules_rc=0 && _rules=$(lb_status_rules) || _rules_rc=1
	echo "linkbal: backend $BACKEND, mode $MODE, rules $_rules"
	{ lb_status_links; echo --; lb_conntrack; } |
		awk -v unit="$LB_UNIT" -v span="$LB_SPAN" "$LB_AWK_LINKS"'
		END {
			printf "%-15s %-5s %-15s %6s %5s %7s %12s\n", "link", "state", "gateway", "weight", "share", "conns", "bytes"
			for (i = 1; i <= n; i++) {
				k = mark[i]; bar = ""
				for (j = 0; total > 0 && j < 30 * bytes[k] / total; j++) bar = bar "#"
				printf "%-15s %-5s %-15s %6s %5s %7d %12d %s\n", name[i], state[i], i == 1 ? "main-table" : gw[i], w[i],
					share[i] (share[i] == "-" ? "" : "%"), conns[k], bytes[k], bar
			}
		}'
	[ -n "$PROBES" ] && lb_status_health
	[ -z "${LINKS6:-}" ] || lb_status6
	return "$_rules_rc"
}

# lb_status6: with --gw6, the IPv6 sides: state, gateway, weight and share of new IPv6
# connections now (the connections and bytes above count both families).
lb_status6() {
	# shellcheck disable=SC2046
	set -- $(lb_participants 6)
	_sum=0
	for _p; do _sum=$((_sum + ${_p#*:})); done
	_in=" $* "
	{
		if [ -f "$LB_DEFAULT_DOWN6" ] || [ -z "$(lb_default_dev6)" ]; then _st=down; else _st=up; fi
		echo "default $_st main-table $(lb_weight "$LB_UNIT" "$DEFAULT_WEIGHT") $(lb_status_sum "$LB_UNIT")"
		lb_links | while read -r _if _gw _w _m _rest; do
			_gw6=$(lb_link6 "$_if") || continue
			if [ -f "$LB_UP6/$_if" ]; then
				read -r _gw6 _rest <"$LB_UP6/$_if"
				echo "$_if up $_gw6 $(lb_weight "$_m" "$_w") $(lb_status_sum "$_m")"
			else
				echo "$_if down $_gw6 $_w 0"
			fi
		done
	} | awk '
		NR == 1 { printf "\nIPv6\n%-15s %-5s %-26s %6s %5s\n", "link", "state", "gateway", "weight", "share" }
		{ printf "%-15s %-5s %-26s %6s %5s\n", $1, $2, $3, $4, ($5 > 0 && $4 > 0) ? int($4 * 100 / $5) "%" : "-" }'
}

# LB_AWK_JSON: awk's js(S): S as a JSON string, quoted and escaped.
# shellcheck disable=SC2016 # awk, not shell
LB_AWK_JSON='
	function js(s,   o, i, c) {
		if (!jsinit) { for (i = 1; i < 32; i++) jsctl[sprintf("%c", i)] = sprintf("\\u%04x", i); jsinit = 1 }
		o = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\" || c == "\"") o = o "\\" c; else if (c in jsctl) o = o jsctl[c]; else o = o c
		}
		return "\"" o "\""
	}
	function jn(v) { return v == "-" || v == "" ? "null" : v }'

# lb_status_json: `rules status --json`, for monitoring: one JSON object with backend,
# mode, started (linkbal holds it started) and loaded (the kernel holds its ruleset),
# tracking and probes; per link (the default link first, name "default"): name, state (up
# or down), gateway, device, weight, share (percent of new connections), connections,
# bytes, tier; with PROBES, for a link that is up (else null): health (ok, dead,
# nocarrier), since (seconds), loss (percent), rtt (median ms), tracker (one runs) and
# reason. False when the kernel and the state disagree, as for lb_status.
lb_status_json() {
	_started=false && [ -f "$LB_RULESET" ] && _started=true
	_loaded=false && lb_loaded && _loaded=true
	{
		# "+" starts no interface name
		[ -z "$PROBES" ] || lb_status_health_rows | sed 's/^/+h /'
		lb_status_links
		echo --
		lb_conntrack
	} | awk -v unit="$LB_UNIT" -v span="$LB_SPAN" -v backend="$BACKEND" -v mode="$MODE" \
		-v started="$_started" -v loaded="$_loaded" -v probes="$PROBES" "$LB_AWK_JSON$LB_AWK_HEALTH"'
		$1 == "+h" { sub(/^[+]h /, ""); if ($1 == "now") now = $2; else { lb_health_row($0); hs[hname] = hstate
			hsi[hname] = hsince; hl[hname] = hloss; hr[hname] = hrtt; ha[hname] = halive; hre[hname] = hreason }; next }
		'"$LB_AWK_LINKS"'
		END {
			printf "{\"backend\":%s,\"mode\":%s,\"started\":%s,\"loaded\":%s,\"tracking\":%s,\"probes\":[",
				js(backend), js(mode), started, loaded, probes == "" ? "false" : "true"
			np = split(probes, p, " ")
			for (i = 1; i <= np; i++) printf "%s%s", (i > 1 ? "," : ""), js(p[i])
			printf "],\"links\":["
			for (i = 1; i <= n; i++) {
				k = mark[i]; h = name[i]; t = state[i] == "up" && (h in hs)
				printf "%s{\"name\":%s,\"state\":%s,\"gateway\":%s,\"device\":%s,\"weight\":%s,\"share\":%s,\"connections\":%d,\"bytes\":%.0f,\"tier\":%s",
					(i > 1 ? "," : ""), js(name[i]), js(state[i]), gw[i] == "-" ? "null" : js(gw[i]), dev[i] == "-" ? "null" : js(dev[i]),
					jn(w[i]), share[i] == "-" ? 0 : share[i], conns[k], bytes[k], jn(tier[i])
				if (probes != "")
					printf ",\"health\":%s,\"since\":%s,\"loss\":%s,\"rtt\":%s,\"tracker\":%s,\"reason\":%s",
						t ? js(hs[h]) : "null", t ? jn(hsi[h]) : "null", t ? jn(hl[h]) : "null", t ? jn(hr[h]) : "null",
						t ? (ha[h] == "yes" ? "true" : "false") : "null", t ? js(hre[h]) : "null"
				printf "}"
			}
			print "]}"
		}'
	[ "$_started" = "$_loaded" ]
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

# lb_status_health_rows: "now UPTIME", then per link that is up "NAME TIER ALIVE PROBES
# LOST RTT... | STATE SINCE REASON": its tracker's finding (ALIVE yes: a tracker runs).
lb_status_health_rows() {
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
	done
}

# LB_AWK_HEALTH: awk's lb_health_row(ROW), ROW a row of lb_status_health_rows but "now":
# sets hname, htier, halive, hstate, hsince (seconds, as of the global now), hloss
# (percent), hrtt (the median, ms) and hreason; - for none.
# shellcheck disable=SC2016 # awk, not shell
LB_AWK_HEALTH='
	function lb_health_row(row,   part, f, h, r, n, i, j, x) {
		split(row, part, " [|] "); split(part[1], f, " "); split(part[2], h, " ")
		hname = f[1]; htier = f[2]; halive = f[3]; hstate = h[1]
		hloss = f[4] > 0 ? int(f[5] * 100 / f[4] + 0.5) : "-"
		n = 0; for (i = 6; i in f; i++) r[++n] = f[i]
		for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] + 0 > r[j] + 0; j--) { x = r[j]; r[j] = r[j - 1]; r[j - 1] = x }
		hrtt = n ? r[int((n + 1) / 2)] : "-"
		hsince = h[2] == "-" ? "-" : int((now - h[2]) / 100)
		hreason = ""; for (i = 3; i in h; i++) hreason = hreason (i > 3 ? " " : "") h[i]
	}'

# lb_status_health: per link, the tracker's finding, the link's tier, the reason of the
# last change and how long ago, and loss and median round trip over the last minute.
lb_status_health() {
	echo "health (probes: $PROBES)"
	lb_status_health_rows | awk "$LB_AWK_HEALTH"'
		$1 == "now" { now = $2; printf "%-15s %-9s %4s %8s %5s %8s  %s\n", "link", "health", "tier", "since", "loss", "rtt", "reason"; next }
		{ lb_health_row($0)
			printf "%-15s %-9s %4s %8s %5s %8s  %s\n", hname, hstate, htier, hsince (hsince == "-" ? "" : "s"),
				hloss (hloss == "-" ? "" : "%"), hrtt (hrtt == "-" ? "" : "ms"), (halive != "yes" ? "(no tracker running) " : "") hreason }'
}
