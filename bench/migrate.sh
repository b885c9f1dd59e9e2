#!/bin/sh
# Live migration benchmark: tern against Debian's QEMU (both on KVM), same guest.
#
# Four configurations, each a guest of 2 vCPUs and BENCH_MEM_MIB (default 1024)
# MiB booted once and then migrated over a unix socket to a new process of the
# same VMM at three points, the destination becoming the next source:
#   idle   nothing but the serving guest runs
#   low    the memory verifier stamps BENCH_WSET_MIB (64) MiB at BENCH_LOW (2) MiB/s
#   high   the same at BENCH_HIGH (8) MiB/s
# (Rates for the emulated host, where either VMM moves a few MiB/s; on real
# hardware raise them.)
# (memverify, guest-images/tools: after each move with a writer the destination
# checks every page of the working set; a stale page fails the run.)
#   tern-ring     tern, KVM dirty rings (--dirty-tracking ring, the default)
#   tern-bitmap   tern, KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (--dirty-tracking bitmap)
#   qemu-ring     QEMU with -accel kvm,dirty-ring-size=4096
#   qemu-bitmap   QEMU with its default dirty bitmap
# Both have a downtime target of 300 ms, no bandwidth cap (QEMU's
# max-bandwidth raised from its default) and auto-converge on (tern's default,
# QEMU's auto-converge capability). Figures per point, as the source
# reports them:
#   total ms      migrate command to completion (tern: its final report;
#                 QEMU: query-migrate total-time)
#   downtime ms   guest paused on the source until the destination had it all
#                 (tern: pause to the destination's ACK; QEMU: its "downtime",
#                 stop to completion on the source)
#   pages resent  pages sent more than once (tern's report; QEMU: normal +
#                 duplicate pages - RAM pages)
# tern's report also gives the dirty-ring harvest throughput (entries/s).
# Results are "BENCH: migrate.<config>.<point>.<figure>" lines and ratios tern /
# QEMU for the same tracking kind, with the issue's target: tern's downtime
# and total time <= QEMU's at each point. A missed target is reported, not a
# failure; the script fails when a boot, a migration or a check did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU.
# timeout: 1800
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/migration.sh"
need_tern

WSET_MIB=${BENCH_WSET_MIB:-64}
POINTS="idle:0 low:${BENCH_LOW:-2} high:${BENCH_HIGH:-8}"
CONFIGS=${BENCH_CONFIGS:-"tern-ring tern-bitmap qemu-ring qemu-bitmap"}

qmp_setup() {
	qmp 7 "$cur-qmp.log" "caps-$cur" qmp_capabilities &&
		qmp 7 "$cur-qmp.log" "ev-$cur" migrate-set-capabilities \
			'{"capabilities": [{"capability": "events", "state": true}, {"capability": "auto-converge", "state": true}]}' &&
		qmp 7 "$cur-qmp.log" "par-$cur" migrate-set-parameters \
			'{"max-bandwidth": 107374182400, "downtime-limit": 300}'
}

# ---------------------------------------------------------------- one move

