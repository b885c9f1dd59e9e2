#!/bin/sh
# A hardware memory error in anonymous RAM (the default backend) (issue 6): memvictim in the
# guest locks a page and prints its physical address; tern poisons the host page
# behind it (control command inject-memory-error, MADV_HWPOISON); memvictim then
# reads it. KVM sends the vCPU thread SIGBUS BUS_MCEERR_AR and KVM_RUN returns EINTR;
# tern translates the host address to the guest's, injects an external data abort into that vCPU and
# counts it; the guest kills memvictim with SIGBUS and keeps running.
# A second error, in a new memvictim in the same guest, goes the same way (a
# host sees more than one over a guest's life): status then counts two.
# timeout: 300
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

memory_error_survived anon "flags 0x0 (EHWPOISON, SIGBUS BUS_MCEERR_AR) backend=anon: memory error: external data abort injected" 2
echo "memory-error-anon passed"
