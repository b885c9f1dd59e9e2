#!/bin/sh
# Live migration of pages that tern itself writes (issue 5). KVM's dirty log
# records only the guest's own writes; data a virtio-blk read puts into guest
# RAM is written by tern's I/O (io_uring), which KVM never sees. Here the
# guest drops its page cache and reads its whole disk through it while round
# 0 is under way (a bandwidth cap keeps the round long), so many of the pages
# the reads fill have already been sent. After the move the guest checksums
# the disk again, from its page cache: a page that reached the destination
# as it was before the read gives another sum.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
URI="unix:$PWD/mig.sock"
trap 'guest_dump_logs' EXIT
# Debian's kernel zeroes each page it allocates (init_on_alloc): that CPU
# write is in KVM's log and would get the page resent anyway, after the
# device's write more often than not. Off, the device's write is the only one.
GUEST_CMDLINE="$GUEST_CMDLINE init_on_alloc=0"
dd if=/dev/zero of=disk.img bs=1048576 count=16 2>/dev/null || fail "cannot create disk.img"
SUM='echo DISKSUM=$(md5sum </dev/vda | cut -c1-32)'

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
# The pattern goes to the disk with O_DIRECT and its checksum comes from the
# pattern itself, so no guest page holds the disk's data before the reads
# below (a page that held it already would arrive right even when stale).
guest_run "blkpattern write /dev/vda 9 && echo 3 >/proc/sys/vm/drop_caches && echo DISKSUM=\$(blkpattern stream 9 16777216 2>/dev/null | md5sum | cut -c1-32)" 300
expect_status "$run_rc" 0 "writing the disk failed"
before=$(guest_value DISKSUM)
[ -n "$before" ] || fail "no checksum of the disk"

# shellcheck disable=SC2086
dest_listen dst "$URI" $MACHINE --control dst.sock
# Holding the disk open keeps its page cache: Linux drops a block device's
# cache when its last opener closes it, and the sum after the move must
# come from the cache, not from the disk.
guest_run "sleep 100000 </dev/vda >/dev/null 2>&1 &" 30
migrate "$URI" max_bandwidth=2
# Round 0 sends RAM in address order at 2 MiB/s: once 10 MiB have gone, the
# reads' pages below that point have been sent already.
wait_mib_sent 10 120
guest_run "echo 3 >/proc/sys/vm/drop_caches && cat /dev/vda >/dev/null" 300
expect_status "$run_rc" 0 "reading the disk during the migration failed"
migration_status ctl.sock
grep -q '"state": "active"' status.out ||
	fail "the migration finished before the guest's reads did; this scenario proves nothing: $(cat status.out)"
echo "the reads ended while the migration ran: $(grep -o '"round": [0-9]*, "mib_sent": [0-9]*' status.out)"
source_migrated 400 "device writes"
echo "REPORT: $report"
switch_to_dest dst
guest_run "$SUM" 120
expect_status "$run_rc" 0 "checksumming the disk on the destination failed"
after=$(guest_value DISKSUM)
echo "disk checksum before $before, from the page cache after the move $after"
[ "$after" = "$before" ] ||
	fail "the page cache filled by virtio-blk during the migration arrived stale ($before before, $after after)"
guest_poweroff 120
echo "migrate-device-writes scenario passed"
