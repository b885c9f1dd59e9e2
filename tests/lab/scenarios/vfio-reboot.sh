#!/bin/sh
# A guest reboot with a passed-through virtio-blk attached: tern resets the
# function (MSI-X vectors' irqfds unbound, MSI-X off at the device with
# VFIO_DEVICE_SET_IRQS, BAR memslots removed with decoding off, config space
# back to power-on, VFIO_DEVICE_RESET; guest RAM stays mapped for DMA), the
# rebooted guest binds its driver again, reads back what it wrote before the
# reboot, writes and reads a new pattern, with MSI-X interrupts through the
# ITS. Guest RAM is in huge pages (backend=hugetlb, 128 reserved here):
# VFIO pins them for the device's DMA, and they stay mapped across the reset.
# (guest_reboot waits for the second boot to be ready before anything is
# sent to the console.)
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs; hugepages_restore' EXIT
SIZE=16777216

vfio_blk_fn
pci_bind "$bdf" vfio-pci
hugepages_reserve 128

step "1. first boot: write a pattern"
guest_serve --cpus 2 --memory 256M,backend=hugetlb --vfio host="$bdf" --trace
grep -q "memory: 256 MiB at .*, backend hugetlb" tern-stderr.log || fail "guest RAM is not in huge pages"
guest_run "blkpattern write /dev/vda 5 $SIZE" 400
expect_status "$run_rc" 0 "the guest could not write the passed-through disk"
wrote=$(pattern_sum tern.log "write /dev/vda")

step "2. reboot"
guest_reboot 200
grep -q "vm: reset" tern-stderr.log || fail "tern did not reset the VM"
grep -q "device MSI-X off" tern-stderr.log || fail "tern did not switch the device's MSI-X off at the reset"

step "3. second boot: read it back, write and read a new one"
guest_blk_irqs 60
irq0=$blk_irqs
guest_run "blkpattern verify /dev/vda 5 $SIZE" 400
expect_status "$run_rc" 0 "after the reboot the guest does not read its pattern back"
[ -n "$wrote" ] && [ "$(pattern_sum tern.log "verify /dev/vda")" = "$wrote" ] ||
	fail "checksums differ across the reboot: wrote $wrote, read $(pattern_sum tern.log "verify /dev/vda")"
guest_blk_roundtrip /dev/vda 6 "$SIZE" 400 "after the reboot the guest cannot write and read a new pattern"
guest_blk_irqs 60
irq1=$blk_irqs
echo "REPORT: after the reboot, virtio-blk queue interrupts through the ITS: $irq0 -> $irq1"
[ "${irq1:-0}" -gt "${irq0:-0}" ] || fail "no ITS-PCI-MSIX interrupts of the disk's queue after the reboot"
guest_poweroff 120
[ "$(guest_count 'TERN-GUEST: init')" -eq 2 ] || fail "expected exactly 2 boots"
