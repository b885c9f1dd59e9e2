#!/bin/sh
# kvm-unit-tests' arm64 suite under tern (issue 15): scripts/kvm-unit-tests
# stages a built tree's arm/*.flat and unittests.cfg, plus "tests" (the names
# or groups asked for, one line) and "env" (KUT_MODE, KUT_TIMEOUT_SCALE: see
# tests/lab/kut.sh; KUT_VMMS, "tern" and the peers), and hands
# the directory in with tests/lab/run --input DIR. Each test's verdict comes
# out as a REPORT line; the scenario fails when a test failed.
# timeout: 5400
# by-name-only: needs a kvm-unit-tests build (tests/lab/run --input DIR)
. "$LAB/lib.sh"
need_tern
[ -n "${LAB_INPUT:-}" ] && [ -f "$LAB_INPUT/unittests.cfg" ] ||
	skip "no kvm-unit-tests input (scripts/kvm-unit-tests KUT_DIR stages one)"
ip link set lo up 2>/dev/null || :
KUT_MODE=migrate KUT_TIMEOUT_SCALE=$LAB_SCALE KUT_VMMS=tern
[ ! -f "$LAB_INPUT/env" ] || . "$LAB_INPUT/env"
export KUT_MODE KUT_TIMEOUT_SCALE
# Each line as it comes: straight to the emulated host's console when
# there is one (LAB_CONSOLE, from host-init: tests/lab/run shows it at once,
# and what finished is seen even if the lab is stopped), else a REPORT line.
report_line() {
	if [ -n "${LAB_CONSOLE:-}" ]; then
		echo "LAB: REPORT kvm-unit-tests $1" >"$LAB_CONSOLE"
	else
		echo "REPORT: $1"
	fi
}
rc=0
# KUT_VMMS may add qemu (scripts/kvm-unit-tests --qemu; tests/lab/run --qemu
# put QEMU here) and kvmtool (--kvmtool: LAB_INPUT/kvmtool holds an lkvm and
# a --target=kvmtool build's files): the same tests under each, their lines
# prefixed "qemu: ", "kvmtool: ".
for vmm in $KUT_VMMS; do
	prefix='' dir=$LAB_INPUT
	[ "$vmm" = tern ] || prefix="$vmm: "
	[ "$vmm" != kvmtool ] || { dir=$LAB_INPUT/kvmtool; KVMTOOL=$dir/lkvm; export KVMTOOL; }
	# shellcheck disable=SC2046 # the names are words
	{ KUT_VMM=$vmm KUT_WORK=$PWD/work-$vmm sh "$LAB/kut.sh" "$dir" \
		$(cat "$LAB_INPUT/tests" 2>/dev/null) 2>&1
		echo $? >"rc-$vmm"; } | while IFS= read -r line; do report_line "$prefix$line"; done
	# The verdict is tern's; the peers' results are for the comparison only.
	[ "$vmm" != tern ] || rc=$(cat rc-tern)
done
exit "$rc"
