# Live migration helpers for the migrate-* scenarios (source after guest.sh).
#
#   dest_start NAME URI MACHINE...   a "tern run --incoming URI" in the background,
#                                    console on NAME.in, output in NAME.log and
#                                    NAME-stderr.log; $dest_pid; its console FIFO
#                                    held open on fd 4
#   dest_wait_listening URI          until the destination listens on URI (its
#                                    channel options, ",tls_psk=...", ignored)
#   migrate URI [ARGS...]            "migrate" on ctl.sock (replies at once)
#   migration_status SOCK            the status reply, in status.out
#   wait_source_exit S               wait for the source to exit; sets $status
#   switch_to_dest NAME              make the destination the guest helpers' tern:
#                                    its console on fd 3, its log as tern.log, its
#                                    control socket NAME.sock (if any) as ctl.sock
#   dest_listen NAME URI MACHINE...  dest_start, then dest_wait_listening
#   source_migrated S WHAT           wait_source_exit S, expect status 0 and a
#                                    final report; the report in $report
#   wait_migration_state STATE S     poll status until the migration is in STATE,
#                                    at most S seconds (scaled); status.out printed
#   wait_mib_sent N S                poll status until the running migration has
#                                    sent N MiB; fails if it ends first or after
#                                    S seconds (scaled)
#
# The guest, wherever it runs now (WHAT: a phrase for messages, "after
# migration dst1"):
#   memverify_start MIB RATE         the memory verifier stamping MIB MiB at
#                                    RATE MiB/s, in the background
#   verifier_passes WHAT             "memverify check" passes; its line printed
#   guest_answers TAG                the guest echoes "answered-TAG"
#   msis_grow CMD S WHAT             the guest's virtio MSI count grows while it
#                                    runs CMD (which must succeed within S s)
#   $MSI_COUNT                       a guest command printing "MSI-COUNT=N", its
#                                    virtio MSIs summed over CPUs (guest_value)

dest_start() {
	dest_name=$1 _ds_uri=$2
	shift 2
	rm -f "$dest_name.in"
	mkfifo "$dest_name.in"
	"$TERN" run $TERN_LAB_OPTS --incoming "$_ds_uri" "$@" \
		<"$dest_name.in" >"$dest_name.log" 2>"$dest_name-stderr.log" &
	dest_pid=$!
	exec 4>"$dest_name.in"
}

dest_wait_listening() {
	# The URI without its channel options (",tls_psk=...").
	wait_for "$dest_name-stderr.log" "waiting for a migration on ${1%%,*}" 120
}

migrate() {
	_m_uri=$1
	shift
	"$TERN" ctl ctl.sock migrate "uri=$_m_uri" "$@" >migrate.out 2>&1 ||
		fail "migrate was not accepted: $(cat migrate.out)"
	cat migrate.out
}

migration_status() {
	"$TERN" ctl "$1" status >status.out 2>&1
}

wait_source_exit() {
	_ws_end=$(($(date +%s) + $(lab_scaled "$1")))
	while kill -0 "$tern_pid" 2>/dev/null; do
		migration_status ctl.sock && grep -o '"migration": {[^}]*}' status.out | tail -n 1
		[ "$(date +%s)" -lt "$_ws_end" ] || fail "the source did not finish migrating within $(lab_scaled "$1")s"
		sleep 1
	done
	wait "$tern_pid"
	status=$?
}

switch_to_dest() {
	exec 3>&-
	mv tern.log "tern-src-$1.log"
	mv tern-stderr.log "tern-src-$1-stderr.log"
	mv "$dest_name.log" tern.log
	mv "$dest_name-stderr.log" tern-stderr.log
	exec 3>&4 4>&-
	tern_pid=$dest_pid
	if [ -S "$1.sock" ]; then
		rm -f ctl.sock
		ln -s "$1.sock" ctl.sock
	fi
}

dest_listen() {
	_dl_uri=$2
	dest_start "$@"
	dest_wait_listening "$_dl_uri"
}

