#!/bin/sh
# The virtio devices interrupt through MSI-X and the ITS: the guest's
# /proc/interrupts has ITS MSI lines for virtio vectors, and their counts grow
# with disk I/O.
# timeout: 480
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# Sum of the per-CPU counts of the ITS MSI lines of virtio vectors, and how many.
COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { l++; for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-LINES=%d\nMSI-COUNT=%d\n", l, s }'"'"' /proc/interrupts'

guest_serve --cpus 2 --memory 256M --disk path=disk.img
guest_run "grep -E 'MSI|virtio' /proc/interrupts" 60
guest_run "$COUNT" 60
lines=$(guest_value MSI-LINES) before=$(guest_value MSI-COUNT)
[ "${lines:-0}" -gt 0 ] || fail "no ITS MSI interrupt lines for virtio devices in /proc/interrupts"
guest_run "blkpattern write /dev/vda 3 4194304 && blkpattern verify /dev/vda 3 4194304" 300
expect_status "$run_rc" 0 "disk I/O in the guest failed"
guest_run "$COUNT" 60
after=$(guest_value MSI-COUNT)
echo "virtio MSIs: $lines lines, $before before the I/O, $after after"
[ "${after:-0}" -gt "${before:-0}" ] || fail "the virtio MSI counts did not grow with disk I/O ($before -> $after)"
guest_poweroff 60
