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
need_tern

CPUS=2
MEM_MIB=${BENCH_MEM_MIB:-1024}
WSET_MIB=${BENCH_WSET_MIB:-64}
POINTS="idle:0 low:${BENCH_LOW:-2} high:${BENCH_HIGH:-8}"
CONFIGS=${BENCH_CONFIGS:-"tern-ring tern-bitmap qemu-ring qemu-bitmap"}
BOOT_TIMEOUT_S=$(lab_scaled 300)
RUN_TIMEOUT_S=$(lab_scaled 240)
MIGRATE_TIMEOUT_S=$(lab_scaled 600)
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"
CR=$(printf '\r')

# The VM being driven ("cur": console on fd 5, QMP on fd 7) and the incoming
# one ("next": fd 6 and 8). A move makes next the current one.
cur='' cur_pid='' next='' next_pid='' qmp_cats=''

# ---------------------------------------------------------------- processes

# tern_exec TRACKING NAME ARGS...
tern_exec() {
	_t=$1 _c=$2
	shift 2
	exec "$TERN" run --pmu off --cpus "$CPUS" --memory "${MEM_MIB}M" --dirty-tracking "$_t" \
		--control "$_c.sock" "$@"
}

# qemu_exec TRACKING NAME ARGS...
qemu_exec() {
	_accel=kvm _q=$2
	[ "$1" = ring ] && _accel=kvm,dirty-ring-size=4096
	shift 2
	exec "$QEMU" -L "$QEMU_DATA" -accel "$_accel" -M virt,gic-version=3 -cpu host,pmu=off \
		-smp "$CPUS" -m "$MEM_MIB" -nographic -nic none \
		-chardev "pipe,id=qmp,path=$_q-qmp" -mon chardev=qmp,mode=control "$@"
}

# spawn NAME FD CMD...: CMD with stdin NAME.in (held open on FD), console in
# NAME.log, stderr in NAME-stderr.log; for QEMU, its QMP replies in NAME-qmp.log.
# Sets spawned_pid.
spawn() {
	_n=$1 _fd=$2
	shift 2
	rm -f "$_n.in" "$_n.log" "$_n-stderr.log" "$_n-qmp.in" "$_n-qmp.out" "$_n-qmp.log"
	mkfifo "$_n.in" "$_n-qmp.in" "$_n-qmp.out" || fail "mkfifo for $_n"
	"$@" <"$_n.in" >"$_n.log" 2>"$_n-stderr.log" &
	spawned_pid=$!
	eval "exec $_fd>\"\$_n.in\""
	eval "exec $((_fd + 2))<>\"\$_n-qmp.in\""
	cat <>"$_n-qmp.out" >"$_n-qmp.log" &
	qmp_cats="$qmp_cats $!"
}

kill_vm() {
	[ -n "$1" ] || return 0
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	kill_vm "$cur_pid"
	kill_vm "$next_pid"
	for _p in $qmp_cats; do kill "$_p" 2>/dev/null; done
	exec 5>&- 6>&- 7>&- 8>&-
}

# ---------------------------------------------------------------- the guest

# scan_key FILE KEY: key_n = "KEY=value" lines in FILE, key_val the last value;
# ready_n = "TERN-GUEST: ready" lines. Builtins only.
scan_key() {
	key_n=0 key_val='' ready_n=0
	[ -e "$1" ] || return 0
	while IFS= read -r _l; do
		_l=${_l%"$CR"}
		case $_l in
		*"TERN-GUEST: ready") ready_n=$((ready_n + 1)) ;;
		"$2="*) key_n=$((key_n + 1)) key_val=${_l#*=} ;;
		esac
	done <"$1"
}

