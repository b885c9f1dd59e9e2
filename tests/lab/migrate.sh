# Live migration helpers for the migrate-* scenarios (source after guest.sh).
#
#   dest_start NAME URI MACHINE...   a "tern run --incoming URI" in the background,
#                                    console on NAME.in, output in NAME.log and
#                                    NAME-stderr.log; $dest_pid; its console FIFO
#                                    held open on fd 4
#   dest_wait_listening URI          until the destination listens on URI
#   migrate URI [ARGS...]            "migrate" on ctl.sock (replies at once)
#   migration_status SOCK            the status reply, in status.out
#   wait_source_exit S               wait for the source to exit; sets $status
#   switch_to_dest NAME              make the destination the guest helpers' tern:
#                                    its console on fd 3, its log as tern.log

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
	wait_for "$dest_name-stderr.log" "waiting for a migration on $1" 120
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
}

# The source's final report line, from its stderr.
migration_report() {
	grep "migration to .* completed" "$1" | tail -n 1
}

# Two-host scenarios ("# hosts: 2"): the destination host has no source tern,
# so its "tern run --incoming" is the guest helpers' tern from the start.
#   incoming_start URI MACHINE...   "tern run --incoming URI MACHINE..." in the
#                                   background: console on fd 3, in tern.log;
#                                   stderr in tern-stderr.log; $tern_pid
#   incoming_wait S                 wait at most S seconds (scaled) for the whole
#                                   VM to arrive ("migration received"); fails if
#                                   tern exits or refuses first
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

# migrate_when_listening URI S: "migrate uri=URI" on ctl.sock, again every
# 2 s while the destination (another host, booting at its own pace) refuses
# the connection, for at most S seconds (scaled).
migrate_when_listening() {
	_ml_end=$(($(date +%s) + $(lab_scaled "$2")))
	until "$TERN" ctl ctl.sock migrate "uri=$1" >migrate.out 2>&1; do
		[ "$(date +%s)" -lt "$_ml_end" ] ||
			fail "the destination never took the connection within $(lab_scaled "$2")s: $(cat migrate.out)"
		sleep 2
	done
	cat migrate.out
}
