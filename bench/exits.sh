#!/bin/sh
# Exit-cost benchmark (issue 15): kvm-unit-tests' micro-bench under tern and
# under Debian's QEMU (both on KVM) in one lab run. micro-bench times each
# exit kind in the guest (65536 of each; timer_10ms: 256): hyp_call (an HVC
# KVM answers), mmio_read_user (an MMIO read that exits to the VMM's
# userspace), mmio_read_vgic (one KVM's vGIC answers), eoi, ipi, ipi_hw, lpi,
# timer_10ms. Only mmio_read_user reaches the VMM; the others are KVM's and
# should be within noise of each other.
#
# micro-bench reads a hard-coded address for mmio_read_user (QEMU virt's
# first virtio-mmio transport, 0x0a000008); in tern's map that is a GICv3
# redistributor (KVM's), so tern's run passes mmio-addr=0x3f000000, its PCI
# ECAM (vmm/layout.h), a 32-bit config read that tern's vCPU thread serves.
#
# Needs kvm-unit-tests' micro-bench.flat and unittests.cfg as the lab's input:
#   KUT_DIR=/path/to/built/kvm-unit-tests bench/run exits
# Three configurations: tern confined as it ships (--sandbox kill: every
# KVM_RUN passes the vCPU thread's seccomp filters), tern with --sandbox off
# (what the confinement costs on the exit path, issue 13) and QEMU; a fourth,
# kvmtool, when one is given:
#   KVMTOOL=PATH KUT_KVMTOOL_DIR=DIR KUT_DIR=... bench/run exits
# (an arm64 lkvm-static, and a kvm-unit-tests tree built --target=kvmtool;
# its mmio_read_user reads 0x1001004, the modem control register of
# kvmtool's second 8250, which kvmtool's vCPU thread serves). In the
# emulated host one run's figures can be 1.7x another's for the same KVM-only
# exit (hyp_call), so BENCH_EXIT_ROUNDS rounds (default 3) each run all three,
# the order rotating from round to round, and the figures are medians.
# Results: "BENCH: exits.<config>.<name>_ns MEDIAN ns" (config: tern,
# tern_nosandbox, qemu, kvmtool) with "..._runs" listing every run's figure,
# "BENCH: exits.ratio.<name> TERN/QEMU" and "exits.kvmtool_ratio.<name>
# TERN/KVMTOOL" (the issue's target for mmio_read_user: <= 1.0 against
# each), "BENCH: exits.sandbox_ratio.<name> ON/OFF",
# "exits.<config>.turnaround_{p10,median}_ns" (the VMM's own share of an
# exit, from one more traced run of each; see turnaround below) and
# "exits.best_ratio.<name>" / "exits.best_kvmtool_ratio.<name>" (each
# VMM's best round) and "BENCH: exits.vcpu_kvm_run_filter_ns", what the
# vCPU thread's seccomp filter adds to each KVM_RUN here.
# timeout: 5400
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
need_tern
peer_qemu_check
[ -n "${LAB_INPUT:-}" ] && [ -f "$LAB_INPUT/micro-bench.flat" ] ||
	skip "no micro-bench.flat input: run as KUT_DIR=... bench/run exits"
# BENCH_EXIT_ROUNDS=N bench/run exits: bench/run hands it in here.
[ ! -f "$LAB_INPUT/exits.env" ] || . "$LAB_INPUT/exits.env"
ROUNDS=${BENCH_EXIT_ROUNDS:-3}