source_migrated() {
	wait_source_exit "$1"
	expect_status "$status" 0 "the source did not exit 0 after migrating ($2)"
	report=$(migration_report tern-stderr.log)
	[ -n "$report" ] || fail "no final report from the source ($2): $(tail -n 5 tern-stderr.log)"
	# Where the time went: each round as MiB/ms/pages deferred to the next
	# round/writes of average bytes/ms of the migration thread's CPU, and
	# the final stage (one REPORT line each).
	echo "REPORT: $2 rounds: $(grep -a "migration: round" tern-stderr.log | sed -n \
		's/.*round \([0-9]*\): \([0-9]*\) MiB in \([0-9]*\) ms.*(\([0-9]*\) of them deferred.*; \([0-9]*\) writes of \([0-9]*\) bytes.*, \([0-9]*\) ms of this.*/r\1 \2MiB\/\3ms\/\4def\/\5x\6B\/cpu\7ms/p' | tr '\n' ' ')"
	grep -a "migration: planning\|migration: final stage" tern-stderr.log | sed "s/^.*migration: /REPORT: $2: /"
}

# precopy_synced NAME: the pre-copy move just reported paused the guest only
# after the destination had read every round: the destination answered one
# sync ("synced"; docs/control.md) and the source logged how long it waited.
precopy_synced() {
	grep -aq "migration: final stage: destination caught up in [0-9]* ms before it;" tern-stderr.log ||
		fail "$1: the source did not wait for the destination before the pause"
	# Written just after its "running", which the source may beat to exit.
	wait_for_more "$dest_name-stderr.log" "migration received: " 0 10
	grep -aq "migration received: .* reads, 1 sync answered" "$dest_name-stderr.log" ||
		fail "$1: the destination answered no sync: $(grep -a "migration received" "$dest_name-stderr.log")"
}

wait_migration_state() {
	_wm_end=$(($(date +%s) + $(lab_scaled "$2")))
	while migration_status ctl.sock; ! grep -q "\"state\": \"$1\"" status.out; do
		[ "$(date +%s)" -lt "$_wm_end" ] || break
		sleep 0.2
	done
	cat status.out
}

wait_mib_sent() {
	_wb_end=$(($(date +%s) + $(lab_scaled "$2")))
	while :; do
		migration_status ctl.sock
		_wb_mib=$(sed -n 's/.*"mib_sent": \([0-9]*\).*/\1/p' status.out | tail -n 1)
		[ "${_wb_mib:-0}" -lt "$1" ] || break
		grep -q '"state": "active"' status.out || fail "the migration ended before it sent $1 MiB: $(cat status.out)"
		[ "$(date +%s)" -lt "$_wb_end" ] ||
			fail "the migration did not send $1 MiB within $(lab_scaled "$2")s: $(cat status.out)"
		sleep 0.1
	done
}

# The guest's virtio MSIs, summed over CPUs, as "MSI-COUNT=N".
MSI_COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'

memverify_start() {
	# "memverify check" needs the runner's pid file, written once every
	# page has its first stamp: seconds for 64 MiB in a nested guest.
	guest_run "rm -f /tmp/memverify.pid; memverify run $1 $2 >/dev/null 2>&1 &" 30
	guest_run 'i=0; while [ ! -s /tmp/memverify.pid ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ -s /tmp/memverify.pid ]' 90
	expect_status "$run_rc" 0 "memverify's runner did not start (no /tmp/memverify.pid within 60 s)"
}

verifier_passes() {
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the verifier failed $1"
	grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
}

guest_answers() {
	guest_run "echo answered-$1" 60
	guest_log | grep -q "^answered-$1" || fail "the guest does not answer ($1)"
}

msis_grow() {
	guest_run "$MSI_COUNT" 30
	_mg_m1=$(guest_value MSI-COUNT)
	guest_run_watched "$1" "$2" "$3"
	expect_status "$run_rc" 0 "'$1' failed $3"
	guest_run "$MSI_COUNT" 30
	_mg_m2=$(guest_value MSI-COUNT)
	echo "virtio MSIs $3: $_mg_m1 -> $_mg_m2"
	[ "${_mg_m2:-0}" -gt "${_mg_m1:-0}" ] || fail "virtio MSI counts did not grow $3 ($_mg_m1 -> $_mg_m2)"
}

# The source's final report line, from its stderr.
migration_report() {
	grep "migration to .* completed" "$1" | tail -n 1
}

