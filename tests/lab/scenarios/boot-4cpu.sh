#!/bin/sh
# Four vCPUs, 1 GiB: every secondary comes up through PSCI CPU_ON, the guest
# sees 4 CPUs and about 1 GiB, powers off, tern exits 0.
# timeout: 360
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

"$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 4 --memory 1G \
	--cmdline "$GUEST_CMDLINE" </dev/null >tern.log 2>&1
status=$?
cat tern.log
expect_status "$status" 0 "tern did not exit 0 after the guest's poweroff"
grep -q "^TERN-GUEST: cpus=4 " tern.log || fail "the guest did not report 4 CPUs"
mem_kb=$(sed -n 's/^TERN-GUEST: cpus=[0-9]* mem_kb=\([0-9]*\).*/\1/p' tern.log)
[ "${mem_kb:-0}" -gt 943718 ] && [ "$mem_kb" -le 1048576 ] ||
	fail "the guest reports MemTotal ${mem_kb:-none} kB for 1 GiB of RAM"
