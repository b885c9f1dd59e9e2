#!/bin/sh
# A virtio ring on a poisoned page (issue 18). virtio-bad (guest-images/tools)
# takes the virtio-rng device from its driver, checks a good request, then sets
# queue 0 up with one request made available but not notified and prints the
# avail ring's physical address; tern poisons the host page behind it
# (inject-memory-error); virtio-bad then rings the doorbell. tern's thread
# that serves the queue reads the poisoned ring: its SIGBUS handler replaces
# the page by a zeroed one, the virtqueue sees its ring was lost (-EHWPOISON)
# and the device reports DEVICE_NEEDS_RESET (or fails the request). tern keeps
# running, status counts one error and one replaced page, and after a reset the
# guest's driver sets the queue up again on the same (replaced) page and gets
# random data: the device works again. The guest then powers off cleanly.
# timeout: 300
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M --control ctl.sock --allow-fault-injection
guest_run "(virtio-bad --poisoned-ring /tmp/go; echo \"virtio-bad-exit=\$?\") &" 30
wait_for tern.log "virtio-bad: ring avail_pa=" 120
guest_log | grep "^virtio-bad:" || :
grep -q "virtio-bad: case good: .*verdict=ok" tern.log ||
	fail "a good request before the poison got no data: virtio-bad's set-up does not work with tern"
ring_pa=$(guest_log | sed -n 's/^virtio-bad: ring avail_pa=\(0x[0-9a-f]*\).*/\1/p' | tail -n 1)
[ -n "$ring_pa" ] || fail "virtio-bad printed no ring address"
echo "the avail ring's page: $ring_pa"
poison_page ctl.sock "$ring_pa"

guest_send "run touch /tmp/go"
wait_for tern.log "virtio-bad: done" 120
guest_log | grep "^virtio-bad: case" || :
kill -0 "$tern_pid" 2>/dev/null || fail "tern died of the poisoned ring"
line=$(guest_log | grep "^virtio-bad: case poisoned-ring: status=")
[ -n "$line" ] || fail "virtio-bad printed no result for the poisoned ring"
case $line in
*verdict=needs-reset*) echo "REPORT: the device reported NEEDS_RESET: $line" ;;
*verdict=failed*) echo "REPORT: the device failed the request: $line" ;;
*) fail "the device claims to have served a request from a poisoned ring: $line" ;;
esac
grep "memory error" tern-stderr.log || :
grep -q "read the poisoned page at gpa $ring_pa (0x1000 bytes): replaced by a zeroed page" tern-stderr.log ||
	fail "tern did not replace the poisoned ring page at $ring_pa"
grep -q "virtio-rng: queue 0: the driver's ring is invalid" tern-stderr.log ||
	fail "tern did not log the lost ring"
"$TERN" ctl ctl.sock status >status.out || fail "tern ctl status failed"
cat status.out
grep -Eq '"memory_errors": 1[,} ]' status.out || fail "status does not count one memory error"
grep -Eq '"pages_replaced": 1[,} ]' status.out || fail "status does not count one replaced page"
grep -q "virtio-bad: case good-after-poison: .*verdict=ok" tern.log ||
	fail "after the reset, the device does not serve a request on the replaced ring page"
echo "REPORT: status memory_errors=1 pages_replaced=1; $(guest_log | grep '^virtio-bad: case good-after-poison')"
wait_for tern.log "virtio-bad-exit=0" 30
guest_send "echo alive"
wait_for tern.log "TERN-GUEST: echo alive" 60
guest_poweroff 60
echo "memory-error-ring passed"
