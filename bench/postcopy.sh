#!/bin/sh
# Post-copy live migration benchmark: tern against Debian's QEMU (both on KVM),
# same guest, same host, same run.
#
# For each VMM a guest of 2 vCPUs and BENCH_MEM_MIB (default 1024) MiB boots,
# the memory verifier (memverify, guest-images/tools) stamps BENCH_WSET_MIB
# (256) MiB at BENCH_RATE (32) MiB/s, and the guest moves over a unix socket to
# a new process of the same VMM with post-copy after one pre-copy round: many
# pages of the working set are dirty again by the switch, so the writer, which
# keeps going at the destination, faults on pages still at the source.
#   tern   `migrate uri=... postcopy=true` (tern switches after round 0, the
#          round that sends every page once); its defaults otherwise (dirty
#          rings, anon memory, 64 KiB page channel buffer)
#   qemu   capability postcopy-ram on both sides, postcopy-blocktime on the
#          destination (it keeps the fault latency figures), `migrate`, then
#          `migrate-start-postcopy` as soon as query-migrate (polled every
#          0.3 s) shows every page of RAM sent once (see qemu_first_pass);
#          its defaults otherwise (dirty bitmap, no postcopy-preempt),
#          bandwidth cap raised, downtime 300 ms
# Figures (BENCH: postcopy.<vmm>.<figure>):
#   fault_p50_us / fault_p99_us   latency of a fault on a page still at the
#       source, measured by the destination VMM. tern: from its fault thread
#       reading the fault from userfaultfd to the UFFDIO_COPY that placed the
#       page, nearest-rank percentiles over every page a fault asked for.
#       QEMU: its "remote page fault latency" (query-migrate on the destination,
#       postcopy-latency-dist: counts in log2 buckets [2^k, 2^(k+1)) us, vCPU
#       and non-vCPU faults that needed a request to the source, from the fault
#       thread handling the fault to the page placed); its percentile is the
#       bucket holding the nearest rank, reported as the bucket's upper bound
#       (fault_pNN_us) and lower bound (fault_pNN_lo_us); fault_avg_us is its
#       exact mean (postcopy-latency).
#   faults          faults measured above (tern: pages fetched on demand;
#                   QEMU: the distribution's count)
#   total_ms        this script's clock, from the migrate command to the
#                   destination holding every page (tern: its "post-copy
#                   completed" line; QEMU: its MIGRATION "completed" event)
#   postcopy_ms     from the switch to the destination holding every page
#                   (tern: its report's "after switch-over"; QEMU: the source's
#                   postcopy-active event to the destination's completed one)
#   vmm_total_ms    the source's own total (tern's report; QEMU total-time)
# and the pages left behind at the switch (tern: "pages were missing"; QEMU:
# postcopy-bytes / 4096, what its source sent after the switch). The
# destination's memverify check must pass: a stale page fails the run. Ratios
# tern / QEMU for p50, p99 and total time; the issue's target, tern's p99 <=
# QEMU's, is judged against the lower bound of QEMU's p99 bucket (met only if
# tern's p99 is at or below every latency that bucket can hold). A missed
# target is reported, not a failure.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU.
# timeout: 1200
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/migration.sh"
need_tern

WSET_MIB=${BENCH_WSET_MIB:-256}
RATE=${BENCH_RATE:-32}
CONFIGS=${BENCH_CONFIGS:-"tern qemu"}
qmp_n=0

# ---------------------------------------------------------------- helpers

# wait_line FILE TEXT PID WHAT [FAILTEXT]: until a line of FILE holds TEXT
# (line = it), while PID lives and no line holds FAILTEXT. Builtins only: it
# runs while the VMMs are measured.
wait_line() {
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	while :; do
		_alive=0
		kill -0 "$3" 2>/dev/null && _alive=1
		if [ -e "$1" ]; then
			while IFS= read -r line; do
				case $line in
				*"$2"*) return 0 ;;
				*"${5:-"$2"}"*) run_failed "$4: $line"; return 1 ;;
				esac
			done <"$1"
		fi
		[ "$_alive" = 1 ] || { run_failed "$4: exited before \"$2\""; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$4: no \"$2\" in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.2
	done
}

# field TEXT SED-REGEX: the first group of the regex in TEXT.
field() { echo "$1" | sed -n "s/$2/\1/p" | head -n 1; }

