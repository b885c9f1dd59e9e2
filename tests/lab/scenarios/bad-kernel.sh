#!/bin/sh
# Files that are not an arm64 Image are refused with exit status 2 and a
# message saying what they are.
# timeout: 60
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

head -c 1048576 "$KERNEL" | gzip -c >Image.gz
expect_refused Image.gz "gzip"
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
