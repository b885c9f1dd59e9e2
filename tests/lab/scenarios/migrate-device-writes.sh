#!/bin/sh
# Live migration of pages that tern itself writes (issue 5). KVM's dirty log
# records only the guest's own writes; data a virtio-blk read puts into guest
# RAM is written by tern's I/O (io_uring), which KVM never sees. Here the
# migration is held in its rounds (a bandwidth cap, and the memory verifier
# dirtying faster than the cap, with auto-converge off) until all of RAM has
# gone once; then the guest drops its page cache and reads its whole disk
# through it, so the pages the reads fill have all been sent before. The
# writer stops, the migration converges, and the guest checksums the disk
# again, from its page cache: a page that reached the destination as it was
# before the read gives another sum.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
URI="unix:$PWD/mig.sock"
trap 'guest_dump_logs' EXIT
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
dest_start dst "$URI" $MACHINE --control dst.sock
dest_wait_listening "$URI"
# Holding the disk open keeps its page cache: Linux drops a block device's
# cache when its last opener closes it, and the sum after the move must
# come from the cache, not from the disk.
guest_run "sleep 100000 </dev/vda >/dev/null 2>&1 &" 30
guest_run "memverify run 8 0 >/dev/null 2>&1 &" 30
sleep 2
migrate "$URI" max_bandwidth=2 auto_converge=false max_rounds=1000
# Round 0 (all of RAM) done, and one more.
for _ in $(seq 1500); do
	migration_status ctl.sock
	grep -q '"round": [2-9]' status.out && break
	grep -q '"state": "active"' status.out || fail "the migration ended before the reads: $(cat status.out)"
	sleep 0.2
done
grep -q '"round": [2-9]' status.out || fail "the migration never got past round 1: $(cat status.out)"
guest_run "echo 3 >/proc/sys/vm/drop_caches && cat /dev/vda >/dev/null" 300
expect_status "$run_rc" 0 "reading the disk during the migration failed"
migration_status ctl.sock
grep -q '"state": "active"' status.out ||
	fail "the migration finished before the guest's reads did; this scenario proves nothing: $(cat status.out)"
echo "the reads ended while the migration ran: $(grep -o '"round": [0-9]*' status.out)"
# Now let it converge.
guest_run 'kill $(cat /tmp/memverify.pid)' 60
wait_source_exit 400
expect_status "$status" 0 "the source did not exit 0 after migrating"
echo "REPORT: $(migration_report tern-stderr.log)"
switch_to_dest dst
rm -f ctl.sock
ln -s dst.sock ctl.sock
guest_run "$SUM" 120
expect_status "$run_rc" 0 "checksumming the disk on the destination failed"
after=$(guest_value DISKSUM)
echo "disk checksum before $before, from the page cache after the move $after"
[ "$after" = "$before" ] ||
	fail "the page cache filled by virtio-blk during the migration arrived stale ($before before, $after after)"
guest_poweroff 120
echo "migrate-device-writes scenario passed"
