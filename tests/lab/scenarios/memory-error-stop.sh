#!/bin/sh
# The memory-fault repeat guard (issue 6): with --memory-errors stop nothing is
# injected for a poisoned page, so the vCPU that touched it faults on it again
# at each KVM_RUN. When it came back 3 times (--memory-fault-retries 3) tern stops the VM
# with a diagnostic naming the vCPU, gpa, size, flags and errno, and exits 5.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M --memory-errors stop --memory-fault-retries 3 --control ctl.sock
memvictim_poison ctl.sock
memvictim_touch
[ -z "$victim_exit" ] || fail "memvictim ended (status $victim_exit): the VM should have stopped"
guest_wait_exit 30
expect_status "$status" 5 "tern did not exit with the memory-fault status"
grep -q "not injected (--memory-errors stop)" tern-stderr.log ||
	fail "tern did not say the memory error was not injected"
grep -q "vcpu 0: gpa $victim_pa size 0x1000 flags 0x0 (EHWPOISON, SIGBUS BUS_MCEERR_AR): the same memory fault came back 3 times in a row without progress (--memory-fault-retries 3); stopping the VM" tern-stderr.log ||
	fail "no repeat-guard diagnostic naming vCPU, gpa, size, flags and errno"
grep -q "external data abort injected" tern-stderr.log && fail "an abort was injected under --memory-errors stop"
echo "memory-error-stop passed"
