#!/bin/sh
# --strict-mmio: a guest read of unclaimed MMIO gets an external data abort
# (the guest kills the process that made it with SIGBUS) and the VM survives.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

guest_start --cpus 1 --memory 256M --strict-mmio --cmdline "$GUEST_CMDLINE tern.action=serve"
wait_for tern.log "TERN-GUEST: ready" 200
guest_send "peek 0x07000000"
wait_for tern.log "TERN-GUEST: peek 0x07000000 failed" 30
grep -q "external data abort injected" tern.log || fail "tern did not report the injected abort"
guest_send "echo still alive"
wait_for tern.log "TERN-GUEST: echo still alive" 30
guest_send poweroff
guest_wait_exit 60
cat tern.log
expect_status "$status" 0 "tern did not exit 0 after poweroff"