# run CONFIG ROUND: micro-bench once under CONFIG; "name avg" rows appended
# to CONFIG.table.
run() {
	case $1 in
	tern) _vmm=tern _args="mmio-addr=0x3f000000" _opts="--sandbox kill" ;;
	tern_nosandbox) _vmm=tern _args="mmio-addr=0x3f000000" _opts="--sandbox off" ;;
	qemu) _vmm=qemu _args="" _opts="" ;;
	kvmtool) _vmm=kvmtool _args="mmio-addr=0x1001004" _opts="" ;;
	esac
	_dir=$LAB_INPUT
	[ "$1" != kvmtool ] || _dir=$LAB_INPUT/kvmtool
	_work=$PWD/work-$1-$2
	# 90 s (micro-bench's default timeout) x 20: the whole of it took
	# 60-100 s per run in the emulated host with nothing else running.
	KUT_VMM=$_vmm KUT_EXTRA_ARGS=$_args KUT_TERN_OPTS=$_opts KUT_WORK=$_work \
		KUT_TIMEOUT_SCALE=$(awk -v s="$LAB_SCALE" 'BEGIN { print 20 * s }') \
		KVMTOOL=$LAB_INPUT/kvmtool/lkvm sh "$LAB/kut.sh" "$_dir" micro-bench >"$1-$2.out" 2>&1
	cat "$1-$2.out"
	# "name   total.frac   avg.frac" rows after the "name total ns avg ns"
	# header; a kind the host cannot run says "skipped" and has no row.
	awk '/^name +total ns/ { on = 1; next }
		on && NF == 3 && $1 ~ /^[a-z_0-9]+$/ && $3 ~ /^[0-9.]+$/ { print $1, $3 }' \
		"$_work/micro-bench/all.log" >"$1-$2.rows"
	[ -s "$1-$2.rows" ] ||
		{ show_logs "$_work/micro-bench/all.log"; run_failed "$1: micro-bench printed no table"; }
	[ "$2" = traced ] || cat "$1-$2.rows" >>"$1.table"
}

# The VMM's own share of an exit, as the kernel sees it: on each thread,
# the time from an ioctl's return (KVM_RUN's, on a vCPU thread) to the
# thread's next ioctl, which includes the seccomp filters (the kernel runs
# them before the sys_enter tracepoint). A synthetic event carries each
# interval into a histogram in 50 ns buckets; the thread with the most of
# them is the vCPU thread that served mmio_read_user. The tracing adds the
# same few µs to every VMM's figure, so the differences are what compare;
# percentiles of ~65000 exits are not moved by a burst of the host's noise
# as a run's average is.
TURN=$TRACEFS/events/synthetic/vmm_turn
turnaround_setup() {
	tracefs_mount || return 1
	echo 'vmm_turn u64 lat' >>"$TRACEFS/synthetic_events" &&
	echo 'hist:keys=common_pid:t0=common_timestamp if id == 29' \
		>>"$TRACEFS/events/raw_syscalls/sys_exit/trigger" &&
	echo 'hist:keys=common_pid:lat=common_timestamp-$t0:onmatch(raw_syscalls.sys_exit).trace(vmm_turn,$lat) if id == 29' \
		>>"$TRACEFS/events/raw_syscalls/sys_enter/trigger" &&
	echo "$TURN_HIST" >>"$TURN/trigger"
}
TURN_HIST='hist:keys=common_pid,lat.buckets=50:sort=common_pid,lat:size=8192'

# turnaround CONFIG: one traced micro-bench run; reports the vCPU thread's
# 10th percentile and median in ns.
turnaround() {
	echo "$TURN_HIST:clear" >>"$TURN/trigger"
	run "$1" traced
	awk -F'[:,~}-]+' '/common_pid:/ { p = $2 + 0; n = $8 + 0; tot[p] += n
			k[p]++; cnt[p, k[p]] = n; low[p, k[p]] = $5 + 0 }
		END { for (p in tot) if (tot[p] > best) { best = tot[p]; bp = p }
			for (i = 1; i <= k[bp]; i++) { c += cnt[bp, i]
				if (p10 == "" && c >= best / 10) p10 = low[bp, i]
				if (p50 == "" && c >= best / 2) p50 = low[bp, i] }
			if (best) print best, p10, p50 }' "$TURN/hist" >"$1.turn"
	read -r _exits _p10 _p50 <"$1.turn" || { run_failed "$1: no traced exits"; return; }
	report "exits.$1.turnaround_p10_ns" "$_p10" ns
	report "exits.$1.turnaround_median_ns" "$_p50" "ns ($_exits intervals)"
}

