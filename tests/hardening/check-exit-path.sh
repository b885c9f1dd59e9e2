#!/bin/sh
# Checks that the exit path's code is in one place in the built tern binary:
#   check-exit-path.sh TERN READELF SOURCE_ROOT
# The functions marked EXIT_PATH or EXIT_PATH_LOOP in the sources
# (vmm/exit_path.h: what a vCPU thread runs between KVM_RUN's return and the
# next KVM_RUN for an exit a device serves) must all lie within 8 KiB of
# each other: two pages, or three when the span straddles a page boundary
# (where .text.hot starts moves with the rest of the binary). Fails if the
# toolchain stops gathering .text.hot, or if the marked set grows past
# 8 KiB. A marked static function the compiler inlined everywhere has no
# symbol and is not counted; the run loop, the dispatch and the ECAM
# handler always have one.
set -eu
tern=$1 readelf=$2 root=$3
limit=8192

[ -f "$tern" ] || { echo "FAIL: no binary at $tern"; exit 1; }
names=$(cd "$root" && grep -hE '^(static )?EXIT_PATH(_LOOP)? ' vmm/*.c devices/*.c |
	sed -E 's/\(.*//; s/.*[ *]//' | sort -u)
[ -n "$names" ] || { echo "FAIL: no function in vmm/ or devices/ is marked EXIT_PATH"; exit 1; }

"$readelf" -Ws "$tern" | awk -v names="$names" -v limit="$limit" '
	function hex(s,  v, i) {
		v = 0
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
		return v
	}
	BEGIN { n = split(names, l, "\n"); for (i = 1; i <= n; i++) want[l[i]] = 1 }
	$4 == "FUNC" && ($8 in want) && !($8 in seen) {
		seen[$8] = 1; nseen++; a = hex($2); e = a + $3
		if (lo == "" || a < lo) lo = a
		if (e > hi) hi = e
	}
	END {
		for (k in want) if (!(k in seen)) missing = missing " " k
		split("vcpu_run_loop vcpu_handle_exit mmio_access ecam_read", must, " ")
		for (i in must) if (!(must[i] in seen)) { print "FAIL: " must[i] " not in the binary'"'"'s symbols"; bad = 1 }
		if (bad) exit 1
		printf "exit path: %d functions in %d bytes (%#x-%#x), on %d pages\n",
			nseen, hi - lo, lo, hi, int((hi - 1) / 4096) - int(lo / 4096) + 1
		if (missing != "") print "inlined everywhere (no symbol):" missing
		if (hi - lo > limit) { printf "FAIL: the exit path spans %d bytes, more than %d: is .text.hot gathered?\n", hi - lo, limit; exit 1 }
	}'
