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

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
memverify_start 32 4
guest_run "blkpattern write /dev/vda 9 1048576" 300
expect_status "$run_rc" 0 "disk write failed"

# shellcheck disable=SC2086
dest_listen dst "$URI" $MACHINE --control dst.sock
t0=$(date +%s)
migrate "$URI"
source_migrated 400 "bitmap"
echo "REPORT: bitmap ($URI): $report; wall $(($(date +%s) - t0)) s"
grep -q "migration: dirty tracking by bitmap" tern-stderr.log ||
	fail "the source does not say it tracked by bitmap: $(grep -a "dirty tracking" tern-stderr.log)"

switch_to_dest dst
verifier_passes "after the migration"
guest_answers bitmap
guest_run "blkpattern verify /dev/vda 9 1048576" 300
expect_status "$run_rc" 0 "the disk does not hold what was written before the migration"
msis_grow "blkpattern write /dev/vda 10 524288 && blkpattern verify /dev/vda 10 524288" 300 \
	"after the migration (disk I/O)"
guest_poweroff 120
echo "migrate-bitmap scenario passed"
