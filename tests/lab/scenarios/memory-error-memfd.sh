#!/bin/sh
# A hardware memory error in shared RAM, a memfd (issue 18): the guest process
# that touched the poisoned page dies of SIGBUS; tern punches the page out of
# the file and out of its own mapping; the guest gives the freed page to its
# next user, which finds healthy memory; a second error, in a new memvictim in
# the same guest, goes the same way (status then counts two); the guest
# powers off cleanly. First:
# inject-memory-error is refused without --allow-fault-injection (a paused VM:
# no boot needed). hugetlb has its own scenario, memory-error-hugetlb: a
# poisoned huge page takes the guest's 511 other pages in it along, so there
# the victim owns a whole guest huge page.
# timeout: 420
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" --control refuse.sock --paused \
	</dev/null >tern-refuse.log 2>&1 &
refuse_pid=$!
i=0
until [ -S refuse.sock ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
"$TERN" ctl refuse.sock inject-memory-error gpa=0x80000000 >refused.out 2>&1
st=$?
cat refused.out
expect_status "$st" 1 "inject-memory-error without --allow-fault-injection was not refused"
grep -q "allow-fault-injection" refused.out || fail "the refusal does not name --allow-fault-injection"
"$TERN" ctl refuse.sock quit >/dev/null || fail "tern ctl quit failed"
wait "$refuse_pid"
expect_status "$?" 0 "tern did not exit 0 after quit"

memory_error_survived memfd "flags 0x0 (EHWPOISON, SIGBUS BUS_MCEERR_AR) backend=memfd: memory error: external data abort injected" 2
echo "memory-error-memfd passed"
