#!/bin/sh
# A passed-through function with no interrupt at all: the vfio host's
# pci-testdev (QEMU's 1b36:0005: a 4 KiB memory BAR, a 256-port I/O BAR,
# interrupt pin 0, neither MSI nor MSI-X). VFIO offers it no INTx (an
# INTx count of 0 for a function without a pin), so tern gives the guest
# no interrupt pin and routes nothing; BAR 0 is a memslot over the VFIO
# mmap; BAR 1, an I/O BAR, is left out with a warning (tern passes no I/O
# BARs through).
# - The guest sees interrupt pin 0 and no IRQ for the function, and BAR 1
#   unassigned.
# - Through /dev/mem at BAR 0's address (busybox devmem; no driver has the
#   function) it runs the device's own first test: a 0 written to byte 0
#   selects it, the header reads back its name ("mmio-no-eventfd"), offset
#   and data byte, the data byte is written there 20 times, and the count
#   the host's QEMU model keeps reads back 20: every write reached the
#   device, none came to tern (0 trapped BAR accesses at exit).
# host: vfio
# timeout: 400
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
WRITES=20

bdf=$(pci_fn vendor 0x1b36 device 0x0005)
[ -n "$bdf" ] || skip "no pci-testdev to pass through (runs on the lab's vfio host)"
[ -e "/sys/bus/pci/devices/$bdf/iommu_group" ] || skip "$bdf has no IOMMU group (no IOMMU)"
pin=$(dd if="/sys/bus/pci/devices/$bdf/config" bs=1 skip=61 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
[ "$pin" = 0 ] || fail "the host's pci-testdev has interrupt pin $pin; this scenario wants a function without one"
pci_bind "$bdf" vfio-pci

step "1. The guest gets the function without an interrupt"
guest_serve --cpus 1 --memory 256M --vfio host="$bdf" --trace
grep "BAR 1 is an I/O BAR; the guest does not get it" tern-stderr.log ||
	fail "tern did not say it leaves the I/O BAR out"
! grep -q "INTx" tern-stderr.log || fail "tern set up INTx for a function without one: $(grep INTx tern-stderr.log)"
FIND='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1b36:0x0005 ] && g=$d; done; [ -n "$g" ] || exit 9'
guest_run "$FIND"'; echo "GUEST-PIN=$(dd if=$g/config bs=1 skip=61 count=1 2>/dev/null | od -An -tu1 | tr -d " ")"; echo "GUEST-IRQ=$(cat $g/irq)"; echo "GUEST-BAR0=$(sed -n 1p $g/resource)"; echo "GUEST-BAR1=$(sed -n 2p $g/resource)"' 60
expect_status "$run_rc" 0 "the guest does not see the passed-through pci-testdev"
echo "REPORT: the guest's view: interrupt pin $(guest_value GUEST-PIN), irq $(guest_value GUEST-IRQ), BAR 0 $(guest_value GUEST-BAR0), BAR 1 $(guest_value GUEST-BAR1)"
[ "$(guest_value GUEST-PIN)" = 0 ] || fail "the guest sees interrupt pin $(guest_value GUEST-PIN)"
[ "$(guest_value GUEST-IRQ)" = 0 ] || fail "the guest has IRQ $(guest_value GUEST-IRQ) for a function without an interrupt"
case $(guest_value GUEST-BAR1) in 0x0000000000000000*) ;; *) fail "the guest got the I/O BAR: $(guest_value GUEST-BAR1)" ;; esac

step "2. The device's own test through BAR 0"
# Bytes 16-30 of the header: the name, as devmem prints each byte (0xHH).
guest_run "$FIND"'; echo 1 >$g/enable || exit 8; b=$(sed -n 1p $g/resource | cut -d" " -f1); devmem $b 8 0 || exit 7; n=""; for i in $(seq 16 30); do n="$n$(devmem $((b + i)) 8 | cut -c3-)"; done; off=$(devmem $((b + 4)) 32); data=$(devmem $((b + 8)) 8); echo "GUEST-NAME=$n"; echo "GUEST-TEST=$off $data"; i=0; while [ $i -lt '"$WRITES"' ]; do devmem $((b + off)) 8 $data; i=$((i + 1)); done; echo "GUEST-COUNT=$(($(devmem $((b + 12)) 32)))"' 120
expect_status "$run_rc" 0 "the guest could not drive BAR 0 through /dev/mem"
want=$(printf 'mmio-no-eventfd' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
echo "REPORT: pci-testdev test 0 through BAR 0: name $(guest_value GUEST-NAME), offset and data $(guest_value GUEST-TEST), count after $WRITES writes: $(guest_value GUEST-COUNT)"
[ "$(guest_value GUEST-NAME)" = "$want" ] || fail "the header's name reads $(guest_value GUEST-NAME), not mmio-no-eventfd ($want)"
[ "$(guest_value GUEST-COUNT)" = "$WRITES" ] ||
	fail "the device counted $(guest_value GUEST-COUNT) of the guest's $WRITES writes"
guest_poweroff 120
expect_status "$status" 0 "tern's exit after the guest's poweroff"

step "3. None of it came to tern"
traps=$(sed -n 's/.*came to tern: \([0-9]*\) to the MSI-X table and PBA, \([0-9]*\) elsewhere.*/\1 \2/p' tern-stderr.log)
echo "REPORT: BAR accesses that exited to tern: ${traps% *} MSI-X table/PBA, ${traps#* } elsewhere"
[ -n "$traps" ] && [ "${traps#* }" = 0 ] ||
	fail "BAR accesses came to tern (${traps:-no count}): BAR 0 is not served by its memslot"
pci_bind "$bdf" ''
echo "vfio-nointx: ok"
