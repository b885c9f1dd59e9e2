#!/bin/sh
# MSI (not MSI-X) of a passed-through device: the vfio host's AHCI controller
# (QEMU's ich9-ahci, one SATA disk of 16 MiB; an MSI capability, one vector,
# no MSI-X). tern emulates its MSI capability; when the guest's ahci driver
# enables MSI, the device's MSI goes on through VFIO with the vector's
# eventfd as the irqfd of a KVM route carrying the requester ID as ITS
# DeviceID, and its INTx goes off:
# - the guest's ahci (from /lib/modules/ahci) takes the disk with one MSI
#   vector (sysfs msi_irqs says "msi"), writes a pattern and reads it back
#   (O_DIRECT: from the device), the ITS-PCI-MSI (not MSIX) line's count
#   grows;
# - with its driver unbound, guest userspace writes nonsense to the MSI
#   capability through sysfs (enabled with address 0, then all ones, the
#   reserved vector count 7, enable toggled 50 times): tern lives, logs no
#   warning past its rate limit, and the rebound driver reads the pattern
#   back over MSI again;
# - after a guest reboot (tern resets the function) the second boot's ahci
#   gets MSI again and reads the pattern back;
# - no BAR access came to tern (the AHCI registers are a memslot over the
#   VFIO mmap; no MSI-X table to trap);
# - given to the host's ahci afterwards, the disk holds the guest's pattern.
# host: vfio
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
SIZE=16777216
# In the guest: load ahci, wait for /dev/sda; print the function's message
# interrupt kinds (sysfs msi_irqs) as GUEST-MSI.
AHCI_UP='for m in $(cat /lib/modules/ahci/load-order); do insmod /lib/modules/ahci/$m.ko || exit 1; done; n=0; while [ ! -b /dev/sda ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n + 1)); done; [ -b /dev/sda ]'
MSI_KINDS='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class)" = 0x010601 ] && g=$d; done; echo "GUEST-MSI=$(cat $g/msi_irqs/* 2>/dev/null | tr "\n" " ")"'

# An AHCI controller (class 01:06, interface 01).
bdf=$(pci_fn class 0x010601)
[ -n "$bdf" ] || skip "no AHCI function to pass through (runs on the lab's vfio host)"
dev=/sys/bus/pci/devices/$bdf
[ -e "$dev/iommu_group" ] || skip "$bdf has no IOMMU group (no IOMMU)"
pci_bind "$bdf" vfio-pci

step "1. The guest's ahci takes the disk with MSI"
guest_serve --cpus 2 --memory 256M --vfio host="$bdf" --trace
guest_run "$AHCI_UP" 120
expect_status "$run_rc" 0 "the guest's ahci driver did not bring up /dev/sda on the passed-through controller"
# The function's interrupt kinds as the guest's PCI core set them up.
guest_run "$MSI_KINDS"'; echo "SDA-SECTORS=$(cat /sys/block/sda/size)"; grep -i ahci /proc/interrupts' 60
[ "$(guest_value SDA-SECTORS)" = $((SIZE / 512)) ] ||
	fail "the guest sees /dev/sda with $(guest_value SDA-SECTORS) sectors, expected $((SIZE / 512))"
kinds=$(guest_value GUEST-MSI)
echo "guest: the function's message interrupts: ${kinds:-none}"
[ "$kinds" = "msi " ] || fail "the guest's ahci does not use one MSI vector (msi_irqs: '${kinds:-none}')"
grep "device MSI on (1 vectors): ok" tern-stderr.log || fail "tern did not switch the device's MSI on"
grep "INTx off" tern-stderr.log || fail "tern did not switch the device's INTx off for MSI"
! grep -q "device MSI-X on" tern-stderr.log || fail "MSI-X was switched on for a device without it"
MSIPAT='/ITS-PCI-MSI/ && !/ITS-PCI-MSIX/ && /ahci/'
guest_irqs "$MSIPAT" 30
irq0=$irqs

step "2. I/O over MSI"
guest_blk_roundtrip /dev/sda 13 "$SIZE" 400 "the guest's pattern did not read back from the passed-through AHCI disk"
guest_irqs "$MSIPAT" 30
irq1=$irqs
echo "REPORT: AHCI MSI interrupts through the ITS (ITS-PCI-MSI): $irq0 before the I/O, $irq1 after"
[ "${irq1:-0}" -gt "${irq0:-0}" ] || fail "no ITS-PCI-MSI interrupts of the AHCI controller during its I/O ($irq0 -> $irq1)"

