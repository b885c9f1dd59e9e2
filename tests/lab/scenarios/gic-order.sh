#!/bin/sh
# From tern's own trace: the vGIC and ITS are finalised (CTRL_INIT) before
# any vCPU's first KVM_RUN, and every vCPU thread is released by one barrier.
# Then SIGTERM stops the VM cleanly with status 128+15.
# timeout: 120
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

guest_start --cpus 4 --memory 256M --trace --cmdline "$GUEST_CMDLINE"
wait_for tern.log "vcpu 3: first KVM_RUN" 60
kill -TERM "$tern_pid"
guest_wait_exit 30
cat tern.log
expect_status "$status" 143 "SIGTERM must stop tern with status 143"

line_of() { grep -nF -- "$1" tern.log | head -n 1 | cut -d: -f1; }
init=$(line_of "gic: CTRL_INIT done")
created=$(line_of "vcpus: 4 created")
released=$(line_of "threads released")
[ -n "$init" ] || fail "no CTRL_INIT in the trace"
[ -n "$created" ] && [ "$created" -lt "$init" ] || fail "vCPUs must all exist before CTRL_INIT"
[ -n "$released" ] && [ "$init" -lt "$released" ] || fail "threads released before CTRL_INIT"
for v in 0 1 2 3; do
	run=$(line_of "vcpu $v: first KVM_RUN")
	[ -n "$run" ] || fail "vcpu $v never entered KVM_RUN"
	[ "$released" -lt "$run" ] || fail "vcpu $v entered KVM_RUN before the release"
done
grep -q "Terminated received: stopping the VM" tern.log || fail "no message for SIGTERM"
