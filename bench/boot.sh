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
need_tern

RUNS=${BENCH_RUNS:-3}
BOOT_TIMEOUT_S=$(lab_scaled 240) # one boot of either VMM
POLL_S=0.02
# Same guest command line for both but the console: tern's UART is a 16550
# (ttyS0), QEMU virt's a PL011 (ttyAMA0). Quiet: every console byte is an exit.
TERN_CMDLINE="console=ttyS0 quiet panic=-1"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1"


# ---------------------------------------------------------------- helpers

# True once file $1 holds "TERN-GUEST: init". Builtins only, like now_ms: this
# runs every 20 ms, and a grep there (fork + exec in an emulated host) would
# take CPU time from the VMMs being measured.
seen_init() {
	[ -e "$1" ] || return 1
	_l=''
	while IFS= read -r _l; do
		case $_l in *"TERN-GUEST: init"*) return 0 ;; esac
	done <"$1"
	# The last line may still be unterminated (the UART sends byte by byte).
	case $_l in *"TERN-GUEST: init"*) return 0 ;; esac
	return 1
}

# hwm_kib = VmHWM of process $1, if it still exists (builtins only, as above).
sample_hwm() {
	while read -r _k _v _; do
		if [ "$_k" = VmHWM: ]; then
			hwm_kib=$_v
			return
		fi
	done 2>/dev/null <"/proc/$1/status"
}

# ---------------------------------------------------------------- one boot

# measure NAME CMD...: one boot of CMD (stdin /dev/null, output in NAME.out).
# Sets init_ms (empty if the guest's init never showed), exit_ms, status and
# hwm_kib (the VMM's peak RSS as /proc/PID/status last showed it).
measure() {
	_name=$1
	shift
	rm -f "$_name.out" "$_name.pid" "$_name.done"
	init_ms='' exit_ms='' status='' hwm_kib='' _pid=''

	now_ms
	_t0=$NOW _limit=$((NOW + BOOT_TIMEOUT_S * 1000))
	# A subshell waits for the VMM so that its exit time is taken at once, not
	# at our next poll; the VMM's own pid is for reading its /proc status.
	(
		"$@" </dev/null >"$_name.out" 2>&1 &
		echo $! >"$_name.pid"
		wait $!
		_st=$?
		now_ms
		echo "$_st $NOW" >"$_name.done.tmp" && mv "$_name.done.tmp" "$_name.done"
	) &
	_waiter=$!
	while [ ! -e "$_name.done" ]; do
		if [ -z "$init_ms" ] && seen_init "$_name.out"; then
			now_ms
			init_ms=$((NOW - _t0))
		fi
		[ -n "$_pid" ] || read -r _pid 2>/dev/null <"$_name.pid"
		[ -z "$_pid" ] || sample_hwm "$_pid"
		now_ms
		if [ "$NOW" -gt "$_limit" ]; then
			echo "$_name: still running after ${BOOT_TIMEOUT_S}s; killing it"
			[ -z "$_pid" ] || kill -KILL "$_pid" 2>/dev/null
			wait "$_waiter"
			break
		fi
		sleep "$POLL_S"
	done
	wait "$_waiter" 2>/dev/null
	read -r status _end 2>/dev/null <"$_name.done" || { status=none _end=$NOW; }
	exit_ms=$((_end - _t0))
	# The guest printed init and powered off within one poll: init is at most exit.
	if [ -z "$init_ms" ] && seen_init "$_name.out"; then init_ms=$exit_ms; fi
	if [ "$status" != 0 ] || [ -z "$init_ms" ]; then
		run_failed "$_name: exit status $status, guest init ${init_ms:-never seen}; last output:"
		tail -n 20 "$_name.out"
		return 1
	fi
	echo "$_name: init ${init_ms} ms, exit ${exit_ms} ms, peak RSS ${hwm_kib:-?} KiB"
}

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
i=1
while [ "$i" -le "$RUNS" ]; do
	boot_tern "$i"
	boot_qemu "$i"
	i=$((i + 1))
done

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
