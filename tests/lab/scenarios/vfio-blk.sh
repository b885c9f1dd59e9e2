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
# Progress on the host's console too (the scenario's log shows only at its end).
step() { echo "$*"; [ -w /dev/console ] && echo "LAB-PROGRESS vfio-blk: $*" >/dev/console; :; }
BP=$LAB_BIN/blkpattern
SIZE=16777216

# The passthrough candidate: a modern virtio-blk (1af4:1042).
bdf=''
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1042 ] && bdf=${d##*/} && break
done
[ -n "$bdf" ] || skip "no virtio-blk PCI function to pass through (runs on the lab's vfio host)"
dev=/sys/bus/pci/devices/$bdf
[ -e "$dev/iommu_group" ] || skip "$bdf has no IOMMU group (no IOMMU)"
echo "device $bdf, IOMMU group $(basename "$(readlink "$dev/iommu_group")"), driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"

bind_to() { # DRIVER ('' = the default one)
	[ -e "$dev/driver" ] && { echo "$bdf" >"$dev/driver/unbind" || fail "cannot unbind $bdf"; }
	echo "$1" >"$dev/driver_override" || fail "cannot set driver_override of $bdf"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	[ -n "$1" ] || return 0
	[ "$(basename "$(readlink "$dev/driver")")" = "$1" ] || fail "$bdf did not bind to $1"
}

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
bind_to vfio-pci
group=$(basename "$(readlink "$dev/iommu_group")")
[ -c "/dev/vfio/$group" ] || fail "/dev/vfio/$group did not appear"

# 3. The guest drives it.
step "3. The guest drives it."
guest_serve --cpus 2 --memory 256M --vfio host="$bdf" --control "$PWD/ctl.sock" --snapshot-dir "$PWD" --trace
guest_run 'printf "VDA-SECTORS=%s\n" "$(cat /sys/block/vda/size)"; cat /proc/interrupts' 60
[ "$(guest_value VDA-SECTORS)" = $((SIZE / 512)) ] ||
	fail "the guest sees /dev/vda with $(guest_value VDA-SECTORS) sectors, expected $((SIZE / 512))"
COUNT_IRQS='awk "/ITS-PCI-MSIX/ && /req/ { for (i = 2; i <= NF && \$i ~ /^[0-9]+\$/; i++) s += \$i } END { print \"BLKIRQ=\" s + 0 }" /proc/interrupts'
guest_run "$COUNT_IRQS" 30
irq0=$(guest_value BLKIRQ)
guest_run "blkpattern write /dev/vda 7 $SIZE && blkpattern verify /dev/vda 7 $SIZE" 400
expect_status "$run_rc" 0 "the guest's pattern did not read back from the passed-through disk"
guest_sum=$(pattern_sum tern.log "write /dev/vda")
[ "$guest_sum" = "$(pattern_sum tern.log "verify /dev/vda")" ] || fail "the guest wrote and read back different checksums"
guest_run "$COUNT_IRQS" 30
irq1=$(guest_value BLKIRQ)
echo "virtio-blk queue interrupts through the ITS: $irq0 before the I/O, $irq1 after"
[ "${irq1:-0}" -gt "${irq0:-0}" ] || fail "no ITS-PCI-MSIX interrupts of the disk's queue during its I/O"

# 4. Snapshot and migration refused, the guest runs on.
step "4. Snapshot and migration refused, the guest runs on."
"$TERN" ctl ctl.sock snapshot path="$PWD/snap.tern" >snap.out 2>&1
st=$?
cat snap.out
expect_status "$st" 1 "snapshot with a passed-through device was not refused"
grep -q "vfio $bdf is a passed-through host device" snap.out || fail "the snapshot refusal does not name the device"
[ ! -e snap.tern ] && [ ! -e snap.tern.part ] || fail "a snapshot file was written"
"$TERN" ctl ctl.sock migrate uri="unix:$PWD/nobody.sock" >mig.out 2>&1
st=$?
cat mig.out
expect_status "$st" 1 "migrate with a passed-through device was not refused"
grep -q "vfio $bdf is a passed-through host device" mig.out || fail "the migrate refusal does not name the device"
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
bind_to ''
n=0
while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
[ -b /dev/vda ] || fail "the host's virtio_blk did not bring the disk back as /dev/vda"
"$BP" verify /dev/vda 7 "$SIZE" >host-verify.txt
st=$?
cat host-verify.txt
expect_status "$st" 0 "the disk does not hold what the guest wrote"
host_sum=$(pattern_sum host-verify.txt "verify /dev/vda")
[ -n "$guest_sum" ] && [ "$guest_sum" = "$host_sum" ] ||
	fail "checksums differ: guest wrote ${guest_sum:-none}, host reads ${host_sum:-none}"
echo "guest -> device -> host: $SIZE bytes, fnv1a64 $host_sum on both sides"
