#!/bin/sh
# Boot the test guest with tern, for the README (tests/lab/run --demo demo).
# timeout: 300
. "$LAB/lib.sh"
need_tern
exec "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M