wait_ready() {
	now_ms
	_limit=$((NOW + BOOT_TIMEOUT_S * 1000))
	while :; do
		scan_key "$cur.log" /
		[ "$ready_n" -eq 0 ] || return 0
		kill -0 "$cur_pid" 2>/dev/null || { run_failed "$cur exited before its guest was ready"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no guest within ${BOOT_TIMEOUT_S}s"; return 1; }
		sleep 0.5
	done
}

# guest_get KEY CMD: runs CMD (printing KEY=value) in the current guest; sets value.
guest_get() {
	scan_key "$cur.log" "$1"
	_n0=$key_n value=''
	printf 'run %s\n' "$2" >&5
	now_ms
	_limit=$((NOW + RUN_TIMEOUT_S * 1000))
	while :; do
		sleep 0.5
		scan_key "$cur.log" "$1"
		if [ "$key_n" -gt "$_n0" ]; then
			value=$key_val
			return 0
		fi
		kill -0 "$cur_pid" 2>/dev/null || { run_failed "$cur exited while its guest ran: $2"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no $1= within ${RUN_TIMEOUT_S}s: $2"; return 1; }
	done
}

# The writer for a point: none at 0 MiB/s, else memverify at that rate, up
# (its first pass over the working set done, its pid file written) and
# dirtying for 3 s before the move starts.
start_writer() {
	guest_get WRITER "if [ -s /tmp/memverify.pid ]; then kill \$(cat /tmp/memverify.pid); rm -f /tmp/memverify.pid; sleep 1; fi; if [ $1 -gt 0 ]; then memverify run $WSET_MIB $1 >/tmp/memverify.err 2>&1 & for i in \$(seq 240); do [ -s /tmp/memverify.pid ] && break; sleep 0.5; done; sleep 3; fi; if [ $1 = 0 ] || [ -s /tmp/memverify.pid ]; then echo WRITER=$1; else cat /tmp/memverify.err; echo WRITER=none; fi" ||
		return 1
	[ "$value" = "$1" ] || { run_failed "$cur: memverify did not start: $(tail -n 3 "$cur.log" | tr -d '\r')"; return 1; }
}

check_writer() {
	[ "$1" -gt 0 ] || return 0
	guest_get VERIFY "memverify check; echo VERIFY=\$?" || return 1
	[ "$value" = 0 ] || { run_failed "$cur: memverify found a stale page after the move: $(grep -a 'memverify: ' "$cur.log" | tail -n 1)"; return 1; }
}

# ---------------------------------------------------------------- QMP

# qmp FD LOG ID COMMAND [ARGS]: one command; qmp_line = its reply.
qmp() {
	if [ -n "${5:-}" ]; then
		printf '{"execute": "%s", "arguments": %s, "id": "%s"}\n' "$4" "$5" "$3" >&"$1"
	else
		printf '{"execute": "%s", "id": "%s"}\n' "$4" "$3" >&"$1"
	fi
	now_ms
	_limit=$((NOW + $(lab_scaled 60) * 1000))
	while :; do
		qmp_line=$(grep -a "\"$3\"" "$2" 2>/dev/null | tail -n 1)
		case $qmp_line in
		*'"return"'*) return 0 ;;
		?*) run_failed "QMP $4: $qmp_line"; return 1 ;;
		esac
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "no reply to QMP $4 in $2"; return 1; }
		sleep 0.1
	done
}

qmp_setup() {
	qmp 7 "$cur-qmp.log" "caps-$cur" qmp_capabilities &&
		qmp 7 "$cur-qmp.log" "ev-$cur" migrate-set-capabilities \
			'{"capabilities": [{"capability": "events", "state": true}, {"capability": "auto-converge", "state": true}]}' &&
		qmp 7 "$cur-qmp.log" "par-$cur" migrate-set-parameters \
			'{"max-bandwidth": 107374182400, "downtime-limit": 300}'
}

# json_num JSON KEY: the first numeric "KEY": N in JSON.
json_num() { echo "$1" | sed -n "s/.*\"$2\": *\([0-9][0-9]*\).*/\1/p" | head -n 1; }

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

peer_qemu_check
echo "host: $(nproc) CPUs, $(awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo) MiB available"
trap cleanup EXIT
for c in $CONFIGS; do
	session "$c" || run_failed "$c did not complete its three moves"
	cleanup
	cur='' cur_pid='' qmp_cats=''
done

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
