#!/bin/sh
# A hostile guest driver (virtio-bad, guest-images/tools) takes the virtio-rng
# device from its driver and posts bad descriptors: an address far outside RAM,
# a looping chain, an indirect table with a bogus length, an out-of-range head.
# tern must not crash or hang: it still runs, the device comes back after a
# reset and serves a good request, the guest still answers, and it powers off
# cleanly (exit status 0).
# timeout: 480
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT

guest_serve --cpus 2 --memory 256M
guest_run virtio-bad 240
kill -0 "$tern_pid" 2>/dev/null || fail "tern died during virtio-bad"
expect_status "$run_rc" 0 "virtio-bad could not run its cases"
grep -q "virtio-bad: done" tern.log || fail "virtio-bad did not finish"
for c in good a b c d good-again; do
	grep -q "virtio-bad: case $c: status=" tern.log || fail "virtio-bad: no result for case $c"
done
grep -q "virtio-bad: case good: .*verdict=ok" tern.log ||
	fail "a good request before the bad ones got no data: virtio-bad's set-up does not work with tern"
grep -q "virtio-bad: case good-again: .*verdict=ok" tern.log ||
	fail "after the bad descriptors and a reset, the device no longer serves a good request"
! grep "verdict=suspicious" tern.log ||
	fail "the device reported data written through a bad descriptor"
guest_send "echo alive"
wait_for tern.log "TERN-GUEST: echo alive" 60
guest_poweroff 60
