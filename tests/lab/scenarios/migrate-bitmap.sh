#!/bin/sh
# Live migration with --dirty-tracking bitmap (no dirty rings: the slot's
# dirty bitmap, KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG) on both sides: a
# guest with a small disk and the memory verifier stamping its working set
# moves once over a unix socket. The source exits 0 with its report and
# says it tracked by bitmap; the destination's guest passes the verifier,
# answers, reads back what was written to the disk, and its virtio MSI
# counts keep growing with disk I/O.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img --dirty-tracking bitmap"
URI="unix:$PWD/mig.sock"
trap 'guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=4 2>/dev/null || fail "cannot create disk.img"
COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
guest_run "memverify run 32 4 >/dev/null 2>&1 &" 30
sleep 2
guest_run "blkpattern write /dev/vda 9 1048576" 300
expect_status "$run_rc" 0 "disk write failed"

# shellcheck disable=SC2086
dest_start dst "$URI" $MACHINE --control dst.sock
dest_wait_listening "$URI"
t0=$(date +%s)
migrate "$URI"
wait_source_exit 400
expect_status "$status" 0 "the source did not exit 0 after migrating"
report=$(migration_report tern-stderr.log)
[ -n "$report" ] || fail "no final report from the source: $(tail -n 5 tern-stderr.log)"
echo "REPORT: bitmap ($URI): $report; wall $(($(date +%s) - t0)) s"
grep -q "migration: dirty tracking by bitmap" tern-stderr.log ||
	fail "the source does not say it tracked by bitmap: $(grep -a "dirty tracking" tern-stderr.log)"

switch_to_dest dst
mv ctl.sock ctl-before.sock
ln -s dst.sock ctl.sock
guest_run "memverify check" 60
expect_status "$run_rc" 0 "the verifier failed after the migration"
grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
guest_run "echo answered-bitmap" 60
guest_log | grep -q "^answered-bitmap" || fail "the guest does not answer after the migration"
guest_run "blkpattern verify /dev/vda 9 1048576" 300
expect_status "$run_rc" 0 "the disk does not hold what was written before the migration"
guest_run "$COUNT" 30
m1=$(guest_value MSI-COUNT)
guest_run "blkpattern write /dev/vda 10 524288 && blkpattern verify /dev/vda 10 524288" 300
expect_status "$run_rc" 0 "disk I/O after the migration failed"
guest_run "$COUNT" 30
m2=$(guest_value MSI-COUNT)
echo "virtio MSIs after the migration: $m1 -> $m2"
[ "${m2:-0}" -gt "${m1:-0}" ] || fail "MSI counts did not grow after the migration ($m1 -> $m2)"
guest_poweroff 120
echo "migrate-bitmap scenario passed"