CONFIGS="tern_nosandbox tern qemu"
[ ! -x "$LAB_INPUT/kvmtool/lkvm" ] || CONFIGS="$CONFIGS kvmtool"
_r=1
while [ "$_r" -le "$ROUNDS" ]; do
	# Rotate: round 1 starts with the first configuration, round 2 with the
	# second, ... so that no configuration always runs first or last.
	_order=$(echo $CONFIGS | awk -v r="$_r" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
	for _c in $_order; do run "$_c" "$_r"; done
	_r=$((_r + 1))
done

if turnaround_setup; then
	for _c in $CONFIGS; do turnaround "$_c"; done
else
	run_failed "tracefs, its synthetic events or hist triggers missing: no turnaround figures"
fi

# CONFIG.median: "name median" per exit kind, CONFIG.best: "name least";
# the runs' figures reported.
for _c in $CONFIGS; do
	for _n in $(awk '{ print $1 }' "$_c.table" | awk '!seen[$0]++'); do
		_v=$(awk -v n="$_n" '$1 == n { print $2 }' "$_c.table")
		_m=$(median $_v)
		echo "$_n $_m" >>"$_c.median"
		echo "$_v" | awk -v n="$_n" 'NR == 1 || $1 < m { m = $1 } END { print n, m }' >>"$_c.best"
		report "exits.$_c.${_n}_ns" "$_m" ns
		report "exits.$_c.${_n}_runs" "$(echo $_v | tr ' ' ,)" ns
	done
done

# ratios NAME A B UNIT [STAT]: A's median (or STAT: best) over B's, per
# exit kind both measured.
ratios() {
	while read -r _n _t; do
		_q=$(awk -v n="$_n" '$1 == n { print $2 }' "$3.${5:-median}")
		[ -n "$_q" ] || continue
		report "exits.$1.$_n" "$(ratio "$_t" "$_q")" "$4"
	done <"$2.${5:-median}"
}
ratios ratio tern qemu tern/qemu
ratios sandbox_ratio tern tern_nosandbox on/off
[ ! -f kvmtool.median ] || ratios kvmtool_ratio tern kvmtool tern/kvmtool
# The emulated host's noise only ever adds time, and a burst of it can take
# a whole round of one VMM (every kind, KVM's too): each one's best round
# compared, beside the medians the target is judged on.
ratios best_ratio tern qemu tern/qemu best
[ ! -f kvmtool.best ] || ratios best_kvmtool_ratio tern kvmtool tern/kvmtool best
_t=$(awk '$1 == "mmio_read_user" { print $2 }' tern.median)
for _p in qemu kvmtool; do
	[ -f "$_p.median" ] || continue
	_q=$(awk '$1 == "mmio_read_user" { print $2 }' "$_p.median")
	[ -z "$_t" ] || [ -z "$_q" ] || target "exits.mmio_read_user_vs_$_p" "$(ratio "$_t" "$_q")" "<=" 1.0 x
done
# What the confinement adds to each of tern's exits: the vCPU thread's
# filter on KVM_RUN, timed in this host (bench/filter_cost.c, which bench/run
# hands in).
if [ -x "$LAB_INPUT/filter-cost" ]; then
	"$LAB_INPUT/filter-cost" >filter-cost.out 2>&1 ||
		{ cat filter-cost.out; run_failed "filter-cost could not time every call"; }
	_f=$(awk '$1 == "vcpu" && $2 == "ioctl(KVM_RUN)" { print $5 }' filter-cost.out)
	[ -n "$_f" ] && report exits.vcpu_kvm_run_filter_ns "$_f" ns ||
		run_failed "filter-cost printed no vcpu KVM_RUN line"
fi
[ "$failures" = 0 ]
