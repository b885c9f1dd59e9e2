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
	wait_mib_sent 1 60
	cat status.out
}

# Waits until 'status' shows the migration in state $1, the VM running.
source_runs_after() {
	wait_migration_state "$1" 60
	grep -q "\"state\": \"$1\"" status.out || fail "the source does not report the migration $1"
	grep -q '"error": ' status.out || fail "no error message in the source's status"
	grep -q '"state": "running"' status.out || fail "the source VM is not running after it"
}

verify_source() {
	verifier_passes "on the source after the $1 migration"
	guest_answers "source-after-$1"
}

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
memverify_start 64 16

# shellcheck disable=SC2086
dest_listen dst0 "unix:$PWD/mig0.sock" $MACHINE
migrate "unix:$PWD/mig0.sock" downtime_ms=1
wait_first_mib
"$TERN" ctl ctl.sock migrate-cancel || fail "migrate-cancel failed"
source_runs_after cancelled
wait "$dest_pid"
dst_status=$?
cat dst0-stderr.log
[ "$dst_status" != 0 ] || fail "the destination exited 0 after a cancelled migration"
grep -q "never ran here" dst0-stderr.log || fail "the destination does not say the guest never ran there"
verify_source cancelled

# shellcheck disable=SC2086
dest_listen dst "unix:$PWD/mig.sock" $MACHINE
migrate "unix:$PWD/mig.sock" downtime_ms=1
wait_first_mib
kill -KILL "$dest_pid"
wait "$dest_pid" 2>/dev/null
source_runs_after failed
verify_source failed
guest_poweroff 120
echo "migrate-kill-dest scenario passed"
