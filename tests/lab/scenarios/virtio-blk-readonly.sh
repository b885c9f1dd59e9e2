#!/bin/sh
# --disk path=FILE,readonly=on: the guest sees a read-only disk
# (/sys/block/vda/ro = 1), its writes fail, it still reads the file's data,
# and the file is unchanged afterwards.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT
BP=$LAB_BIN/blkpattern
[ -x "$BP" ] || fail "no host-side blkpattern at $BP"
SIZE=16777216

"$BP" write disk.img 5 "$SIZE" >before.txt
_rc=$?
cat before.txt
expect_status "$_rc" 0 "cannot create disk.img"
before=$(pattern_sum before.txt "write disk.img")

guest_serve --cpus 1 --memory 256M --disk path=disk.img,readonly=on
guest_run 'printf "VDA-RO=%s\n" "$(cat /sys/block/vda/ro)"' 60
[ "$(guest_value VDA-RO)" = 1 ] || fail "/sys/block/vda/ro is '$(guest_value VDA-RO)', expected 1"
guest_run "blkpattern write /dev/vda 9 1048576" 120
[ "$run_rc" != 0 ] || fail "blkpattern could write the read-only disk"
guest_run "dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=fsync" 120
[ "$run_rc" != 0 ] || fail "dd could write the read-only disk"
guest_run "blkpattern verify /dev/vda 5 $SIZE" 300
expect_status "$run_rc" 0 "the guest does not read the read-only disk's data"
guest_poweroff 60

"$BP" verify disk.img 5 "$SIZE" >after.txt
_rc=$?
cat after.txt
expect_status "$_rc" 0 "disk.img changed under readonly=on"
after=$(pattern_sum after.txt "verify disk.img")
[ "$before" = "$after" ] || fail "disk.img's checksum changed: $before -> $after"