step "3. Nonsense in the MSI capability, then the driver again"
# Offsets from the function's own capability pointer (0x34); 64-bit MSI
# (Message Control bit 7) assumed and checked.
NONSENSE='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class)" = 0x010601 ] && g=$d; done; echo "${g##*/}" >$g/driver/unbind || exit 1; c=$(od -An -tu1 -j52 -N1 $g/config | tr -d " "); [ "$(od -An -tu1 -j$c -N1 $g/config | tr -d " ")" = 5 ] || exit 2; [ $(( $(od -An -tu1 -j$((c + 2)) -N1 $g/config) & 128 )) = 128 ] || exit 3; w() { printf "$2" | dd of=$g/config bs=1 seek=$(($c + $1)) conv=notrunc 2>/dev/null; }; w 4 "\000\000\000\000"; w 12 "\000\000"; w 2 "\001"; i=0; while [ $i -lt 25 ]; do w 4 "\377\377\377\377"; w 8 "\377\377\377\377"; w 12 "\377\377"; w 2 "\161"; w 2 "\000"; w 4 "\000\000\000\000"; w 2 "\001"; i=$((i + 1)); done; echo "MSI-CAP=$(od -An -tx1 -j$c -N14 $g/config)"; echo "${g##*/}" >/sys/bus/pci/drivers/ahci/bind || exit 4; n=0; while [ ! -b /dev/sda ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n + 1)); done; [ -b /dev/sda ]'
guest_run "$NONSENSE" 240
expect_status "$run_rc" 0 "nonsense in the MSI capability, then the ahci driver bound again, did not bring /dev/sda back"
echo "guest's MSI capability after the nonsense: $(guest_value MSI-CAP)"
guest_run "blkpattern verify /dev/sda 13 $SIZE" 400
expect_status "$run_rc" 0 "the pattern did not read back over MSI after the nonsense"
guest_irqs "$MSIPAT" 30
irq2=$irqs
echo "REPORT: AHCI MSI interrupts of the rebound driver's verify: $irq2"
[ "${irq2:-0}" -gt 0 ] || fail "no ITS-PCI-MSI interrupts after the driver was bound again"
warns=$(grep -v "tern: trace" tern-stderr.log | grep -c "MSI")
echo "REPORT: tern's MSI log lines other than traces after the nonsense: $warns; MSI switched on $(grep -c "device MSI on" tern-stderr.log) times"
[ "$warns" -le 10 ] || fail "the guest's nonsense made tern log $warns MSI lines (rate limit 10 per 5 s)"

step "4. A reboot with MSI on: the second boot's driver gets MSI again"
# tern resets the function at the guest's reset (MSI off at the device,
# config space back to power-on, VFIO_DEVICE_RESET); the guest's second
# boot must find it as at power-on and enable MSI anew.
msi_on=$(grep -c "device MSI on" tern-stderr.log)
guest_reboot 200
grep -q "vm: reset" tern-stderr.log || fail "tern did not reset the VM"
guest_run "$AHCI_UP" 120
expect_status "$run_rc" 0 "after the reboot the guest's ahci did not bring up /dev/sda"
guest_run "$MSI_KINDS" 60
[ "$(guest_value GUEST-MSI)" = "msi " ] ||
	fail "after the reboot the guest's ahci does not use one MSI vector (msi_irqs: '$(guest_value GUEST-MSI)')"
[ "$(grep -c "device MSI on" tern-stderr.log)" -gt "$msi_on" ] || fail "tern did not switch MSI on again after the reboot"
guest_run "blkpattern verify /dev/sda 13 $SIZE" 400
expect_status "$run_rc" 0 "after the reboot the pattern did not read back over MSI"
guest_irqs "$MSIPAT" 30
echo "REPORT: after a reboot, AHCI MSI interrupts of the verify: $irqs"
[ "${irqs:-0}" -gt 0 ] || fail "no ITS-PCI-MSI interrupts after the reboot"
guest_poweroff 120
grep "device MSI off: ok" tern-stderr.log || fail "tern did not switch the device's MSI off at exit"
[ "$(guest_count 'TERN-GUEST: init')" -eq 2 ] || fail "expected exactly 2 boots"

step "5. No BAR access came to tern"
traps=$(sed -n 's/.*came to tern: \([0-9]*\) to the MSI-X table and PBA, \([0-9]*\) elsewhere.*/\1 \2/p' tern-stderr.log)
echo "REPORT: AHCI BAR accesses that exited to tern: ${traps% *} MSI-X table/PBA, ${traps#* } elsewhere"
[ "$traps" = "0 0" ] || fail "BAR accesses came to tern (${traps:-no count})"

step "6. Back to the host's ahci: the disk holds the guest's pattern"
for m in $(cat /lab/modules/ahci/load-order); do
	[ -e "/sys/module/$m" ] || insmod "/lab/modules/ahci/$m.ko" || skip "the host cannot load $m (another host kernel?)"
done
pci_bind "$bdf" ''
host_disk_ready /dev/sda 20 "the host's ahci"
host_has_pattern /dev/sda 13 "$SIZE"
echo "guest -> device -> host: $SIZE bytes, fnv1a64 $host_sum on both sides"