# Two-host scenarios ("# hosts: 2"): the destination host has no source tern,
# so its "tern run --incoming" is the guest helpers' tern from the start.
#   need_two_hosts                  fail unless LAB_ROLE is source or dest (the
#                                   scenario then runs "${LAB_ROLE}_side")
#   incoming_start URI MACHINE...   "tern run --incoming URI MACHINE..." in the
#                                   background: console on fd 3, in tern.log;
#                                   stderr in tern-stderr.log; $tern_pid
#   incoming_listen URI MACHINE...  incoming_start, then wait until it listens
#   incoming_wait S                 wait at most S seconds (scaled) for the whole
#                                   VM to arrive ("migration received"); fails if
#                                   tern exits or refuses first
#   incoming_receive URI S MACHINE...  incoming_listen URI MACHINE..., then
#                                   incoming_wait S; "migration received" as a
#                                   REPORT: line
#   hosts_disk_create SEED BYTES    disk.img, BYTES long, holding blkpattern's
#                                   pattern SEED: made the same way on each host,
#                                   the read-only storage both sides share
#   hosts_disk_reads WHAT SEED BYTES  the guest reads that pattern from its
#                                   disk, and the RNG, its virtio MSIs growing
need_two_hosts() {
	case ${LAB_ROLE:-} in
	source | dest) ;;
	"") fail "no LAB_ROLE: a two-host scenario runs on the lab's two emulated hosts" ;;
	*) fail "unknown LAB_ROLE '$LAB_ROLE' (source or dest)" ;;
	esac
}

incoming_start() {
	_is_uri=$1
	shift
	rm -f console.in
	mkfifo console.in
	"$TERN" run $TERN_LAB_OPTS --incoming "$_is_uri" "$@" \
		<console.in >tern.log 2>tern-stderr.log &
	tern_pid=$!
	exec 3>console.in
}

incoming_listen() {
	incoming_start "$@"
	wait_for tern-stderr.log "waiting for a migration on ${1%%,*}" 60
}

incoming_wait() {
	_iw_end=$(($(date +%s) + $(lab_scaled "$1")))
	while ! grep -q "migration received" tern-stderr.log; do
		kill -0 "$tern_pid" 2>/dev/null ||
			fail "the destination exited before the VM arrived: $(tail -n 3 tern-stderr.log)"
		[ "$(date +%s)" -lt "$_iw_end" ] ||
			fail "no migration arrived within $(lab_scaled "$1")s: $(tail -n 3 tern-stderr.log)"
		sleep 0.5
	done
}

hosts_disk_create() {
	dd if=/dev/zero of=disk.img bs=1048576 count=$(($2 / 1048576)) 2>/dev/null || fail "cannot create disk.img"
	blkpattern write disk.img "$1" "$2" || fail "cannot write the pattern into disk.img"
	echo "$LAB_ROLE host $LAB_ADDR, peer $LAB_PEER"
}

hosts_disk_reads() {
	msis_grow "blkpattern verify /dev/vda $2 $3 && head -c 16384 /dev/hwrng | blkpattern sum -" 180 \
		"$1 (disk and RNG reads)"
}

incoming_receive() {
	_ir_s=$2
	_ir_uri=$1
	shift 2
	incoming_listen "$_ir_uri" "$@"
	incoming_wait "$_ir_s"
	echo "REPORT: $(grep "migration received" tern-stderr.log | tail -n 1)"
}

# migrate_when_listening URI S [ARGS...]: "migrate uri=URI ARGS..." on
# ctl.sock, again every 2 s while the destination (another host, booting at
# its own pace) refuses the connection, for at most S seconds (scaled). The
# connection is made on the migration's thread, after the reply: a
# destination not listening yet shows in 'status' as a failed migration that
# could not connect.
migrate_when_listening() {
	_ml_uri=$1 _ml_s=$(lab_scaled "$2")
	_ml_end=$(($(date +%s) + _ml_s))
	shift 2
	while :; do
		"$TERN" ctl ctl.sock migrate "uri=$_ml_uri" "$@" >migrate.out 2>&1 ||
			fail "migrate was not accepted: $(cat migrate.out)"
		# A connect gives up within 10 s; the first MiB means it was taken.
		_ml_t=$(($(date +%s) + 15))
		while migration_status ctl.sock && grep -q '"state": "active"' status.out &&
			! grep -q '"mib_sent": [1-9]' status.out && [ "$(date +%s)" -lt "$_ml_t" ]; do
			sleep 0.5
		done
		grep -q "cannot connect to" status.out || break
		[ "$(date +%s)" -lt "$_ml_end" ] ||
			fail "the destination never took the connection within ${_ml_s}s: $(cat status.out)"
		sleep 2
	done
	cat migrate.out
}
