#!/bin/sh
# Boot benchmark: tern against Debian's QEMU (both on KVM) booting the same guest.
#
# In one run each VMM boots $KERNEL + $INITRD with 2 vCPUs and 512 MiB, BENCH_RUNS
# times (default 3), alternating tern and QEMU so that any drift in the host's
# speed hits both alike. The test guest prints "TERN-GUEST: init" from its init
# and then powers off by itself. Per boot, measured from just before the VMM is
# started:
#   init   until "TERN-GUEST: init" shows in its output (polled every ~20 ms)
#   exit   until the VMM exits
# tern also runs with --trace, which gives its start-to-first-KVM_RUN time and
# its memory use at exit. Results are "BENCH: <key> <value> <unit>" lines (medians
# over the runs), which tests/lab/run --bench passes on and bench/run tabulates,
# with the issue's targets: boot to init <= 0.5x QEMU's, tern's own RSS <= 5 MiB,
# static binary <= 1.5 MiB. A missed target is reported, not a failure: the
# script fails only when a boot or a measurement did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU, the path of
# qemu-system-aarch64.
# timeout: 900
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/boot.sh"
need_tern

RUNS=${BENCH_RUNS:-3}
BOOT_TIMEOUT_S=$(lab_scaled 240) # one boot of either VMM
POLL_S=0.02
# Same guest command line for both but the console: tern's UART is a 16550
# (ttyS0), QEMU virt's a PL011 (ttyAMA0). Quiet: every console byte is an exit.
TERN_CMDLINE="console=ttyS0 quiet panic=-1"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1"

# ---------------------------------------------------------------- one boot: bench/lib/boot.sh

boot_tern() {
	measure "tern-$1" "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M \
		--cmdline "$TERN_CMDLINE" --no-reboot --trace || return
	tern_init="$tern_init $init_ms" tern_exit="$tern_exit $exit_ms"
	# --trace lines: "tern: trace   560.662 ms vcpu 0: first KVM_RUN" (ms since
	# tern's main) and, at exit, "... memory: peak RSS X KiB, RSS Y KiB, guest RAM
	# resident Z KiB, tern's own peak ~W KiB".
	_v=$(sed -n 's/^tern: trace *\([0-9.]*\) ms vcpu 0: first KVM_RUN.*/\1/p' "tern-$1.out" | head -n 1)
	if [ -n "$_v" ]; then
		tern_first_run="$tern_first_run $_v"
	else
		run_failed "tern-$1: no 'vcpu 0: first KVM_RUN' trace line"
	fi
	_v=$(sed -n 's/.*memory: peak RSS \([0-9]*\) KiB, RSS [0-9]* KiB, guest RAM resident \([0-9]*\) KiB, tern.s own peak ~\([0-9]*\) KiB.*/\1 \2 \3/p' "tern-$1.out")
	if [ -n "$_v" ]; then
		# shellcheck disable=SC2086 # three numbers, split on purpose
		set -- $_v
		tern_peak="$tern_peak $1" tern_guest="$tern_guest $2" tern_own="$tern_own $3"
	else
		run_failed "tern-$1: no 'memory: peak RSS' trace line at exit"
	fi
}

boot_qemu() {
	measure "qemu-$1" "$QEMU" -L "$QEMU_DATA" -accel kvm -M virt,gic-version=3 -cpu host \
		-smp 2 -m 512 -nographic -no-reboot \
		-kernel "$KERNEL" -initrd "$INITRD" -append "$QEMU_CMDLINE" || return
	qemu_init="$qemu_init $init_ms" qemu_exit="$qemu_exit $exit_ms"
	[ -z "$hwm_kib" ] || qemu_peak="$qemu_peak $hwm_kib"
}

# ---------------------------------------------------------------- checks

peer_qemu_check

# ---------------------------------------------------------------- runs

tern_init='' tern_exit='' tern_first_run='' tern_peak='' tern_guest='' tern_own=''
qemu_init='' qemu_exit='' qemu_peak=''
alternate_boots "$RUNS"

# ---------------------------------------------------------------- results

echo
echo "boot benchmark, medians of $RUNS runs (2 vCPUs, 512 MiB):"
report boot.runs "$RUNS" runs
report boot.qemu_version "$qemu_v" -
# shellcheck disable=SC2086 # the lists are space-separated numbers
{
	ti=$(median $tern_init) && report boot.tern_init_ms "$ti" ms
	qi=$(median $qemu_init) && report boot.qemu_init_ms "$qi" ms
	te=$(median $tern_exit) && report boot.tern_exit_ms "$te" ms
	qe=$(median $qemu_exit) && report boot.qemu_exit_ms "$qe" ms
	fr=$(median $tern_first_run) && report boot.tern_first_kvm_run_ms "$fr" ms
	own=$(median $tern_own) && report boot.tern_own_peak_rss_mib "$(mib "$own" 1024)" MiB
	pk=$(median $tern_peak) && report boot.tern_peak_rss_mib "$(mib "$pk" 1024)" MiB
	gr=$(median $tern_guest) && report boot.tern_guest_ram_resident_mib "$(mib "$gr" 1024)" MiB
	qp=$(median $qemu_peak) && report boot.qemu_peak_rss_mib "$(mib "$qp" 1024)" MiB
}
size=$(wc -c <"$TERN")
report boot.tern_binary_bytes "$size" bytes
report boot.tern_binary_mib "$(mib "$size")" MiB
# No strip in the host (busybox has none): bench/run reports the stripped size.

echo "targets:"
if [ -n "$ti" ] && [ -n "$qi" ]; then
	ratio=$(awk -v t="$ti" -v q="$qi" 'BEGIN { printf "%.3f", t / q }')
	report boot.init_ratio "$ratio" x
	[ -z "$te" ] || [ -z "$qe" ] ||
		report boot.exit_ratio "$(awk -v t="$te" -v q="$qe" 'BEGIN { printf "%.2f", t / q }')" x
	target boot.target_init_ratio "$ratio" "<=" 0.5 x
fi
[ -z "$own" ] || target boot.target_own_rss "$(mib "$own" 1024)" "<=" 5 MiB
target boot.target_binary "$(mib "$size")" "<=" 1.5 MiB

if [ "$failures" -gt 0 ] || [ -z "$ti" ] || [ -z "$qi" ]; then
	fail "$failures boot(s) or measurement(s) failed; see the messages above"
fi