# qmp_to FD LOG COMMAND [ARGS]: qmp with a fresh id.
qmp_to() {
	qmp_n=$((qmp_n + 1))
	qmp "$1" "$2" "q$qmp_n" "$3" "${4:-}"
}

# event_us LOG STATUS: the QMP timestamp (us) of the MIGRATION event STATUS.
# Shell arithmetic: the lab's busybox awk prints %d in 32 bits.
event_us() {
	set -- $(grep -a '"MIGRATION".*"'"$2"'"' "$1" | head -n 1 |
		sed -n 's/.*"seconds": *\([0-9]*\), *"microseconds": *\([0-9]*\).*/\1 \2/p')
	[ $# -eq 2 ] && echo $(($1 * 1000000 + $2))
}

# div A B: A / B rounded down, empty if A is (a figure the VMM did not give).
div() { [ -z "$1" ] || echo $(($1 / $2)); }

# dist_percentile LIST PCT: LIST is QEMU's postcopy-latency-dist ("c0, c1, ...",
# bucket k holding [2^k, 2^(k+1)) us; bucket 0 also takes 0 us). Prints
# "LO HI N": the bounds (us) of the bucket holding the nearest-rank PCT
# percentile (the smallest bucket with at least PCT% of the faults at or
# below it) and the number of faults.
dist_percentile() {
	# No "^": the lab's busybox awk has no math library.
	echo "$1" | awk -v p="$2" -F', *' '{
		for (k = 1; k <= NF; k++) { c[k - 1] = $k; n += $k }
		if (n == 0) { print "0 0 0"; exit }
		rank = int((n * p + 99) / 100)
		lo = 1
		for (k = 0; k < NF; k++) {
			sum += c[k]
			if (sum >= rank) { printf "%d %d %d\n", (k ? lo : 0), lo * 2, n; exit }
			lo *= 2
		}
	}'
}

# spawn_dest VMM NAME URI: the incoming VMM, listening on URI (fd 6, QMP fd 8).
spawn_dest() {
	case $1 in
	tern) spawn "$2" 6 tern_exec ring "$2" --incoming "$3" ;;
	qemu) spawn "$2" 6 qemu_exec bitmap "$2" -incoming defer ;;
	esac
	next=$2 next_pid=$spawned_pid
	if [ "$1" = qemu ]; then
		qmp_to 8 "$2-qmp.log" qmp_capabilities &&
			qmp_to 8 "$2-qmp.log" migrate-set-capabilities \
				'{"capabilities": [{"capability": "events", "state": true}, {"capability": "postcopy-ram", "state": true}, {"capability": "postcopy-blocktime", "state": true}]}' &&
			qmp_to 8 "$2-qmp.log" migrate-incoming "{\"uri\": \"$3\"}" || return 1
	fi
	for _ in $(seq 600); do
		[ -S "${3#unix:}" ] && return 0
		sleep 0.1
	done
	run_failed "$2 never listened on $3"
	show_logs "$2-stderr.log"
	return 1
}

# ---------------------------------------------------------------- one move

# move_tern URI: migrate with post-copy; sets the figures (see the header).
move_tern() {
	now_ms
	_t0=$NOW
	"$TERN" ctl "$cur.sock" migrate "uri=$1" postcopy=true >ctl.out 2>&1 ||
		{ run_failed "$cur: migrate refused: $(cat ctl.out)"; return 1; }
	wait_line "$next-stderr.log" "post-copy completed" "$next_pid" "$next" || return 1
	now_ms
	total_ms=$((NOW - _t0))
	_dst=$line
	wait_line "$cur-stderr.log" "completed: total" "$cur_pid" "$cur" || return 1
	wait "$cur_pid"
	_st=$? cur_pid=''
	[ "$_st" = 0 ] || { run_failed "$cur: exit status $_st after post-copy"; show_logs "$cur-stderr.log"; return 1; }
	echo "REPORT: tern source: $(grep -a 'post-copy: .* sent on demand' "$cur-stderr.log" | tail -n 1)"
	echo "REPORT: tern source: $line"
	echo "REPORT: tern destination: $_dst"
	vmm_total_ms=$(field "$line" '.*completed: total \([0-9]*\) ms.*')
	missing=$(field "$_dst" '.*completed: \([0-9]*\) pages were missing.*')
	faults=$(field "$_dst" '.* \([0-9]*\) fetched on demand.*')
	p50=$(field "$_dst" '.* p50 \([0-9]*\) us.*')
	p99=$(field "$_dst" '.* p99 \([0-9]*\) us.*')
	postcopy_ms=$(field "$_dst" '.* \([0-9]*\) ms after switch-over.*')
	[ -n "$p99" ] && [ -n "$faults" ] || { run_failed "$next: no fault latency in its report"; return 1; }
}

