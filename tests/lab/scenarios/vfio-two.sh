#!/bin/sh
# Two devices passed through at once: the vfio host's virtio-blk and its NVMe
# controller (a non-virtio device: the guest's nvme driver, loaded from
# /lib/modules/nvme). The guest writes a pattern on each at the same time and
# reads both back (O_DIRECT: from the devices); both take MSI-X interrupts
# through the ITS; at exit tern reports, per device, which BAR accesses came
# to it. Guest RAM is a memfd (backend=memfd): VFIO pins it for both devices'
# DMA through tern's mapping, as it pins anonymous RAM.
# host: vfio
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
SIZE=16777216

blk=$(pci_fn vendor 0x1af4 device 0x1042)
nvme=$(pci_fn class 0x010802)
[ -n "$blk" ] && [ -n "$nvme" ] || skip "needs a virtio-blk and an NVMe function to pass through (the lab's vfio host)"
for bdf in $blk $nvme; do pci_bind "$bdf" vfio-pci; done

guest_serve --cpus 2 --memory 256M,backend=memfd --vfio host="$blk" --vfio host="$nvme" --trace
grep -q "memory: 256 MiB at .*, backend memfd" tern-stderr.log || fail "guest RAM is not on a memfd"
[ "$(grep -c "256 MiB of guest RAM mapped for DMA" tern-stderr.log)" = 2 ] ||
	fail "guest RAM was not mapped for both devices' DMA"
guest_run 'for m in $(cat /lib/modules/nvme/load-order); do insmod /lib/modules/nvme/$m.ko || exit 1; done; n=0; while [ ! -b /dev/nvme0n1 ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done; [ -b /dev/nvme0n1 ] && [ -b /dev/vda ]' 120
expect_status "$run_rc" 0 "the guest did not get /dev/nvme0n1 and /dev/vda (nvme driver, two passed-through disks)"
guest_run "blkpattern write /dev/vda 11 $SIZE & a=\$!; blkpattern write /dev/nvme0n1 12 $SIZE; b=\$?; wait \$a && [ \$b = 0 ]" 600
expect_status "$run_rc" 0 "the guest could not write both disks at once"
guest_run "blkpattern verify /dev/vda 11 $SIZE && blkpattern verify /dev/nvme0n1 12 $SIZE" 600
expect_status "$run_rc" 0 "the patterns did not read back from both devices"
guest_run 'grep ITS-PCI-MSIX /proc/interrupts' 30
guest_log | grep -q "ITS-PCI-MSIX.*nvme0q" || fail "no NVMe queue interrupts through the ITS"
guest_log | grep -q "ITS-PCI-MSIX.*req" || fail "no virtio-blk queue interrupts through the ITS"
guest_poweroff 120
[ "$(grep -c "guest accesses to its BARs" tern-stderr.log)" = 2 ] || fail "tern did not report both devices' trapped BAR accesses"
grep "guest accesses to its BARs" tern-stderr.log | sed 's/^/REPORT: /'
grep "vfio $blk: guest accesses to its BARs.* 0 elsewhere" tern-stderr.log ||
	fail "virtio-blk BAR accesses outside the MSI-X pages exited to tern"
