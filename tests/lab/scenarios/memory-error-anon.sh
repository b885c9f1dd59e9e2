#!/bin/sh
# A hardware memory error in anonymous RAM (the default backend) (issue 6): memvictim in the
# guest locks a page and prints its physical address; tern poisons the host page
# behind it (control command inject-memory-error, MADV_HWPOISON); memvictim then
# reads it. KVM sends the vCPU thread SIGBUS BUS_MCEERR_AR and KVM_RUN returns EINTR;
# tern translates the host address to the guest's, injects an external data abort into that vCPU and
# counts it; the guest kills memvictim with SIGBUS and keeps running.
# timeout: 300
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M,backend=anon --control ctl.sock
"$TERN" ctl ctl.sock status | grep -q '"memory_backend": "anon"' ||
	fail "status does not report the anon backend"
memvictim_poison ctl.sock
memvictim_touch
expect_status "${victim_exit:-none}" 135 "memvictim did not die of SIGBUS"
guest_log | grep -q "^memvictim: SIGBUS after .* si_addr" || fail "memvictim did not report its SIGBUS"
grep -q "flags 0x0 (EHWPOISON, SIGBUS BUS_MCEERR_AR) backend=anon: memory error: external data abort injected" tern-stderr.log ||
	fail "tern did not log the memory fault (SIGBUS) and the injected abort"
grep -q "bogus" tern-stderr.log && fail "tern found the annotation bogus"
guest_run "echo alive" 30
expect_status "$run_rc" 0 "the guest did not keep running after the memory error"
"$TERN" ctl ctl.sock status >status.out || fail "tern ctl status failed"
cat status.out
grep -q '"memory_errors": 1' status.out || fail "status does not count one memory error"
# The poisoned page goes back to the guest's allocator; a later use of it may
# crash the guest. Nothing more to check: stop here.
kill -KILL "$tern_pid"
echo "memory-error-anon passed"
