#!/bin/sh
# A line typed on the console reaches the guest and its answer comes back;
# unclaimed MMIO reads as zero with a warning; with --no-reboot a guest reboot
# makes tern exit with status 3.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

guest_start --cpus 1 --memory 256M --no-reboot --cmdline "$GUEST_CMDLINE tern.action=serve"
wait_for tern.log "TERN-GUEST: ready" 200
guest_send "echo hello from the lab 42"
wait_for tern.log "TERN-GUEST: echo hello from the lab 42" 30
guest_send "peek 0x07000000"
wait_for tern.log "TERN-GUEST: peek 0x07000000 = 0x00000000" 30
grep -q "unclaimed MMIO read of 4 bytes at 0x7000000" tern.log ||
	fail "no warning for the unclaimed MMIO read"
guest_send reboot
guest_wait_exit 60
cat tern.log
expect_status "$status" 3 "--no-reboot: a guest reboot must exit with status 3"
grep -q "the guest asked for a reset" tern.log || fail "no message for the reset"
