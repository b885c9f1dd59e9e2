#!/bin/sh
# Live migrations that do not finish (issue 5). First 'migrate-cancel' on the
# source part way: the destination exits non-zero without running the guest.
# Then the destination tern is killed once the source has sent its first MiB.
# A downtime target of 1 ms keeps either migration from converging first.
# Each time the source reports it in 'status', keeps running, and its
# guest's memory verifier still passes.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
trap 'guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# Waits until the running migration has sent a MiB.
wait_first_mib() {
	for _ in $(seq 600); do
		migration_status ctl.sock
		grep -q '"mib_sent": [1-9]' status.out && break
		grep -q '"state": "active"' status.out || fail "the migration ended early: $(cat status.out)"
		sleep 0.1
	done
	grep -q '"mib_sent": [1-9]' status.out || fail "the migration never sent a MiB: $(cat status.out)"
	cat status.out
}

# Waits until 'status' shows the migration in state $1, the VM running.
wait_migration_state() {
	for _ in $(seq 300); do
		migration_status ctl.sock
		grep -q "\"state\": \"$1\"" status.out && break
		sleep 0.2
	done
	cat status.out
	grep -q "\"state\": \"$1\"" status.out || fail "the source does not report the migration $1"
	grep -q '"error": ' status.out || fail "no error message in the source's status"
	grep -q '"state": "running"' status.out || fail "the source VM is not running after it"
}

verify_source() {
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the source's verifier failed after the $1 migration"
	grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
	guest_run "echo still-here-$1" 60
	guest_log | grep -q "^still-here-$1" || fail "the source guest does not answer after the $1 migration"
}

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
guest_run "memverify run 64 16 >/dev/null 2>&1 &" 30
sleep 2

# shellcheck disable=SC2086
dest_start dst0 "unix:$PWD/mig0.sock" $MACHINE
dest_wait_listening "unix:$PWD/mig0.sock"
migrate "unix:$PWD/mig0.sock" downtime_ms=1
wait_first_mib
"$TERN" ctl ctl.sock migrate-cancel || fail "migrate-cancel failed"
wait_migration_state cancelled
wait "$dest_pid"
dst_status=$?
cat dst0-stderr.log
[ "$dst_status" != 0 ] || fail "the destination exited 0 after a cancelled migration"
grep -q "never ran here" dst0-stderr.log || fail "the destination does not say the guest never ran there"
verify_source cancelled

# shellcheck disable=SC2086
dest_start dst "unix:$PWD/mig.sock" $MACHINE
dest_wait_listening "unix:$PWD/mig.sock"
migrate "unix:$PWD/mig.sock" downtime_ms=1
wait_first_mib
kill -KILL "$dest_pid"
wait "$dest_pid" 2>/dev/null
wait_migration_state failed
verify_source failed
guest_poweroff 120
echo "migrate-kill-dest scenario passed"