# qemu_first_pass: until the source has sent every page of RAM once (normal
# + zero pages >= RAM pages: tern's round 0), then migrate-start-postcopy.
# (The counters also count pages sent again, so this can only come early,
# never late; in the lab QEMU resent next to nothing before its first pass
# was over. dirty-sync-count does not tell: QEMU syncs a second time before
# sending anything, and then at nearly every step.)
qemu_first_pass() {
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	while :; do
		qmp_to 7 "$cur-qmp.log" query-migrate || return 1
		case $qmp_line in
		*'"status": "failed"'* | *'"status": "cancelled"'*) run_failed "$cur: migration failed: $qmp_line"; return 1 ;;
		*'"status": "completed"'*) run_failed "$cur: pre-copy converged before the switch"; return 1 ;;
		esac
		_ram=$(field "$qmp_line" '.*"ram": *{\([^}]*\)}.*')
		# Zero pages: "duplicate", or "zero-pages" in later QEMUs.
		_zero=$(json_num "$_ram" duplicate)
		[ -n "$_zero" ] || _zero=$(json_num "$_ram" zero-pages)
		_normal=$(json_num "$_ram" normal) _total=$(json_num "$_ram" total)
		[ -z "$_total" ] || [ $((${_normal:-0} + ${_zero:-0})) -lt $((_total / 4096)) ] || break
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: first pass not done in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.3
	done
	echo "REPORT: qemu source at the switch: $qmp_line"
	qmp_to 7 "$cur-qmp.log" migrate-start-postcopy
}

move_qemu() {
	now_ms
	_t0=$NOW
	qmp_to 7 "$cur-qmp.log" migrate "{\"uri\": \"$1\"}" && qemu_first_pass || return 1
	wait_line "$next-qmp.log" '"status": "completed"' "$next_pid" "$next" '"status": "failed"' || return 1
	now_ms
	total_ms=$((NOW - _t0))
	wait_line "$cur-qmp.log" '"status": "completed"' "$cur_pid" "$cur" '"status": "failed"' || return 1
	qmp_to 7 "$cur-qmp.log" query-migrate || return 1
	echo "REPORT: qemu source: $qmp_line"
	vmm_total_ms=$(json_num "$qmp_line" total-time)
	missing=$(div "$(json_num "$qmp_line" postcopy-bytes)" 4096)
	[ "${missing:-0}" -gt 0 ] ||
		{ run_failed "$cur: QEMU completed in pre-copy, nothing was sent after migrate-start-postcopy"; return 1; }
	qemu_requests=$(json_num "$qmp_line" postcopy-requests)
	_t1=$(event_us "$next-qmp.log" completed) _t2=$(event_us "$cur-qmp.log" postcopy-active)
	postcopy_ms=''
	[ -z "$_t1" ] || [ -z "$_t2" ] || postcopy_ms=$(((_t1 - _t2) / 1000))
	qmp_to 8 "$next-qmp.log" query-migrate || return 1
	echo "REPORT: qemu destination: $qmp_line"
	_dist=$(field "$qmp_line" '.*"postcopy-latency-dist": *\[\([^]]*\)\].*')
	[ -n "$_dist" ] || { run_failed "$next: no postcopy-latency-dist in query-migrate"; return 1; }
	# shellcheck disable=SC2046 # "LO HI N" twice, split on purpose
	set -- $(dist_percentile "$_dist" 50) $(dist_percentile "$_dist" 99)
	p50_lo=${1:-} p50=${2:-} p99_lo=${4:-} p99=${5:-} faults=${6:-}
	[ -n "$faults" ] || { run_failed "$next: no percentiles from postcopy-latency-dist: $_dist"; return 1; }
	avg_us=$(div "$(json_num "$qmp_line" postcopy-latency)" 1000)
	blocktime_ms=$(json_num "$qmp_line" postcopy-blocktime)
	kill_vm "$cur_pid"
	cur_pid=''
}