# move_tern CONFIG POINT URI: sets total, downtime, resent (and harvest_rate).
move_tern() {
	"$TERN" ctl "$cur.sock" migrate "uri=$3" >ctl.out 2>&1 ||
		{ run_failed "$cur: migrate refused: $(cat ctl.out)"; return 1; }
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	while kill -0 "$cur_pid" 2>/dev/null; do
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no completion in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.2
	done
	wait "$cur_pid"
	_st=$?
	_rep=$(grep -a 'migration to .* completed' "$cur-stderr.log" | tail -n 1)
	[ "$_st" = 0 ] && [ -n "$_rep" ] ||
		{ run_failed "$cur: exit status $_st, no report"; show_logs "$cur-stderr.log"; return 1; }
	echo "$cur: $_rep"
	total=$(echo "$_rep" | sed -n 's/.*total \([0-9]*\) ms.*/\1/p')
	downtime=$(echo "$_rep" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')
	resent=$(echo "$_rep" | sed -n 's/.* \([0-9]*\) pages resent.*/\1/p')
	harvest_rate=$(grep -a 'dirty log harvest' "$cur-stderr.log" | tail -n 1 |
		sed -n 's/.*harvest \([0-9]*\) entries\/s.*/\1/p')
}

move_qemu() {
	qmp 7 "$cur-qmp.log" "mig-$2" migrate "{\"uri\": \"$3\"}" || return 1
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	until grep -aq '"MIGRATION".*"completed"' "$cur-qmp.log"; do
		grep -aq '"MIGRATION".*"failed"' "$cur-qmp.log" && { run_failed "$cur: migration failed"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no completion in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.2
	done
	qmp 7 "$cur-qmp.log" "info-$2" query-migrate || return 1
	echo "$cur: $qmp_line"
	total=$(json_num "$qmp_line" total-time)
	downtime=$(json_num "$qmp_line" downtime)
	_ram=$(echo "$qmp_line" | sed -n 's/.*"ram": *{\([^}]*\)}.*/\1/p')
	# Zero pages: "duplicate", or "zero-pages" in later QEMUs.
	_zero=$(json_num "$_ram" duplicate)
	[ -n "$_zero" ] || _zero=$(json_num "$_ram" zero-pages)
	resent=$(awk -v n="$(json_num "$_ram" normal)" -v d="$_zero" \
		-v t="$(json_num "$_ram" total)" 'BEGIN { r = n + d - t / 4096; print (r < 0 ? 0 : r) }')
	harvest_rate=''
	kill_vm "$cur_pid"
}

# move CONFIG POINT RATE: migrate cur to a new process of the same VMM.
move() {
	_vmm=${1%%-*} _track=${1#*-} _n=$1-$2
	_uri="unix:$PWD/$_n.mig"
	start_writer "$3" || return 1
	case $_vmm in
	tern) spawn "$_n" 6 tern_exec "$_track" "$_n" --incoming "$_uri" ;;
	qemu) spawn "$_n" 6 qemu_exec "$_track" "$_n" -incoming "$_uri" ;;
	esac
	next=$_n next_pid=$spawned_pid
	for _ in $(seq 600); do
		[ -S "$PWD/$_n.mig" ] && break
		sleep 0.1
	done
	[ -S "$PWD/$_n.mig" ] || { run_failed "$_n never listened on $_uri"; show_logs "$_n-stderr.log"; return 1; }
	echo "== $1 $2 ($3 MiB/s): $(date)"
	"move_$_vmm" "$1" "$2" "$_uri" || return 1
	report "migrate.$1.$2.total_ms" "$total" ms
	report "migrate.$1.$2.downtime_ms" "$downtime" ms
	report "migrate.$1.$2.pages_resent" "$resent" pages
	[ -z "$harvest_rate" ] || report "migrate.$1.$2.harvest_entries_per_s" "$harvest_rate" entries/s
	eval "r_$(echo "$1_$2" | tr - _)=\"$total $downtime\""
	exec 5>&6 6>&- 7>&8 8>&-
	cur=$next cur_pid=$next_pid next='' next_pid=''
	[ "$_vmm" = tern ] || qmp_setup || return 1
	check_writer "$3"
}

# session CONFIG: boot, then the three moves.
session() {
	_vmm=${1%%-*} _track=${1#*-}
	echo "== $1 boot: $(date)"
	case $_vmm in
	tern) spawn "$1" 5 tern_exec "$_track" "$1" --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$TERN_CMDLINE" ;;
	qemu) spawn "$1" 5 qemu_exec "$_track" "$1" -kernel "$KERNEL" -initrd "$INITRD" \
		-append "$QEMU_CMDLINE" ;;
	esac
	cur=$1 cur_pid=$spawned_pid
	wait_ready || return 1
	[ "$_vmm" = tern ] || qmp_setup || return 1
	for _p in $POINTS; do
		move "$1" "${_p%%:*}" "${_p#*:}" || { show_logs "$cur.log" "$cur-stderr.log"; return 1; }
	done
}

# ---------------------------------------------------------------- runs

# shellcheck disable=SC2086 # a list of names
run_sessions $CONFIGS

# ---------------------------------------------------------------- results

report migrate.qemu_version "$qemu_v" -
report migrate.mem_mib "$MEM_MIB" MiB
echo "targets (tern <= QEMU, same tracking kind):"
for track in ring bitmap; do
	for p in $POINTS; do
		p=${p%%:*}
		eval "t=\${r_tern_${track}_$p:-} q=\${r_qemu_${track}_$p:-}"
		[ -n "$t" ] && [ -n "$q" ] || continue
		set -- $t $q
		target "migrate.$track.$p.total_ratio" "$(ratio "$1" "$3")" "<=" 1 x
		target "migrate.$track.$p.downtime_ratio" "$(ratio "$2" "$4")" "<=" 1 x
	done
done
[ "$failures" -eq 0 ] || fail "$failures step(s) failed; see the messages above"
