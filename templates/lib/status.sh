# ---- status (templates/lib/status.sh): what linkbal holds now, for `rules status` ----

# lb_conntrack: print the connection tracking table, one connection a line ("ipv4" or
# "ipv6" first; "mark=M", "bytes=B").
lb_conntrack() {
	cat /proc/net/nf_conntrack 2>/dev/null || { conntrack -L -o extended; conntrack -f ipv6 -L -o extended; } 2>/dev/null
}

# lb_status_links [6]: per link, what status reports of its IPv4 side, or with 6 of its
# IPv6 side (the links with --gw6 only): "+FAMILY NAME STATE GATEWAY DEVICE WEIGHT MARK SUM
# TIER" (FAMILY 4 or 6; the default link first, as the main table's default route shows
# it; SUM: the weights of the sides taking new connections of that family now, 0 for one
# that takes none: down, a backup tier, unhealthy; - for none).
lb_status_links() {
	_6=${1:-}
	# shellcheck disable=SC2046
	set -- $(lb_participants "$_6")
	_sum=0
	for _p; do _sum=$((_sum + ${_p#*:})); done
	_in=" $* "
	_w=$(lb_weight "$LB_UNIT" "$DEFAULT_WEIGHT")
	# the main table's default route of the lowest metric: gateway and device
	_def=$(ip -"${_6:-4}" route show default table main 2>/dev/null | awk '{ m = 0; g = d = "-"
		for (i = 1; i < NF; i++) { if ($i == "via") g = $(i + 1); if ($i == "dev") d = $(i + 1); if ($i == "metric") m = $(i + 1) }
		if (best == "" || m + 0 < best + 0) { best = m; r = g " " d } }
		END { if (r != "") print r }')
	_upd=$LB_UP _down=$LB_DEFAULT_DOWN
	[ -z "$_6" ] || _upd=$LB_UP6 _down=$LB_DEFAULT_DOWN6
	if [ -f "$_down" ] || { [ -n "$_6" ] && [ -z "$_def" ]; }; then
		echo "+${_6:-4} default down ${_def:-- -} $_w $LB_UNIT 0 $DEFAULT_TIER"
	else
		echo "+${_6:-4} default up ${_def:-- -} $_w $LB_UNIT $(lb_status_sum "$LB_UNIT") $DEFAULT_TIER"
	fi
	lb_links | while read -r _if _gw _w _m _t _tier; do
		if [ -n "$_6" ]; then _gw=$(lb_link6 "$_if") || continue; fi
		if [ -f "$_upd/$_if" ]; then
			read -r _gw _rest <"$_upd/$_if"
			echo "+${_6:-4} $_if up $_gw $_if $(lb_weight "$_m" "$_w") $_m $(lb_status_sum "$_m") $_tier"
		else
			echo "+${_6:-4} $_if down $_gw $_if $_w $_m 0 $_tier"
		fi
	done
}

# lb_status_sum MARK: print _sum if MARK is in _in (lb_status_links' participants), else 0.
lb_status_sum() {
	case $_in in *" $1:"*) echo "$_sum" ;; *) echo 0 ;; esac
}

# LB_AWK_LINKS: awk rules reading lb_status_links (of one family or both), then "--" and
# lb_conntrack: per family F (4, 6), the n[F] sides' name[F, i] ... tier[F, i], share[F, i]
# (percent, - when none), and, of F's connections, conns[F, MARK] and bytes[F, MARK].
# shellcheck disable=SC2016 # awk, not shell
LB_AWK_LINKS='
	$1 == "--" { ct = 1; next }
	!ct && $1 ~ /^[+][46]$/ { f = substr($1, 2); i = ++n[f]; name[f, i] = $2; state[f, i] = $3; gw[f, i] = $4; dev[f, i] = $5
		w[f, i] = $6; mark[f, i] = $7; share[f, i] = ($8 > 0 && $6 > 0) ? int($6 * 100 / $8) : "-"; tier[f, i] = $9; next }
	ct { f = $1 == "ipv6" ? 6 : 4; m = ""; b = 0
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^mark=/) m = sprintf("%.0f", int(substr($i, 6) / unit) % span * unit)
			if ($i ~ /^bytes=/) b += substr($i, 7)
		}
		conns[f, m]++; bytes[f, m] += b; total[f] += b }'

