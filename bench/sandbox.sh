#!/bin/sh
# Sandbox benchmark (issue 13): what tern's confinement costs. tern with its
# confinement on (--sandbox kill, the default: a seccomp filter on every
# thread, Landlock) against the same binary with --sandbox off, same guest,
# same host; QEMU takes no part (the comparison is tern against itself).
#   boot     BENCH_BOOT_PAIRS pairs (default 6) of boots as in bench/boot.sh
#            (2 vCPUs, 512 MiB, quiet console): start -> "TERN-GUEST: init",
#            start -> tern's exit after the guest's poweroff. Which of on and
#            off goes first alternates from pair to pair.
#   virtio   BENCH_SESSION_PAIRS pairs (default 2) of sessions as in
#            bench/virtio.sh (bench/lib/virtio.sh: a 256 MiB disk on tmpfs, a
#            tap), in the order on, off, off, on, ...; each BENCH_RUNS rounds
#            (default 3) of 4 KiB random reads (IOPS), 1 MiB sequential reads
#            and writes (MiB/s), guest -> host TCP (MiB/s).
# Both modes run --pmu off, as the lab's scenarios do (tests/lab/guest.sh:
# the emulated host's kernel has been seen to oops with a guest PMU).
#
# Results are "BENCH: sandbox.*" lines: per measure the median of each mode,
# every run's figure, each mode's spread ((max - min) / median, the run-to-run
# noise under nested emulation), the on/off ratio, and the issue's target,
# confinement within noise and at most 2 % slower: boot ratio <= 1.02,
# throughput ratio >= 0.98 (PASS or MISS; read a MISS against the spreads). A
# missed target is reported, not a failure: the script fails only when a
# boot or a measurement did not happen, or the sandbox killed tern.
#
# Environment: as a lab scenario (tests/lab/lib.sh); run by bench/run sandbox.
# peer: none
# timeout: 3600
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/boot.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/vm.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/virtio.sh"
need_tern
need_root

BOOT_PAIRS=${BENCH_BOOT_PAIRS:-6}
SESSION_PAIRS=${BENCH_SESSION_PAIRS:-2}
# bench/lib/virtio.sh set BOOT_TIMEOUT_S for a serving boot; one to init is shorter.
SERVE_TIMEOUT_S=$BOOT_TIMEOUT_S
INIT_TIMEOUT_S=$(lab_scaled 240)
POLL_S=0.02
BOOT_CMDLINE="console=ttyS0 quiet panic=-1"

# spread N...: (max - min) / median in percent, one decimal. (The
# parentheses: a bare ">" among printf's arguments is awk's redirection.)
spread() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "%.1f", (m > 0 ? (v[NR] - v[1]) * 100 / m : 0) }'
}

# no_violation LOG: the sandbox did not report a forbidden call.
no_violation() {
	! grep "sandbox:" "$1" || run_failed "$1: the sandbox reported a forbidden call"
}

# boot_mode MODE N: one boot with --sandbox MODE (kill or off).
boot_mode() {
	BOOT_TIMEOUT_S=$INIT_TIMEOUT_S
	measure "boot-$1-$2" "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M \
		--cmdline "$BOOT_CMDLINE" --no-reboot --pmu off --sandbox "$1" || return
	no_violation "boot-$1-$2.out"
	add "boot_init_$1" "$init_ms"
	add "boot_exit_$1" "$exit_ms"
}

# session_mode MODE: one virtio session with --sandbox MODE; figures in $<MODE>_<measure>.
session_mode() {
	BOOT_TIMEOUT_S=$SERVE_TIMEOUT_S
	session "$1" "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M \
		--cmdline "$TERN_CMDLINE" --disk path=disk.img --net "tap=$TAP" --pmu off --sandbox "$1"
	[ $? != 3 ] || { run_failed "tern --sandbox $1 exited before the guest was ready"; show_logs "$1.log" "$1-stderr.log"; }
	no_violation "$1-stderr.log"
}

# compare KEY UNIT lower|higher ON_LIST OFF_LIST: the "BENCH: sandbox.KEY_*"
# lines; lower|higher: which way is better (the target's direction).
compare() {
	# shellcheck disable=SC2086 # the lists are space-separated numbers
	if ! _on=$(median $4) || ! _off=$(median $5); then
		run_failed "sandbox.$1: no figures for one of the modes"
		return
	fi
	report "sandbox.${1}_on" "$_on" "$2"
	report "sandbox.${1}_off" "$_off" "$2"
	# shellcheck disable=SC2086
	report "sandbox.${1}_on_runs" "$(echo $4 | tr ' ' ,)" "$2"
	# shellcheck disable=SC2086
	report "sandbox.${1}_off_runs" "$(echo $5 | tr ' ' ,)" "$2"
	# shellcheck disable=SC2086
	report "sandbox.${1}_on_spread" "$(spread $4)" %
	# shellcheck disable=SC2086
	report "sandbox.${1}_off_spread" "$(spread $5)" %
	_r=$(ratio "$_on" "$_off")
	report "sandbox.${1}_ratio" "$_r" x
	if [ "$3" = lower ]; then
		target "sandbox.target_$1" "$_r" "<=" 1.02 x
	else
		target "sandbox.target_$1" "$_r" ">=" 0.98 x
	fi
}

# ---------------------------------------------------------------- runs

[ -c /dev/kvm ] || fail "no /dev/kvm on this host"
echo "tern: $("$TERN" --version 2>&1 | head -n 1)"
virtio_host_setup

boot_init_kill='' boot_exit_kill='' boot_init_off='' boot_exit_off=''
i=1
while [ "$i" -le "$BOOT_PAIRS" ]; do
	if [ $((i % 2)) = 1 ]; then
		boot_mode kill "$i"
		boot_mode off "$i"
	else
		boot_mode off "$i"
		boot_mode kill "$i"
	fi
	i=$((i + 1))
done

for _m in $MEASURES; do eval "kill_$_m='' off_$_m=''"; done
i=1
while [ "$i" -le "$SESSION_PAIRS" ]; do
	if [ $((i % 2)) = 1 ]; then
		session_mode kill
		session_mode off
	else
		session_mode off
		session_mode kill
	fi
	i=$((i + 1))
done

# ---------------------------------------------------------------- results

echo
echo "sandbox benchmark: tern --sandbox kill (on) against --sandbox off; boot: $BOOT_PAIRS pairs;"
echo "virtio: $SESSION_PAIRS pairs of sessions, $RUNS rounds each (${SECS}s disk, ${NET_SECS}s net)"
report sandbox.boot_pairs "$BOOT_PAIRS" pairs
report sandbox.virtio_session_pairs "$SESSION_PAIRS" pairs
report sandbox.virtio_rounds_per_session "$RUNS" rounds
echo "targets (on/off: boot <= 1.02, throughput >= 0.98):"
compare boot_init_ms ms lower "$boot_init_kill" "$boot_init_off"
compare boot_exit_ms ms lower "$boot_exit_kill" "$boot_exit_off"
compare randread_iops iops higher "$kill_randread" "$off_randread"
compare seqread_mib_s MiB/s higher "$kill_seqread" "$off_seqread"
compare seqwrite_mib_s MiB/s higher "$kill_seqwrite" "$off_seqwrite"
compare net_tx_mib_s MiB/s higher "$kill_net" "$off_net"

[ "$failures" = 0 ] || fail "$failures boot(s), session(s) or measurement(s) failed; see the messages above"
