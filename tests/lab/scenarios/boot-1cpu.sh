#!/bin/sh
# One vCPU, 256 MiB: the guest sees exactly that, powers off, tern exits 0.
# timeout: 240
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

"$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 1 --memory 256M \
	--cmdline "$GUEST_CMDLINE" </dev/null >tern.log 2>&1
status=$?
cat tern.log
expect_status "$status" 0 "tern did not exit 0 after the guest's poweroff"
grep -q "^TERN-GUEST: cpus=1 " tern.log || fail "the guest did not report 1 CPU"
mem_kb=$(sed -n 's/^TERN-GUEST: cpus=[0-9]* mem_kb=\([0-9]*\).*/\1/p' tern.log)
# MemTotal is RAM less what the kernel keeps for itself (image, page tables):
# between 180 and 256 MiB for a 256 MiB guest.
[ "${mem_kb:-0}" -gt 184320 ] && [ "$mem_kb" -le 262144 ] ||
	fail "the guest reports MemTotal ${mem_kb:-none} kB for 256 MiB of RAM"
grep -q "^TERN-GUEST: poweroff" tern.log || fail "the guest did not reach its poweroff"
