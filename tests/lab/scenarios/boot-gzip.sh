#!/bin/sh
# A gzip-compressed Image (the Debian guest kernel gzip'd by GNU gzip, an
# encoder other than the zlib tern decompresses with: $LAB_KERNELS/Image.gz,
# guest-images/build) boots to the guest's
# test shell; the guest reboots, and tern decompresses it again for the second
# boot (a reset reloads the kernel), under the lab's kill-mode sandbox.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT

[ -r "$LAB_KERNELS/Image.gz" ] || fail "no $LAB_KERNELS/Image.gz (guest-images/build makes it)"
echo "Image $(wc -c <"$KERNEL") bytes, Image.gz $(wc -c <"$LAB_KERNELS/Image.gz") bytes"
KERNEL=$LAB_KERNELS/Image.gz

guest_serve --cpus 2 --memory 256M --trace
grep -q "gzip-compressed Image of [0-9]* bytes decompressed" tern-stderr.log ||
	fail "tern did not say it decompressed a gzip-compressed Image"
guest_run "echo alive" 30
expect_status "$run_rc" 0 "the guest's shell did not answer"
guest_reboot 240
guest_poweroff 60
[ "$(guest_count 'TERN-GUEST: init')" -eq 2 ] || fail "expected exactly 2 boots"
[ "$(grep -c "gzip-compressed Image of [0-9]* bytes decompressed" tern-stderr.log)" -eq 2 ] ||
	fail "the kernel was not decompressed once per boot"
grep "decompressed to" tern-stderr.log | sed 's/^/REPORT: /'
trap - EXIT
