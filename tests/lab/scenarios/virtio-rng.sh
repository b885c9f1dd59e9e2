#!/bin/sh
# virtio-rng: it is the guest's current hardware RNG, and 64 KiB read from
# /dev/hwrng are random-looking (nearly no zero bytes; two reads differ).
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT

guest_serve --cpus 1 --memory 256M
guest_run 'printf "RNG-CURRENT=%s\n" "$(cat /sys/class/misc/hw_random/rng_current)"' 60
case $(guest_value RNG-CURRENT) in
*virtio*) ;;
*) fail "the current hwrng is '$(guest_value RNG-CURRENT)', not virtio" ;;
esac
guest_run 'head -c 65536 /dev/hwrng >/tmp/r1 && head -c 65536 /dev/hwrng >/tmp/r2 && printf "RNG-BYTES=%s\nRNG-NONZERO=%s\n" "$(wc -c </tmp/r1)" "$(tr -d "\000" </tmp/r1 | wc -c)" && blkpattern sum /tmp/r1 && blkpattern sum /tmp/r2' 180
expect_status "$run_rc" 0 "reading /dev/hwrng failed"
[ "$(guest_value RNG-BYTES)" = 65536 ] || fail "read $(guest_value RNG-BYTES) bytes from /dev/hwrng, expected 65536"
# Random bytes: about 1 in 256 is zero (expect ~256 zeros; all zeros = broken).
[ "$(guest_value RNG-NONZERO)" -gt 64000 ] ||
	fail "only $(guest_value RNG-NONZERO) of 65536 bytes from /dev/hwrng are non-zero"
s1=$(pattern_sum tern.log "sum /tmp/r1") s2=$(pattern_sum tern.log "sum /tmp/r2")
[ -n "$s1" ] && [ "$s1" != "$s2" ] || fail "two reads of /dev/hwrng gave the same bytes ($s1)"
guest_poweroff 60