# move VMM: start the writer, the destination, migrate, check the guest there.
move() {
	_n=$1-dest
	start_writer "$RATE" || return 1
	spawn_dest "$1" "$_n" "unix:$PWD/$_n.mig" || return 1
	echo "== $1 post-copy ($WSET_MIB MiB at $RATE MiB/s): $(date)"
	"move_$1" "unix:$PWD/$_n.mig" || return 1
	exec 5>&6 6>&- 7>&8 8>&-
	cur=$next cur_pid=$next_pid next='' next_pid=''
	check_writer "$RATE" || return 1
	echo "REPORT: $1 destination guest: $(grep -a 'memverify: ' "$cur.log" | tail -n 1 | tr -d '\r')"
	report "postcopy.$1.fault_p50_us" "$p50" us
	report "postcopy.$1.fault_p99_us" "$p99" us
	report "postcopy.$1.faults" "$faults" faults
	report "postcopy.$1.pages_missing" "$missing" pages
	report "postcopy.$1.total_ms" "$total_ms" ms
	report "postcopy.$1.postcopy_ms" "$postcopy_ms" ms
	report "postcopy.$1.vmm_total_ms" "$vmm_total_ms" ms
	if [ "$1" = qemu ]; then
		report postcopy.qemu.fault_p50_lo_us "$p50_lo" us
		report postcopy.qemu.fault_p99_lo_us "$p99_lo" us
		report postcopy.qemu.fault_avg_us "$avg_us" us
		report postcopy.qemu.blocktime_ms "$blocktime_ms" ms
		report postcopy.qemu.postcopy_requests "$qemu_requests" requests
		report postcopy.qemu.latency_dist_log2_us "$(echo "$_dist" | tr -d ' ')" counts
		q_p50=$p50 q_p99=$p99 q_p99_lo=$p99_lo q_total=$total_ms
	else
		t_p50=$p50 t_p99=$p99 t_total=$total_ms
	fi
}

# session VMM: boot, then the move.
session() {
	echo "== $1 boot: $(date)"
	case $1 in
	tern) spawn "$1" 5 tern_exec ring "$1" --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$TERN_CMDLINE" ;;
	qemu) spawn "$1" 5 qemu_exec bitmap "$1" -kernel "$KERNEL" -initrd "$INITRD" \
		-append "$QEMU_CMDLINE" ;;
	esac
	cur=$1 cur_pid=$spawned_pid
	wait_ready || return 1
	if [ "$1" = qemu ]; then
		qmp_to 7 "$cur-qmp.log" qmp_capabilities &&
			qmp_to 7 "$cur-qmp.log" migrate-set-capabilities \
				'{"capabilities": [{"capability": "events", "state": true}, {"capability": "postcopy-ram", "state": true}]}' &&
			qmp_to 7 "$cur-qmp.log" migrate-set-parameters \
				'{"max-bandwidth": 107374182400, "downtime-limit": 300}' || return 1
	fi
	move "$1" || { show_logs "$cur.log" "$cur-stderr.log" "$next-stderr.log"; return 1; }
}

# ---------------------------------------------------------------- runs

# shellcheck disable=SC2086 # a list of names
run_sessions $CONFIGS

# ---------------------------------------------------------------- results

report postcopy.qemu_version "$qemu_v" -
report postcopy.mem_mib "$MEM_MIB" MiB
report postcopy.wset_mib "$WSET_MIB" MiB
report postcopy.rate_mib_s "$RATE" MiB/s
if [ -n "${t_p99:-}" ] && [ -n "${q_p99:-}" ]; then
	report postcopy.p50_ratio "$(ratio "$t_p50" "$q_p50")" x
	report postcopy.p99_ratio "$(ratio "$t_p99" "$q_p99")" x
	report postcopy.total_ratio "$(ratio "$t_total" "$q_total")" x
	echo "target (tern p99 <= the lower bound of QEMU's p99 bucket):"
	target postcopy.p99_target "$t_p99" "<=" "$q_p99_lo" us
fi
[ "$failures" -eq 0 ] || fail "$failures step(s) failed; see the messages above"
