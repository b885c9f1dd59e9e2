#!/bin/sh
# --pci-testdev (QEMU's PCI test function, as kvm-unit-tests' pci-test uses
# it) in a Linux guest: guest-images/tools/pcitestdev runs its three tests on
# the memory BAR and, through /dev/port, on the I/O BAR. Against real KVM:
# the no-eventfd test's 16 writes reach tern and are counted; the wildcard
# and datamatch tests' writes are taken by KVM's ioeventfds (count 0), which
# tern placed at the BAR addresses Linux assigned (I/O ports: the I/O
# window's CPU addresses).
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT

guest_serve --cpus 1 --memory 256M --pci-testdev
guest_run 'lspci -n 2>/dev/null | grep -i 1b36; pcitestdev' 120
expect_status "$run_rc" 0 "pcitestdev could not drive the function"
mem=$(guest_value PCITESTDEV-MEM) io=$(guest_value PCITESTDEV-IO)
[ "$mem" = 16,0,0 ] ||
	fail "memory BAR: counts $mem, expected 16,0,0 (no-eventfd, wildcard-eventfd, datamatch-eventfd)"
[ "$io" = 16,0,0 ] ||
	fail "I/O BAR: counts $io, expected 16,0,0 (none: the guest has no /dev/port)"
! grep -q "cannot place the ioeventfd" tern-stderr.log ||
	fail "tern could not place an ioeventfd: $(grep -m1 'cannot place' tern-stderr.log)"
guest_poweroff 60
