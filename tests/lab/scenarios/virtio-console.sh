#!/bin/sh
# --vconsole pty: tern prints "virtio-console port on /dev/pts/N"; a line the
# host writes into that pty comes out of the guest's /dev/hvc0, and a line the
# guest writes into /dev/hvc0 comes out of the pty.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT
# Opening the pty makes it our controlling terminal (the lab gives each scenario
# its own session): tern closing its side at exit would then kill us by SIGHUP.
trap '' HUP

guest_serve --cpus 1 --memory 256M --vconsole pty
pts=$(sed -n 's/.*virtio-console port on \(\/dev\/pts\/[0-9][0-9]*\).*/\1/p' tern-stderr.log | head -n 1)
[ -n "$pts" ] || fail "tern did not print 'virtio-console port on /dev/pts/N'"
[ -c "$pts" ] || fail "$pts is not a character device"
echo "virtio-console on $pts"
# Our end raw and without echo: an echo would send the guest's output back to it.
exec 4<>"$pts"
stty raw -echo <&4 || fail "cannot set $pts to raw mode"

# Host -> guest. The guest's hvc0 goes raw too (its termios resets on close),
# then says HVC-OPEN; only then is the line written.
guest_send 'run exec </dev/hvc0; stty raw -echo; printf "HVC-%s\n" OPEN; head -n 1 | sed "s/^/HVC-GOT=/"'
wait_for tern.log "HVC-OPEN" 60
printf 'from-host-4711\n' >&4
wait_for tern.log "TERN-GUEST: run rc=" 60
[ "$(guest_value HVC-GOT)" = from-host-4711 ] ||
	fail "the guest read '$(guest_value HVC-GOT)' from /dev/hvc0, expected from-host-4711"

# Guest -> host.
timeout "$(lab_scaled 60)" head -n 1 <&4 >got.txt &
reader=$!
guest_run 'echo from-guest-4712 >/dev/hvc0' 60
expect_status "$run_rc" 0 "the guest could not write /dev/hvc0"
wait "$reader"
got=$(tr -d '\r' <got.txt)
[ "$got" = from-guest-4712 ] || fail "the host read '$got' from $pts, expected from-guest-4712"
exec 4<&-
guest_poweroff 60
