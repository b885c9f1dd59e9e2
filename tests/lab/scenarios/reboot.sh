#!/bin/sh
# The guest reboots once (PSCI SYSTEM_RESET): tern restarts it in place, the
# second boot powers off, tern exits 0.
# timeout: 420
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

guest_start --cpus 2 --memory 256M --cmdline "$GUEST_CMDLINE tern.action=serve"
wait_for tern.log "TERN-GUEST: ready" 200
guest_send reboot
wait_for tern.log "TERN-GUEST: init" 5	# already there from the first boot
_boots=0
_end=$(($(date +%s) + $(lab_scaled 200)))
while [ "$(guest_count 'TERN-GUEST: ready')" -lt 2 ]; do
	[ "$(date +%s)" -lt "$_end" ] || { cat tern.log; fail "the guest did not come back after its reboot"; }
	sleep 0.5
done
guest_send poweroff
guest_wait_exit 60
cat tern.log
expect_status "$status" 0 "tern did not exit 0 after reboot + poweroff"
[ "$(guest_count 'TERN-GUEST: init')" -eq 2 ] || fail "expected exactly 2 boots"
