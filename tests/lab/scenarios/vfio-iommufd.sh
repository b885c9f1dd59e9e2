#!/bin/sh
# VFIO through iommufd (--vfio host=...,iommufd=on) with the vfio host's
# virtio-blk: tern opens the device's own node /dev/vfio/devices/vfioN,
# binds it to /dev/iommu, attaches it to a new IO address space and maps
# guest RAM there (IOMMU_IOAS_MAP); it never opens the container or the
# group. The guest's virtio_blk writes a pattern and reads it back, its
# MSI-X interrupts arriving through the ITS; a reboot resets the device
# through the same node (VFIO_DEVICE_RESET) and the guest reads the pattern
# back; at exit tern unmaps the address space under its sandbox (kill mode).
# Back on the host's virtio_blk, the disk holds the guest's second pattern.
# On a host kernel without iommufd or VFIO's device nodes tern must refuse,
# saying which, and the scenario then skips.
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
SIZE=16777216

vfio_blk_fn
pci_bind "$bdf" vfio-pci
node=/dev/vfio/devices/$(ls "/sys/bus/pci/devices/$bdf/vfio-dev" 2>/dev/null)
if [ ! -c /dev/iommu ] || [ ! -c "$node" ]; then
	# A kernel without iommufd (Debian's arm64 kernels: no CONFIG_IOMMUFD):
	# refused, saying what the kernel lacks and what to do instead.
	"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" \
		--vfio host="$bdf",iommufd=on </dev/null >refused.log 2>&1
	st=$?
	cat refused.log
	expect_status "$st" 1 "tern did not refuse iommufd=on on a kernel without it"
	grep -q "no iommufd (CONFIG_IOMMUFD); leave iommufd=on out\|(CONFIG_VFIO_DEVICE_CDEV), which iommufd=on needs" refused.log ||
		fail "the refusal does not say what the kernel lacks"
	# Back to the host's virtio_blk, where the next scenario expects it.
	pci_bind "$bdf" ''
	[ -c /dev/iommu ] || host_lacks "iommufd (/dev/iommu; refused as it should be)"
	host_lacks "VFIO device nodes (CONFIG_VFIO_DEVICE_CDEV; refused as it should be)"
fi
echo "device $bdf, its node $node"

step "1. The guest drives it through iommufd."
guest_serve --cpus 2 --memory 256M --vfio host="$bdf",iommufd=on --trace
grep -q "passed through, IOMMU group [0-9]*, 256 MiB of guest RAM mapped for DMA (iommufd)" tern-stderr.log ||
	fail "tern did not say it mapped guest RAM through iommufd"
fds=$(ls -l "/proc/$tern_pid/fd" | sed -n 's/.* -> //p' | sort -u | tr '\n' ' ')
echo "tern's open nodes: $fds"
echo "REPORT: tern holds, of /dev: $(echo "$fds" | tr ' ' '\n' | grep '^/dev/' | grep -v '^/dev/pts\|^/dev/null\|^/dev/kvm' | tr '\n' ' ')"
case " $fds " in *" /dev/iommu "*) ;; *) fail "tern does not hold /dev/iommu" ;; esac
case " $fds " in *" $node "*) ;; *) fail "tern does not hold $node" ;; esac
case " $fds " in *" /dev/vfio/vfio "* | *" /dev/vfio/[0-9]"*) fail "tern opened the container or the group: $fds" ;; esac
guest_blk_irqs 30
irq0=$blk_irqs
guest_blk_roundtrip /dev/vda 3 "$SIZE" 400 "the guest's pattern did not read back from the disk passed through iommufd"
guest_blk_irqs 30
echo "REPORT: virtio-blk through iommufd: queue interrupts through the ITS $irq0 -> $blk_irqs"
[ "${blk_irqs:-0}" -gt "${irq0:-0}" ] || fail "no ITS-PCI-MSIX interrupts of the disk's queue during its I/O"

step "2. A reboot resets the device through its node."
guest_reboot 200
guest_run "blkpattern verify /dev/vda 3 $SIZE" 400
expect_status "$run_rc" 0 "after the reboot the guest does not read its pattern back"
guest_blk_roundtrip /dev/vda 4 "$SIZE" 400 "after the reboot the guest cannot write and read a new pattern"
guest_poweroff 120
expect_status "$status" 0 "tern's exit after the guest's poweroff"
! grep -q "IOMMU_IOAS_UNMAP" tern-stderr.log || fail "unmapping the IO address space failed: $(grep IOMMU_IOAS_UNMAP tern-stderr.log)"

step "3. Back to the host's virtio: the disk holds the guest's pattern."
pci_bind "$bdf" ''
host_disk_ready /dev/vda 10 "the host's virtio_blk"
host_has_pattern /dev/vda 4 "$SIZE"
echo "vfio-iommufd: ok"
