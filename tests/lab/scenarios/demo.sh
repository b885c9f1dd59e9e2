#!/bin/sh
# Boot the test guest with tern, for the README (tests/lab/run --demo demo).
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
tern_run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M
