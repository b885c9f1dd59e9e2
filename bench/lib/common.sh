# Helpers shared by the benchmarks (bench/*.sh), sourced after tests/lab/lib.sh:
#   . "$(bench_lib)"   with   bench_lib() { echo "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"; }
# POSIX sh (busybox in the emulated host). Measuring loops use builtins only:
# a fork + exec in an emulated host takes CPU time from the VMMs measured.
#
#   now_ms                        NOW = milliseconds of uptime
#   median N...                   the median (mean of the middle two if even)
#   mib N [UNIT]                  N bytes (N UNITs: 1024 for KiB) in MiB, two decimals
#   ratio A B                     A / B, three decimals
#   report KEY VALUE UNIT         one "BENCH: " line, the lab passes it on
#   target KEY VALUE OP LIMIT U   VALUE against "OP LIMIT" (<= or >=): PASS or MISS
#   run_failed MSG                a step failed: counted in $failures, not fatal
#   add LIST VALUE                appends VALUE to the space-separated list $LIST
#   show_logs FILE...             the last 30 lines of each non-empty FILE
#   peer_qemu_check               $QEMU usable; sets QEMU_DATA, qemu_version, qemu_v
#   tracefs_mount                 the kernel's tracing at $TRACEFS, mounted if it is
#                                 not yet; fails (status 1) if it cannot be

failures=0
TRACEFS=/sys/kernel/tracing

# /proc/uptime's 10 ms resolution is far below what is measured, and
# busybox's date may be built without %N.
now_ms() {
	read -r _up _ </proc/uptime
	NOW=$((${_up%.*}${_up#*.}0)) # "123.45" -> 123450; always two decimals
}

median() {
	[ $# -gt 0 ] || return 1
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit 1
		      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mib() { awk -v n="$1" -v u="${2:-1}" 'BEGIN { printf "%.2f", n * u / 1048576 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.3f", a / b }'; }

report() { echo "BENCH: $1 $2 $3"; }

target() {
	if awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !(op == "<=" ? v <= l : v >= l) }'; then
		_verdict=PASS
	else
		_verdict=MISS
	fi
	report "$1" "$_verdict" "$2$5${3}$4$5"
	echo "  $1: $2$5 (target $3 $4$5): $_verdict"
}

run_failed() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

add() { eval "$1=\"\$$1 $2\""; }

show_logs() {
	for _f in "$@"; do
		[ -s "$_f" ] || continue
		echo "--- $_f (last 30 lines):"
		tail -n 30 "$_f" | tr -d '\r'
	done
}

peer_qemu_check() {
	[ -c /dev/kvm ] || fail "no /dev/kvm on this host"
	[ -x "${QEMU:-}" ] ||
		fail "QEMU=${QEMU:-(unset)} is not an executable qemu-system-aarch64; run bench/run (it does scripts/setup --bench)"
	QEMU_DATA=$(cd "$(dirname "$QEMU")/../share/qemu" 2>/dev/null && pwd) ||
		fail "no share/qemu next to $QEMU (firmware and option ROMs)"
	qemu_version=$("$QEMU" --version 2>&1) || fail "$QEMU does not start here: $qemu_version"
	qemu_v=$(echo "$qemu_version" | sed -n '1s/.*version \([^ ]*\).*/\1/p')
	echo "peer: $(echo "$qemu_version" | head -n 1)"
	echo "tern: $("$TERN" --version 2>&1 | head -n 1)"
}

tracefs_mount() {
	[ -d "$TRACEFS/events" ] || mount -t tracefs nodev "$TRACEFS" 2>/dev/null
}
