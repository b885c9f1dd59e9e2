#!/bin/sh
# What tern refuses to pass through, each with a message saying why and what
# to do, on the vfio host's NVMe controller (QEMU's nvme, behind the SMMUv3;
# no host driver takes it). Also: a non-virtio device with its MSI-X table in
# the BAR the rest of its registers share (the table pages trap, the rest of
# the BAR is mapped) gets to the guest and back out cleanly.
#  1. bound to no driver;                        2. a PCI address that is no device;
#  3. no IOMMU group (a sysfs= directory without one);
#  4. /dev/vfio/GROUP not writable for tern's user (uid 1000);
#  5. the group held by another tern (busy);     6. usage: a malformed address,
#     guest_memfd RAM, --restore.
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
RUNAS=$LAB_BIN/runas
[ -x "$RUNAS" ] || fail "no runas at $RUNAS"

bdf=''
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class")" = 0x010802 ] && bdf=${d##*/} && break	# NVM Express
done
[ -n "$bdf" ] || skip "no NVMe controller to pass through (runs on the lab's vfio host)"
dev=/sys/bus/pci/devices/$bdf
kvm_group=$(stat -c %g /dev/kvm) kvm_mode=$(stat -c %a /dev/kvm)
trap 'chgrp "$kvm_group" /dev/kvm; chmod "$kvm_mode" /dev/kvm; guest_dump_logs' EXIT

refused() { # WANT_STATUS MESSAGE ARGS...: tern run ARGS must exit WANT_STATUS saying MESSAGE
	_want=$1 _msg=$2
	shift 2
	"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" "$@" </dev/null >out.log 2>&1
	_st=$?
	echo "--- tern run $*: exit $_st"
	cat out.log
	expect_status "$_st" "$_want" "tern run $* was not refused as expected"
	grep -qF -- "$_msg" out.log || fail "tern run $* did not say: $_msg"
}

# 1. No driver.
[ -e "$dev/driver" ] && echo "$bdf" >"$dev/driver/unbind"
refused 1 "vfio $bdf: no driver is bound to it; bind it to vfio-pci: echo vfio-pci > $dev/driver_override" \
	--vfio host="$bdf"
# 2. No such device.
refused 1 "vfio 0000:00:1f.7: no such PCI device" --vfio host=0000:00:1f.7
# 3. No IOMMU group.
mkdir -p fake/0000:00:1e.0
ln -s /sys/bus/pci/drivers/vfio-pci fake/0000:00:1e.0/driver
refused 1 "vfio 0000:00:1e.0: the device has no IOMMU group: the host has no IOMMU for it" \
	--vfio sysfs="$PWD/fake/0000:00:1e.0"

echo vfio-pci >"$dev/driver_override"
echo "$bdf" >/sys/bus/pci/drivers_probe
[ "$(basename "$(readlink "$dev/driver")")" = vfio-pci ] || fail "$bdf did not bind to vfio-pci"
group=$(basename "$(readlink "$dev/iommu_group")")
chmod 600 "/dev/vfio/$group"

# 4. Permission denied: tern as uid 1000, which may use /dev/kvm but not the group.
chgrp 1000 /dev/kvm && chmod 660 /dev/kvm || fail "cannot give gid 1000 access to /dev/kvm"
"$RUNAS" 1000 1000 "$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" \
	--vfio host="$bdf" </dev/null >perm.log 2>&1
st=$?
cat perm.log
expect_status "$st" 1 "tern as uid 1000 was not refused /dev/vfio/$group"
grep -qF "vfio $bdf: permission denied opening /dev/vfio/$group (owner 0:0, mode 600; tern runs as 1000:1000)" perm.log ||
	fail "the refusal does not explain the permissions"

# 5. A guest with the NVMe controller (its driver is not loaded there: the
# function just sits on the bus), and a second tern that wants it too.
guest_serve --cpus 1 --memory 256M --vfio host="$bdf"
guest_run "cat /sys/bus/pci/devices/*/class | grep -c 0x010802 | sed 's/^/NVME-FUNCTIONS=/'" 60
[ "$(guest_value NVME-FUNCTIONS)" = 1 ] || fail "the guest does not see the NVMe controller"
refused 1 "is busy: another process (a VMM) holds the group" --vfio host="$bdf"
guest_poweroff 120
grep "guest accesses to its BARs" tern-stderr.log || fail "tern did not report its trapped BAR accesses"

# 6. Usage errors: exit 2 before anything is opened.
refused 2 "'00:02.0' is not a PCI address DDDD:BB:DD.F" --vfio host=00:02.0
refused 2 "--vfio cannot be used with --memory ...,backend=guest_memfd" \
	--memory 256M,backend=guest_memfd --vfio host="$bdf"
"$TERN" run --restore /nonexistent --vfio host="$bdf" </dev/null >restore.log 2>&1
expect_status "$?" 2 "--restore with --vfio was not a usage error"
grep -q "cannot be used with --restore" restore.log || fail "--restore with --vfio: no reason given"
