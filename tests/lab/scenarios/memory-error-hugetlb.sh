#!/bin/sh
# A hardware memory error in RAM backed by 2 MiB host huge pages (issue 18).
# memvictim --huge takes one 2 MiB huge page of the guest: since the guest's
# RAM and the host's huge pages are both 2 MiB aligned, that is exactly one
# host huge page, holding nothing else of the guest's (with base pages, the
# guest's other users of the 511 pages around memvictim's hit the poison
# first and the steps race). tern poisons it, memvictim reads it and dies of
# SIGBUS, tern punches the whole huge page out of the file (counted as one
# page replaced) and says so; the guest takes the huge page again, its kernel
# zeroes all 2 MiB of it, memvictim's pattern reads back; the guest powers off
# cleanly. Skips when the host cannot reserve the huge pages.
# timeout: 300
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap 'guest_dump_logs; hugepages_restore' EXIT

# 256 MiB of 2 MiB pages, and one to take the replaced one's place.
hugepages_reserve 129
guest_serve --cpus 1 --memory 256M,backend=hugetlb --control ctl.sock --allow-fault-injection
guest_run "echo 1 >/proc/sys/vm/nr_hugepages && grep HugePages_Free /proc/meminfo" 30
expect_status "$run_rc" 0 "the guest could not reserve a huge page"
memvictim_poison ctl.sock "--huge /tmp/go"
memvictim_touch
memory_error_contained hugetlb "flags 0x0 (EHWPOISON, SIGBUS BUS_MCEERR_AR) backend=hugetlb: memory error: external data abort injected"
grep "is replaced by a zeroed one" tern-stderr.log || :
grep -q "the poisoned page \[$victim_pa, +0x200000) is replaced by a zeroed one (1 so far); it is a whole huge page" tern-stderr.log ||
	fail "tern did not replace the whole huge page at $victim_pa"
echo "REPORT: hugetlb: memvictim's huge page $victim_pa: SIGBUS ${victim_secs}s after the touch, replaced (0x200000 bytes, pages_replaced 1), reused with its pattern"
guest_poweroff 60
echo "memory-error-hugetlb passed"
