#!/bin/sh
# virtio-blk, both directions: the guest writes a 16 MiB pattern (seed 7) on
# /dev/vda and the host finds it, byte for byte, in the backing file after the
# guest powered off; then the host writes another pattern (seed 9) and a second
# boot of the guest reads exactly that. blkpattern (guest-images/tools) prints
# the FNV-1a 64 of the bytes on each side; verify checks every byte.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT
BP=$LAB_BIN/blkpattern
[ -x "$BP" ] || fail "no host-side blkpattern at $BP"
SIZE=16777216

dd if=/dev/zero of=disk.img bs=1048576 count=16 2>/dev/null || fail "cannot create disk.img"

# First boot: the guest writes.
guest_serve --cpus 2 --memory 256M --disk path=disk.img
guest_run 'printf "VDA-SECTORS=%s\n" "$(cat /sys/block/vda/size)"' 60
[ "$(guest_value VDA-SECTORS)" = $((SIZE / 512)) ] ||
	fail "the guest sees /dev/vda with $(guest_value VDA-SECTORS) sectors, expected $((SIZE / 512))"
guest_run "blkpattern write /dev/vda 7 $SIZE && sync" 300
expect_status "$run_rc" 0 "blkpattern write in the guest failed"
guest_sum=$(pattern_sum tern.log "write /dev/vda")
guest_poweroff 60
mv tern.log tern-write.log
mv tern-stderr.log tern-write-stderr.log

host_has_pattern disk.img 7 "$SIZE"
echo "guest -> host: $SIZE bytes, fnv1a64 $host_sum on both sides"

# Second boot: the host wrote, the guest reads.
"$BP" write disk.img 9 "$SIZE" >host-write.txt
_rc=$?
cat host-write.txt
expect_status "$_rc" 0 "the host could not write disk.img"
host_sum=$(pattern_sum host-write.txt "write disk.img")
guest_serve --cpus 2 --memory 256M --disk path=disk.img
guest_run "blkpattern verify /dev/vda 9 $SIZE" 300
expect_status "$run_rc" 0 "the guest does not read what the host wrote (seed 9)"
guest_sum=$(pattern_sum tern.log "verify /dev/vda")
[ -n "$host_sum" ] && [ "$guest_sum" = "$host_sum" ] ||
	fail "checksums differ: host wrote ${host_sum:-none}, guest reads ${guest_sum:-none}"
echo "host -> guest: $SIZE bytes, fnv1a64 $guest_sum on both sides"
guest_poweroff 60
