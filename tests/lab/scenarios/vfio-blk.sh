#!/bin/sh
# VFIO passthrough of the vfio host's virtio-blk (QEMU's, behind its SMMUv3,
# with a file of 16 MiB behind it; tests/lab/run, run_vfio_host):
# - refused while virtio-pci has it, the message naming the driver and how
#   to rebind; then handed to vfio-pci through driver_override;
# - the guest's own virtio_blk binds to it, writes a pattern and reads it
#   back (O_DIRECT, so from the device); its MSI-X interrupts arrive through
#   the ITS (ITS-PCI-MSIX counts of its queue grow);
# - snapshot and migrate are refused, naming the device, the guest runs on;
# - its 64-bit prefetchable BAR, mapped write-combining by guest userspace
#   (sysfs resource4_wc: Normal-NC), reads and writes registers correctly;
# - at exit tern's counts show that only MSI-X table/PBA accesses came to
#   tern, none to the rest of the BARs (memslots over the VFIO mmap);
# - given back to virtio-pci, the host reads the guest's pattern from the
#   disk: same checksum.
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
SIZE=16777216

# The passthrough candidate: a modern virtio-blk (1af4:1042).
vfio_blk_fn
dev=/sys/bus/pci/devices/$bdf
[ -e "$dev/iommu_group" ] || skip "$bdf has no IOMMU group (no IOMMU)"
echo "device $bdf, IOMMU group $(basename "$(readlink "$dev/iommu_group")"), driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"

# 1. Refused while another driver has it.
step "1. Refused while another driver has it."
if [ "$(basename "$(readlink "$dev/driver" 2>/dev/null)")" != virtio-pci ]; then
	echo "$bdf" >/sys/bus/pci/drivers/virtio-pci/bind 2>/dev/null
fi
"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" --vfio host="$bdf" \
	</dev/null >refused.log 2>&1
st=$?
cat refused.log
expect_status "$st" 1 "tern did not refuse a device bound to virtio-pci"
grep -q "bound to virtio-pci, not vfio-pci; hand it over: echo $bdf > $dev/driver/unbind" refused.log ||
	fail "the refusal does not name virtio-pci and how to rebind"

# 2. To vfio-pci.
step "2. To vfio-pci."
pci_bind "$bdf" vfio-pci
group=$(basename "$(readlink "$dev/iommu_group")")
[ -c "/dev/vfio/$group" ] || fail "/dev/vfio/$group did not appear"

# 3. The guest drives it.
step "3. The guest drives it."
guest_serve --cpus 2 --memory 256M --vfio host="$bdf" --control "$PWD/ctl.sock" --snapshot-dir "$PWD" --trace
guest_run 'printf "VDA-SECTORS=%s\n" "$(cat /sys/block/vda/size)"; cat /proc/interrupts' 60
[ "$(guest_value VDA-SECTORS)" = $((SIZE / 512)) ] ||
	fail "the guest sees /dev/vda with $(guest_value VDA-SECTORS) sectors, expected $((SIZE / 512))"
guest_blk_irqs 30
irq0=$blk_irqs
guest_blk_roundtrip /dev/vda 7 "$SIZE" 400 "the guest's pattern did not read back from the passed-through disk"
guest_blk_irqs 30
irq1=$blk_irqs
echo "virtio-blk queue interrupts through the ITS: $irq0 before the I/O, $irq1 after"
[ "${irq1:-0}" -gt "${irq0:-0}" ] || fail "no ITS-PCI-MSIX interrupts of the disk's queue during its I/O"

# 4. Snapshot and migration refused, the guest runs on.
step "4. Snapshot and migration refused, the guest runs on."
snapshot_refused ctl.sock "$PWD/snap.tern" "vfio $bdf is a passed-through host device"
ctl_refused ctl.sock "vfio $bdf is a passed-through host device" migrate uri="unix:$PWD/nobody.sock"
guest_run "echo alive" 30
expect_status "$run_rc" 0 "the guest did not keep running after the refusals"

# 5. The Normal-NC path: the device's 64-bit prefetchable BAR 4 (virtio's
step "5. The Normal-NC path: the device's 64-bit prefetchable BAR 4 (virtio's"
# structures; in the guest's 64-bit window) mapped write-combining from
# guest userspace (sysfs resource4_wc), its registers read and written
# correctly through it (driver unbound), and through resource4 (uncached).
guest_run 'for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1042 ] && g=$d; done; echo "GUEST-BAR4=$(sed -n 5p $g/resource)"; echo "${g##*/}" >$g/driver/unbind && barwc $g/resource4_wc && barwc $g/resource4' 60
expect_status "$run_rc" 0 "virtio registers did not read and write correctly through the WC (or UC) mapping of BAR 4"
guest_log | grep "^barwc: .*resource4_wc .*qsize_rw=ok" || fail "barwc did not go through resource4_wc"
# The same registers through both mappings: the same values.
wc=$(guest_log | sed -n 's/^barwc: .*resource4_wc \(feature1=.*\)/\1/p' | tail -n 1 | tr -d '\r')
uc=$(guest_log | sed -n 's/^barwc: .*resource4 \(feature1=.*\)/\1/p' | tail -n 1 | tr -d '\r')
echo "REPORT: BAR 4 registers write-combining (Normal-NC): $wc; uncached: $uc"
[ -n "$wc" ] && [ "$wc" = "$uc" ] || fail "BAR 4 reads differently through resource4_wc ($wc) and resource4 ($uc)"
bar4=$(guest_value GUEST-BAR4)
echo "guest BAR 4: $bar4"
case $bar4 in 0x00000000*) fail "BAR 4 is not in the 64-bit window: $bar4" ;; esac
guest_poweroff 120

# 6. Only MSI-X pages trapped.
step "6. Only MSI-X pages trapped."
grep "guest accesses to its BARs" tern-stderr.log || fail "tern did not report its trapped BAR accesses"
traps=$(sed -n 's/.*came to tern: \([0-9]*\) to the MSI-X table and PBA, \([0-9]*\) elsewhere.*/\1 \2/p' tern-stderr.log)
echo "REPORT: BAR accesses that exited to tern: ${traps% *} MSI-X table/PBA, ${traps#* } elsewhere; queue interrupts $irq0 -> $irq1"
[ "${traps#* }" = 0 ] || fail "BAR accesses outside the MSI-X pages exited to tern (${traps#* })"
[ "${traps% *}" -gt 0 ] || fail "no MSI-X table access came to tern: the table is not trapped"

# 7. Back to the host's virtio: the disk holds the guest's pattern.
step "7. Back to the host's virtio: the disk holds the guest's pattern."
pci_bind "$bdf" ''
host_disk_ready /dev/vda 10 "the host's virtio_blk"
host_has_pattern /dev/vda 7 "$SIZE"
echo "guest -> device -> host: $SIZE bytes, fnv1a64 $host_sum on both sides"
