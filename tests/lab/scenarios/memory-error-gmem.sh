#!/bin/sh
# A hardware memory error in guest_memfd-backed RAM (issue 6): memvictim in the
# guest locks a page and prints its physical address; tern poisons the host page
# behind it (control command inject-memory-error, MADV_HWPOISON); memvictim then
# reads it. KVM_RUN fails with EHWPOISON and KVM_EXIT_MEMORY_FAULT; tern
# checks the annotation, injects an external data abort into that vCPU and
# counts it; the guest kills memvictim with SIGBUS and keeps running.
# A second error, in a new memvictim in the same guest, goes the same way (a
# host sees more than one over a guest's life): status then counts two.
# timeout: 300
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
host_has_guest_memfd || host_lacks "guest_memfd (KVM_CAP_GUEST_MEMFD with MMAP|INIT_SHARED)"
trap 'guest_dump_logs' EXIT

memory_error_survived guest_memfd "flags 0x0 (EHWPOISON) backend=guest_memfd: memory error: external data abort injected" 2
echo "memory-error-gmem passed"
