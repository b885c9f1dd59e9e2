#!/bin/sh
# The Normal-NC path alone: the vfio host's virtio-blk passed through to a
# guest whose virtio_blk is kept from loading (module_blacklist), so only
# the virtio-pci transport's probe (built in; unbound again before the
# test) and guest userspace touch the function's BARs. barwc maps its 64-bit
# prefetchable BAR 4 (virtio's common configuration) write-combining
# (sysfs resource4_wc: Normal-NC on arm64; KVM lets the guest's attribute
# stand over vfio-pci's VM_ALLOW_ANY_UNCACHED mapping), writes
# device_feature_select and queue_size and reads device_feature, num_queues
# and queue_size back; then the same through resource4 (Device memory). Both
# must read the same values, and at exit tern must have seen none of those
# accesses (0 trapped BAR accesses outside the MSI-X pages: BAR 4 is a
# memslot over the VFIO mmap).
# host: vfio
# timeout: 400
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT

vfio_blk_fn
[ -e "/sys/bus/pci/devices/$bdf/iommu_group" ] || skip "$bdf has no IOMMU group (no IOMMU)"
pci_bind "$bdf" vfio-pci

step "1. A guest without virtio_blk"
# Not guest_serve: its check of the guest's modules would stop at the one
# kept out on purpose.
GUEST_STDERR=tern-stderr.log guest_start --cpus 2 --memory 256M --vfio host="$bdf" \
	--cmdline "$GUEST_CMDLINE module_blacklist=virtio_blk tern.action=serve"
wait_for tern.log "TERN-GUEST: ready" 200
guest_log | grep "^TERN-GUEST: module virtio_blk: insmod failed" ||
	fail "the guest loaded virtio_blk despite module_blacklist"

step "2. BAR 4 write-combining, then uncached"
# virtio-pci unbound; sysfs "enable" (pci_enable_device) keeps the
# function's memory decoding on, so tern keeps the BAR's memslots.
guest_run 'for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1042 ] && g=$d; done; [ "$(basename $(readlink $g/driver))" = virtio-pci ] || exit 9; echo "${g##*/}" >$g/driver/unbind || exit 9; echo 1 >$g/enable || exit 8; echo "GUEST-BAR4=$(sed -n 5p $g/resource)"; barwc $g/resource4_wc && barwc $g/resource4' 60
expect_status "$run_rc" 0 "virtio registers did not read and write correctly through the WC (or UC) mapping of BAR 4"
bar4=$(guest_value GUEST-BAR4)
echo "guest BAR 4: $bar4"
case $bar4 in 0x00000000*) fail "BAR 4 is not in the 64-bit window: $bar4" ;; esac
wc=$(guest_log | sed -n 's/^barwc: .*resource4_wc \(feature1=.*\)/\1/p' | tail -n 1)
uc=$(guest_log | sed -n 's/^barwc: .*resource4 \(feature1=.*\)/\1/p' | tail -n 1)
echo "REPORT: BAR 4 at $bar4, write-combining (Normal-NC): $wc; uncached: $uc"
case $wc in *qsize_rw=ok) ;; *) fail "barwc through resource4_wc: ${wc:-no line}" ;; esac
[ "$wc" = "$uc" ] || fail "BAR 4 reads differently through resource4_wc ($wc) and resource4 ($uc)"
guest_poweroff 120

step "3. None of it came to tern"
traps=$(sed -n 's/.*came to tern: \([0-9]*\) to the MSI-X table and PBA, \([0-9]*\) elsewhere.*/\1 \2/p' tern-stderr.log)
echo "REPORT: BAR accesses that exited to tern: ${traps% *} MSI-X table/PBA, ${traps#* } elsewhere"
[ -n "$traps" ] && [ "${traps#* }" = 0 ] ||
	fail "BAR accesses outside the MSI-X pages came to tern (${traps:-no count}): BAR 4 is not served by its memslot"
