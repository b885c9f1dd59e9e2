#!/bin/sh
# Live migration whose destination dies part way (issue 5): the destination
# tern is killed once the source has sent its first MiB (a downtime target of
# 1 ms keeps the migration from converging first). The source reports the failure in
# 'status', keeps running, and its guest's memory verifier still passes.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
trap 'guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
guest_run "memverify run 64 16 >/dev/null 2>&1 &" 30
sleep 2
# shellcheck disable=SC2086
dest_start dst "unix:$PWD/mig.sock" $MACHINE
dest_wait_listening "unix:$PWD/mig.sock"
migrate "unix:$PWD/mig.sock" downtime_ms=1
for _ in $(seq 600); do
	migration_status ctl.sock
	grep -q '"mib_sent": [1-9]' status.out && break
	grep -q '"state": "active"' status.out || fail "the migration ended before the kill: $(cat status.out)"
	sleep 0.1
done
grep -q '"mib_sent": [1-9]' status.out || fail "the migration never sent a MiB: $(cat status.out)"
cat status.out
kill -KILL "$dest_pid"
wait "$dest_pid" 2>/dev/null
for _ in $(seq 300); do
	migration_status ctl.sock
	grep -q '"state": "failed"' status.out && break
	sleep 0.2
done
cat status.out
grep -q '"state": "failed"' status.out || fail "the source does not report the failed migration"
grep -q '"error": ' status.out || fail "no error message in the source's status"
grep -q '"state": "running"' status.out || fail "the source VM is not running after the failure"
guest_run "memverify check" 60
expect_status "$run_rc" 0 "the source's verifier failed after the aborted migration"
grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
guest_run "echo still-here" 60
guest_log | grep -q "^still-here" || fail "the source guest does not answer"
guest_poweroff 120
echo "migrate-kill-dest scenario passed"
