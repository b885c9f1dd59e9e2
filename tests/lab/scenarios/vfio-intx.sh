#!/bin/sh
# INTx of a passed-through virtio-blk: the guest boots with pci=nomsi, so its
# virtio_pci driver takes the function's legacy interrupt (INTA, which tern's
# config space shows) on the SPI the bridge's interrupt-map gives its slot;
# tern wires VFIO's INTx trigger to that SPI as a KVM irqfd whose resample
# eventfd unmasks the line through VFIO, and the guest writes and reads a
# pattern with the interrupt count of that line growing; its BAR accesses
# never come to tern.
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
SIZE=16777216

vfio_blk_fn
dev=/sys/bus/pci/devices/$bdf
[ "$(cat "$dev/irq")" != 0 ] || skip "$bdf has no legacy interrupt on this host"
pci_bind "$bdf" vfio-pci

step "1. boot with pci=nomsi"
GUEST_CMDLINE="$GUEST_CMDLINE pci=nomsi" guest_serve --cpus 2 --memory 256M --vfio host="$bdf" --trace
grep "INTx on (SPI" tern-stderr.log || fail "tern did not wire the device's INTx"
# The guest's function, its IRQ and the line's count; INTA of slot s is
# SPI 4 + s % 4 (tern's interrupt-map), GIC INTID 32 + that.
INTX='g=; for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1042 ] && g=$d; done; irq=$(cat $g/irq); echo "GUEST-FN=${g##*/} PIN=$(od -An -tu1 -j61 -N1 $g/config | tr -d " ") MSI=$(ls $g/msi_irqs 2>/dev/null | wc -l) IRQ=$irq"; grep "^ *$irq:" /proc/interrupts; awk -v i="$irq:" "\$1 == i { for (k = 2; k <= NF && \$k ~ /^[0-9]+\$/; k++) s += \$k } END { print \"INTXCOUNT=\" s + 0 }" /proc/interrupts'
guest_run "$INTX" 60
fn=$(guest_log | sed -n 's/^GUEST-FN=\([^ ]*\) .*/\1/p' | tail -n 1)
line=$(guest_log | grep "^GUEST-FN=" | tail -n 1)
echo "guest: $line"
case $line in *" PIN=1 "*) ;; *) fail "the guest does not see INTA in the function's config space: $line" ;; esac
case $line in *" MSI=0 "*) ;; *) fail "the guest uses MSI/MSI-X despite pci=nomsi: $line" ;; esac
slot=$(printf '%d' "0x$(echo "$fn" | cut -d: -f3 | cut -d. -f1)")
intid=$((32 + 4 + slot % 4))
guest_log | grep -E "^ *[0-9]+:.* $intid +Level" || fail "the guest's IRQ of $fn is not GIC INTID $intid, level (slot $slot's INTA)"
c0=$(guest_value INTXCOUNT)

step "2. I/O through INTx"
guest_blk_roundtrip /dev/vda 9 "$SIZE" 400 \
	"the guest's pattern did not read back from the passed-through disk over INTx"
guest_run "$INTX" 60
c1=$(guest_value INTXCOUNT)
echo "REPORT: INTx (GIC INTID $intid) interrupts of the passed-through disk: $c0 before the I/O, $c1 after"
[ "${c1:-0}" -gt "${c0:-0}" ] || fail "the INTx line's count did not grow during the I/O ($c0 -> $c1)"
! grep -q "device MSI-X on" tern-stderr.log || fail "the device's MSI-X was switched on under pci=nomsi"
guest_poweroff 120
# The driver's register accesses (the ISR read that lowers the line
# included) stay in KVM: none of them came to tern.
traps=$(sed -n 's/.*came to tern: \([0-9]*\) to the MSI-X table and PBA, \([0-9]*\) elsewhere.*/\2/p' tern-stderr.log)
echo "REPORT: BAR accesses outside the MSI-X pages that exited to tern: ${traps:-none reported}"
[ "$traps" = 0 ] || fail "BAR accesses outside the MSI-X pages exited to tern (${traps:-no count})"
