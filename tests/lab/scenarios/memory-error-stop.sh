#!/bin/sh
# The memory-fault repeat guard (issue 6): with --memory-errors stop nothing is
# injected for a poisoned page, so the vCPU that touched it faults on it again
# at each KVM_RUN. When it came back 3 times (--memory-fault-retries 3) tern
# stops the VM with a diagnostic naming the vCPU, gpa, size, flags and errno,
# and exits 5. Once with anon RAM (the SIGBUS way in), once with guest_memfd
# (KVM_EXIT_MEMORY_FAULT with EHWPOISON).
# timeout: 360
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

guard_fires() { # BACKEND HOW
	guest_serve --cpus 1 --memory "256M,backend=$1" --memory-errors stop --memory-fault-retries 3 \
		--control ctl.sock --allow-fault-injection
	memvictim_poison ctl.sock
	memvictim_touch
	[ -z "$victim_exit" ] || fail "backend=$1: memvictim ended (status $victim_exit): the VM should have stopped"
	guest_wait_exit 30
	expect_status "$status" 5 "backend=$1: tern did not exit with the memory-fault status"
	grep -q "backend=$1: memory error, not injected (--memory-errors stop)" tern-stderr.log ||
		fail "backend=$1: tern did not say the memory error was not injected"
	grep -q "vcpu 0: gpa $victim_pa size 0x1000 flags 0x0 ($2): the same memory fault came back 3 times in a row without progress (--memory-fault-retries 3); stopping the VM" tern-stderr.log ||
		fail "backend=$1: no repeat-guard diagnostic naming vCPU, gpa, size, flags and errno"
	grep -q "external data abort injected" tern-stderr.log &&
		fail "backend=$1: an abort was injected under --memory-errors stop"
	grep -q "replaced by a zeroed one" tern-stderr.log &&
		fail "backend=$1: the page was replaced under --memory-errors stop (the guest was told nothing)"
	grep "came back" tern-stderr.log
	for f in tern.log tern-stderr.log; do mv "$f" "$1-$f"; done
}

guard_fires anon "EHWPOISON, SIGBUS BUS_MCEERR_AR"
host_has_guest_memfd || host_lacks "guest_memfd (KVM_CAP_GUEST_MEMFD with MMAP|INIT_SHARED): the anon case passed"
guard_fires guest_memfd "EHWPOISON"
echo "memory-error-stop passed"
