#!/bin/sh
# Live migration to a machine that differs (issue 5): the destination has
# another --memory. It refuses after the handshake, before any page, with a
# message naming the difference, and exits with status 2; the source reports
# that message in 'status' and runs on.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M --control ctl.sock
dest_listen dst "unix:$PWD/mig.sock" --cpus 1 --memory 512M
migrate "unix:$PWD/mig.sock"
wait "$dest_pid"
dst_status=$?
cat dst-stderr.log
expect_status "$dst_status" 2 "the refusing destination did not exit 2"
grep -q "refused.*RAM" dst-stderr.log || fail "the destination's message does not name the RAM size"
wait_migration_state failed 20
grep -q '"error": "the destination refused the VM: .*RAM' status.out ||
	fail "the source does not report the destination's refusal"
grep -q '"pages_sent": 0' status.out || fail "pages were sent before the refusal"
grep -q '"state": "running"' status.out || fail "the source VM is not running"
guest_run "echo still-here" 60
guest_log | grep -q "^still-here" || fail "the source guest does not answer"
guest_poweroff 120
echo "migrate-refused scenario passed"
