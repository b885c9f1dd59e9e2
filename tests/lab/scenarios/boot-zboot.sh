#!/bin/sh
# EFI zboot images boot: the Debian guest Image wrapped by mkzboot
# (guest-images/kernels/mkzboot.c; $LAB_KERNELS/vmlinuz-*.efi, made by
# guest-images/build) in a zboot container with a gzip payload,
# then with a zstd one. The container is tern-made: Debian's arm64 kernel is
# not a zboot build, and mkzboot writes the header and payload as the
# kernel's zboot-header.S and Makefile.zboot do, with no EFI stub code.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

for comp in gzip zstd; do
	[ -r "$LAB_KERNELS/vmlinuz-$comp.efi" ] || fail "no $LAB_KERNELS/vmlinuz-$comp.efi (guest-images/build makes it)"
	"$TERN" run $TERN_LAB_OPTS --trace --kernel "$LAB_KERNELS/vmlinuz-$comp.efi" --initrd "$INITRD" \
		--cpus 1 --memory 256M --cmdline "$GUEST_CMDLINE" </dev/null >tern-$comp.log 2>&1
	status=$?
	cat tern-$comp.log
	expect_status "$status" 0 "the $comp zboot guest did not power off cleanly"
	grep -q "^TERN-GUEST: poweroff" tern-$comp.log || fail "the $comp zboot guest did not reach its poweroff"
	grep -q "EFI zboot image ($comp) of [0-9]* bytes decompressed to" tern-$comp.log ||
		fail "tern did not say it decompressed the $comp zboot image"
	grep "decompressed to" tern-$comp.log | sed 's/^/REPORT: /'
done
