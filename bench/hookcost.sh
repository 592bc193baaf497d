#!/usr/bin/env bash
# bench/hookcost.sh linkbal|howto N DIR: the cost of taking wan1 out and back in, run
# inside `test/lab/lab.sh exec LAB` with wan0..wan2 up and the method loaded.
#   linkbal: the installed ifupdown hooks, called with the environment ifupdown gives
#            them (env -i IFACE=wan1 MODE=... PHASE=...), i.e. the hook alone;
#            then whole `ifdown wan1` / `ifup wan1` (ifupdown + hooks).
#   howto:   the HOWTO's if-down.d / if-up.d actions for wan1 (bench/howto.sh down|up).
# Prints lines:
#   hook DOWN_MS UP_MS          one line per round (wall time, $EPOCHREALTIME)
#   ifupdown DOWN_MS UP_MS      one line per round (linkbal only)
#   procs down|up FORKS EXECS   processes the hook started (strace -f), programs it ran
# DIR: scratch dir for strace's output (the lab's state dir; it goes with the lab).
set -euo pipefail
kind=$1 n=$2 dir=$3
HERE=$(dirname "$(readlink -f "$0")")
ENV=(env -i LOGICAL=wan1 IFACE=wan1 ADDRFAM=inet METHOD=static VERBOSITY=0
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
case $kind in
linkbal)
	down=("${ENV[@]}" MODE=stop PHASE=pre-down /etc/network/if-down.d/linkbal)
	up=("${ENV[@]}" MODE=start PHASE=post-up /etc/network/if-up.d/linkbal)
	;;
howto)
	down=("${ENV[@]}" sh "$HERE/howto.sh" down wan1)
	up=("${ENV[@]}" sh "$HERE/howto.sh" up wan1)
	;;
*) echo "usage: $0 linkbal|howto N DIR" >&2; exit 2 ;;
esac

ms() { # T0 T1 ($EPOCHREALTIME) -> milliseconds
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) * 1000 }'
}

for ((i = 0; i < n; i++)); do
	t0=$EPOCHREALTIME
	"${down[@]}" >/dev/null
	t1=$EPOCHREALTIME
	"${up[@]}" >/dev/null
	t2=$EPOCHREALTIME
	echo "hook $(ms "$t0" "$t1") $(ms "$t1" "$t2")"
done

if [[ $kind == linkbal ]]; then
	for ((i = 0; i < n; i++)); do
		t0=$EPOCHREALTIME
		ifdown wan1 2>/dev/null
		t1=$EPOCHREALTIME
		ifup wan1 2>/dev/null
		t2=$EPOCHREALTIME
		echo "ifupdown $(ms "$t0" "$t1") $(ms "$t1" "$t2")"
	done
fi

# processes: every successful fork/vfork/clone (no threads) in the traced tree, and every
# successful execve outside the first process, until the hook exits. The programs it starts
# in the background (learner, trackers, guard) outlive it, and strace would wait for them:
# a wrapper notes when the hook ended, and strace lets go of the rest (SIGTERM, which -I 1
# leaves unblocked). The wrapper's own fork and the two programs its child runs (env, then
# the hook) are not counted.
count() { # WHAT CMD...
	local what=$1 f="$dir/strace.$1" spid i
	shift
	rm -f "$f" "$f.done"
	# shellcheck disable=SC2016 # $0 and $@ are the wrapper's
	strace -I 1 -f -q -e trace=execve,fork,vfork,clone,clone3 -o "$f" \
		sh -c '"$@"; : >"$0"' "$f.done" "$@" >/dev/null &
	spid=$!
	for ((i = 0; i < 600; i++)); do
		[[ -e $f.done ]] && break
		sleep 0.05
	done
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" || true
	awk -v what="$what" '
		NR == 1 { root = $1 }
		$1 == root && /[+][+][+] exited/ { exit }
		/(clone3?|v?fork)\(/ && /CLONE_THREAD/ { next }
		/(clone3?|v?fork)(\(| resumed>)/ && / = [1-9][0-9]*$/ { forks++ }
		/execve(\(| resumed>)/ && / = 0$/ && $1 != root { execs++ }
		END { printf "procs %s %d %d\n", what, forks - 1, execs - 2 }' "$f"
}
count down "${down[@]}"
count up "${up[@]}"