# lb_status: whether the kernel holds the rules; per link, state, gateway, weight, target
# share, and the connections conntrack holds for it now with their bytes (both directions),
# with a bar of its share of the bytes; its health with PROBES. Then, with --gw6, the same
# for the IPv6 sides (of IPv6 connections; the table above counts IPv4 ones). False when
# the kernel and the state disagree.
lb_status() {
	_rules_rc=0 && _rules=$(lb_status_rules) || _rules_rc=1
	echo "linkbal: backend $BACKEND, mode $MODE, rules $_rules"
	lb_status_table
	lb_status_slots
	[ -z "$PROBES" ] || lb_status_health
	if [ -n "${LINKS6:-}" ]; then
		printf '\nIPv6\n'
		lb_status_table 6
		lb_status_slots 6
		[ -z "${PROBES6:-}" ] || lb_status_health 6
	fi
	return "$_rules_rc"
}

# lb_status_slots [6]: with --mode least, the open TCP connections the kernel counts per
# link (its slots taken), which new ones are placed by.
lb_status_slots() {
	[ "$MODE" = least ] || return 0
	_t=$(lb_slots_taken "${1:-}")
	[ -z "$_t" ] || echo "least: open TCP connections counted (slots taken, of $LB_SLOTS): $_t"
}

# lb_status_table [6]: lb_status' table of the links' IPv4 sides, or with 6 IPv6 sides.
lb_status_table() {
	{ lb_status_links "${1:-}"; echo --; lb_conntrack; } |
		awk -v unit="$LB_UNIT" -v span="$LB_SPAN" -v fam="${1:-4}" "$LB_AWK_LINKS"'
		END {
			row = "%-15s %-5s %-" (fam == 6 ? 26 : 15) "s %6s %5s %7s %12s"
			printf row "\n", "link", "state", "gateway", "weight", "share", "conns", "bytes"
			for (i = 1; i <= n[fam]; i++) {
				k = mark[fam, i]; bar = ""
				for (j = 0; total[fam] > 0 && j < 30 * bytes[fam, k] / total[fam]; j++) bar = bar "#"
				printf row " %s\n", name[fam, i], state[fam, i], i == 1 ? "main-table" : gw[fam, i], w[fam, i],
					share[fam, i] (share[fam, i] == "-" ? "" : "%"), conns[fam, k] + 0, bytes[fam, k] + 0, bar
			}
		}'
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
# tracking, probes and probes6; per link (the default link first, name "default"): name,
# and of its IPv4 side state (up or down), gateway, device, weight, share (percent of new
# connections), connections, bytes (of IPv4 connections), tier; with tracking, for a side
# that is up and tracked (else null): health (ok, dead, nocarrier), since (seconds), loss
# (percent), rtt (median ms), tracker (one runs) and reason; and ipv6: the same of its IPv6
# side, or null without --gw6. False when the kernel and the state disagree, as for
# lb_status.
lb_status_json() {
	_started=false && [ -f "$LB_RULESET" ] && _started=true
	_loaded=false && lb_loaded && _loaded=true
	{
		# "+" starts no interface name
		[ -z "$PROBES" ] || lb_status_health_rows | sed 's/^/+h /'
		[ -z "${PROBES6:-}" ] || lb_status_health_rows 6 | sed 's/^/+h /'
		lb_status_links
		[ -z "${LINKS6:-}" ] || lb_status_links 6
		echo --
		lb_conntrack
	} | awk -v unit="$LB_UNIT" -v span="$LB_SPAN" -v backend="$BACKEND" -v mode="$MODE" -v started="$_started" \
		-v loaded="$_loaded" -v probes="$PROBES" -v probes6="${PROBES6:-}" "$LB_AWK_JSON$LB_AWK_HEALTH"'
		$1 == "+h" { sub(/^[+]h /, ""); if ($1 == "now") now = $2; else { lb_health_row($0); hs[hname] = hstate
			hsi[hname] = hsince; hl[hname] = hloss; hr[hname] = hrtt; ha[hname] = halive; hre[hname] = hreason }; next }
		'"$LB_AWK_LINKS"'
		function list(s,   p, n, i, o) {
			n = split(s, p, " "); o = ""
			for (i = 1; i <= n; i++) o = o (i > 1 ? "," : "") js(p[i])
			return "[" o "]"
		}
		# the fields of side i of family f, tracked as h (a tracker NAME: wan1, wan1:6)
		function side(f, i, h,   k, t) {
			k = mark[f, i]; t = state[f, i] == "up" && (h in hs)
			printf "\"state\":%s,\"gateway\":%s,\"device\":%s,\"weight\":%s,\"share\":%s,\"connections\":%d,\"bytes\":%.0f,\"tier\":%s",
				js(state[f, i]), gw[f, i] == "-" ? "null" : js(gw[f, i]), dev[f, i] == "-" ? "null" : js(dev[f, i]),
				jn(w[f, i]), share[f, i] == "-" ? 0 : share[f, i], conns[f, k], bytes[f, k], jn(tier[f, i])
			if (probes probes6 != "")
				printf ",\"health\":%s,\"since\":%s,\"loss\":%s,\"rtt\":%s,\"tracker\":%s,\"reason\":%s",
					t ? js(hs[h]) : "null", t ? jn(hsi[h]) : "null", t ? jn(hl[h]) : "null", t ? jn(hr[h]) : "null",
					t ? (ha[h] == "yes" ? "true" : "false") : "null", t ? js(hre[h]) : "null"
		}
		END {
			printf "{\"backend\":%s,\"mode\":%s,\"started\":%s,\"loaded\":%s,\"tracking\":%s,\"probes\":%s,\"probes6\":%s,\"links\":[",
				js(backend), js(mode), started, loaded, probes probes6 == "" ? "false" : "true", list(probes), list(probes6)
			for (j = 1; j <= n[6]; j++) six[name[6, j]] = j
			for (i = 1; i <= n[4]; i++) {
				printf "%s{\"name\":%s,", (i > 1 ? "," : ""), js(name[4, i])
				side(4, i, name[4, i])
				printf ",\"ipv6\":"
				if (name[4, i] in six) { printf "{"; side(6, six[name[4, i]], name[4, i] ":6"); printf "}" } else printf "null"
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

# lb_status_health_rows [6]: "now UPTIME", then per side in balance (of IPv4, or IPv6 with
# 6) "NAME TIER ALIVE PROBES LOST RTT... | STATE SINCE REASON": its tracker's finding
# (NAME: wan1, default; wan1:6, default:6; ALIVE yes: a tracker runs).
lb_status_health_rows() {
	_6=${1:+:6}
	{
		echo "now $(lb_uptime)"
		! lb_side "default$_6" || echo "default$_6 $DEFAULT_TIER"
		lb_links | while read -r _if _gw _w _m _t _tier; do ! lb_side "$_if$_6" || echo "$_if$_6 $_tier"; done
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

# lb_status_health [6]: per side (IPv4, or IPv6 with 6), the tracker's finding, the link's
# tier, the reason of the last change and how long ago, and loss and median round trip
# over the last minute.
lb_status_health() {
	if [ -n "${1:-}" ]; then echo "health (probes: $PROBES6)"; else echo "health (probes: $PROBES)"; fi
	lb_status_health_rows "${1:-}" | awk "$LB_AWK_HEALTH"'
		$1 == "now" { now = $2; printf "%-15s %-9s %4s %8s %5s %8s  %s\n", "link", "health", "tier", "since", "loss", "rtt", "reason"; next }
		{ lb_health_row($0); sub(/:6$/, "", hname)
			printf "%-15s %-9s %4s %8s %5s %8s  %s\n", hname, hstate, htier, hsince (hsince == "-" ? "" : "s"),
				hloss (hloss == "-" ? "" : "%"), hrtt (hrtt == "-" ? "" : "ms"), (halive != "yes" ? "(no tracker running) " : "") hreason }'
}
