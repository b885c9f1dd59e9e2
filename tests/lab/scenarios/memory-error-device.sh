#!/bin/sh
# A replaced page across a move, and a poisoned page that tern itself touches
# (issue 18). (1) A guest page poisoned, touched (SIGBUS in the guest),
# replaced and reused with a pattern survives a snapshot + restore and then a
# live migration: the pattern and the memory verifier pass at the end. (2) On
# the destination, the guest reads its disk with O_DIRECT into a page whose
# host page is poisoned: tern's io_uring read fails with EFAULT, tern touches
# the buffer's pages, its SIGBUS handler replaces the poisoned one, the request
# fails with an I/O error, tern keeps running and the disk keeps working.
# timeout: 900
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
need_root
MACHINE="--cpus 1 --memory 256M --disk path=disk.img"
trap 'guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock --allow-fault-injection --snapshot-dir "$PWD"

# (1) A replaced, reused page across a snapshot + restore and a migration.
memvictim_poison ctl.sock "/tmp/go /tmp/check"
guest_send "run touch /tmp/go"
wait_for tern.log "memvictim: reused pa=" 120
guest_log | grep "^memvictim: reused" || :
guest_log | grep -q "^memvictim: reused pa=$victim_pa after [0-9]* pages, pattern ok" ||
	fail "the guest did not use the replaced page again"
grep -q "the poisoned page \[$victim_pa, +0x1000) is replaced by a zeroed one (1 so far)" tern-stderr.log ||
	fail "tern did not replace the page at $victim_pa"
memverify_start 16 2
verifier_passes "before the snapshot"
"$TERN" ctl ctl.sock snapshot path="$PWD/snap.tern" || fail "tern ctl snapshot failed"
kill -KILL "$tern_pid"
wait "$tern_pid" 2>/dev/null
exec 3>&-
for f in tern.log tern-stderr.log; do mv "$f" "before-snapshot-$f"; done

rm -f console.in ctl.sock
mkfifo console.in
# shellcheck disable=SC2086
"$TERN" run $TERN_LAB_OPTS --restore snap.tern $MACHINE --control ctl.sock \
	<console.in >tern.log 2>tern-stderr.log &
tern_pid=$!
exec 3>console.in
guest_answers restored
verifier_passes "after the restore"

# shellcheck disable=SC2086
dest_listen dst "unix:$PWD/mig.sock" $MACHINE --control dst.sock --allow-fault-injection
migrate "unix:$PWD/mig.sock"
source_migrated 600 "after the restore"
echo "REPORT: migration after a replaced page: $report"
switch_to_dest dst
verifier_passes "after the migration"
guest_send "run touch /tmp/check"
wait_for tern.log "memvictim: the reused page still holds its pattern" 60
guest_log | grep "^memvictim: the reused page" || :
guest_log | grep -q "pattern BAD" && fail "the replaced page lost its content across the snapshot or the migration"
wait_for tern.log "memvictim-exit=135" 30

# (2) The device model writes into a poisoned page.
memvictim_poison ctl.sock "--dio /dev/vda /tmp/go2"
guest_send "run touch /tmp/go2"
wait_for tern.log "memvictim: dio read" 60
guest_log | grep "^memvictim: dio read" || :
guest_log | grep -q "^memvictim: dio read failed: Input/output error" ||
	fail "the O_DIRECT read into a poisoned page did not fail with EIO"
grep -q "tern itself (a device or a migration) read the poisoned page at gpa $victim_pa (0x1000 bytes): replaced by a zeroed page" tern-stderr.log ||
	fail "tern did not replace the poisoned buffer page at $victim_pa"
kill -0 "$tern_pid" 2>/dev/null || fail "tern died of the poisoned buffer"
"$TERN" ctl ctl.sock status >status.out || fail "tern ctl status failed"
cat status.out
grep -Eq '"memory_errors": 1[,} ]' status.out || fail "status does not count one memory error"
grep -Eq '"pages_replaced": 1[,} ]' status.out || fail "status does not count one replaced page"
guest_run "blkpattern write /dev/vda 9 1048576 && blkpattern verify /dev/vda 9 1048576" 300
expect_status "$run_rc" 0 "the disk does not work after the failed request"
guest_poweroff 60
echo "memory-error-device passed"
