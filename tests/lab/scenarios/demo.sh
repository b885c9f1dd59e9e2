#!/bin/sh
# Boot the test guest with tern, for the README (tests/lab/run --demo demo).
# timeout: 300
# by-name-only: asserts nothing but exit 0; the other scenarios test the boot
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
exec "$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M
