#!/bin/sh
# Files that are not an arm64 Image (plain or compressed) are refused with
# exit status 2 and a message saying what they are. Compressed ones that
# boot: boot-gzip, boot-zboot.
# timeout: 300
. "$LAB/lib.sh"
need_tern

# expect_refused FILE WORDS: tern exits 2 and its message contains WORDS.
expect_refused() {
	"$TERN" run --kernel "$1" --memory 256M </dev/null >out.log 2>&1
	status=$?
	cat out.log
	expect_status "$status" 2 "kernel $1 must be refused"
	grep -qi -- "$2" out.log || fail "message for $1 does not mention '$2'"
}

# The refusal of a compressed kernel, shown in the lab's summary.
report_refusal() {
	grep "cannot boot" out.log | sed 's/^/REPORT: /'
}

# A whole gzip stream of a cut-off Image: its PE header says it is longer.
head -c 1048576 "$KERNEL" | gzip -c >Image.gz
expect_refused Image.gz "gzip-compressed Image holding an incomplete Image"
report_refusal
# A gzip stream cut short: found once decompressed, after the VM is built.
# (The whole kernel compressed on the build machine: guest-images/build.)
full=$LAB_KERNELS/Image.gz
[ -r "$full" ] || fail "no $full (guest-images/build makes it)"
head -c $(($(wc -c <"$full") - 4096)) "$full" >cut.gz
expect_refused cut.gz "gzip-compressed Image, truncated"
report_refusal
# A zboot image (tern-made, guest-images/kernels/mkzboot.c) cut short, and one
# whose PE header says x86-64 (0x8664 at the PE header's Machine, 0x44).
cp "$LAB_KERNELS/vmlinuz-gzip.efi" zboot.efi || fail "no $LAB_KERNELS/vmlinuz-gzip.efi"
head -c 8000000 zboot.efi >zboot-cut.efi
expect_refused zboot-cut.efi "EFI zboot image (gzip), truncated"
report_refusal
printf '\144\206' | dd of=zboot.efi bs=1 seek=68 conv=notrunc 2>/dev/null
expect_refused zboot.efi "EFI zboot image for x86-64"
report_refusal
head -c 32 "$KERNEL" >truncated
expect_refused truncated "truncated"
: >empty
expect_refused empty "empty"
expect_refused "$TERN" "ELF"
# An x86 bzImage: "MZ" at 0 and "HdrS" at 0x202.
{ printf 'MZ'; head -c 512 /dev/zero; printf 'HdrS'; head -c 4096 /dev/zero; } >bzImage
expect_refused bzImage "x86"
expect_refused does-not-exist "cannot open"
# A real Image too large for the RAM it is given.
"$TERN" run --kernel "$KERNEL" --memory 32M </dev/null >out.log 2>&1
status=$?
cat out.log
expect_status "$status" 2 "a kernel larger than RAM must be refused"
