#!/bin/sh
# A guest reboot with a passed-through virtio-blk attached: tern resets the
# function (MSI-X off at the device, vectors unbound, Memory and Bus Master
# off, VFIO_DEVICE_RESET when the device has a reset), the rebooted guest
# binds its driver again and must read back what it wrote before the reboot.
# by-name-only: KNOWN TO FAIL: after the reboot the guest comes back to its
# prompt (its driver probed the disk and read its partition table, so MSI-X
# works again: tern's --trace shows the device's MSI-X on and all three
# vectors' irqfds bound again), but the next command, a 16 MiB O_DIRECT read,
# never completes and the guest answers nothing more on its console (seen
# three times; not yet understood). Run it by name.
# host: vfio
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT
step() { echo "$*"; [ -w /dev/console ] && echo "LAB-PROGRESS vfio-reboot: $*" >/dev/console; :; }
SIZE=16777216

bdf=''
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1af4 ] && [ "$(cat "$d/device")" = 0x1042 ] && bdf=${d##*/} && break
done
[ -n "$bdf" ] || skip "no virtio-blk PCI function to pass through (runs on the lab's vfio host)"
dev=/sys/bus/pci/devices/$bdf
[ -e "$dev/driver" ] && echo "$bdf" >"$dev/driver/unbind"
echo vfio-pci >"$dev/driver_override"
echo "$bdf" >/sys/bus/pci/drivers_probe
[ "$(basename "$(readlink "$dev/driver")")" = vfio-pci ] || fail "$bdf did not bind to vfio-pci"

guest_serve --cpus 2 --memory 256M --vfio host="$bdf" --trace
guest_run "blkpattern write /dev/vda 5 $SIZE" 400
expect_status "$run_rc" 0 "the guest could not write the passed-through disk"
guest_send reboot
_end=$(($(date +%s) + $(lab_scaled 200)))
while [ "$(guest_count 'TERN-GUEST: ready')" -lt 2 ]; do
	kill -0 "$tern_pid" 2>/dev/null || fail "tern exited at the guest's reboot"
	[ "$(date +%s)" -lt "$_end" ] || fail "the guest did not come back after its reboot"
	sleep 0.5
done
step "5b. rebooted"
# In the background: a verify stuck on the device must not hold the console.
guest_run "(blkpattern verify /dev/vda 5 $SIZE >/tmp/v.log 2>&1; echo rc=\$? >>/tmp/v.log) & n=0; while ! grep -q rc= /tmp/v.log && [ \$n -lt 120 ]; do sleep 1; n=\$((n + 1)); done; cat /tmp/v.log; grep -q rc=0 /tmp/v.log || { cat /proc/interrupts; dmesg | tail -40; false; }" 300
expect_status "$run_rc" 0 "after the reboot the guest does not read its pattern back"
guest_poweroff 120
