#!/bin/sh
# --firmware: Debian's EDK2 for QEMU's virt machine (QEMU_EFI.fd) runs from
# tern's CFI flash with its console on tern's PL011, finds the lab's GPT disk
# (virtio-blk) and the EFI system partition on it, its UEFI shell runs
# startup.nsh from there, which starts the guest kernel through its EFI stub
# with initrd= and console=ttyAMA0. The guest answers a line typed on the
# console (PL011 input, through Linux's amba-pl011 driver) and powers off;
# tern exits 0. The variable store file (--firmware-vars, created blank) then
# holds what the firmware wrote through the CFI commands: its formatted
# header and the boot options it registered. A snapshot of such a guest is
# refused (the firmware's devices have no saved state yet), the guest runs on.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern

FW=$LAB/firmware/QEMU_EFI.fd
DISK=$LAB/firmware/disk.img
[ -f "$FW" ] && [ -f "$DISK" ] || fail "no $FW or $DISK (tests/lab/run puts them there)"
trap guest_dump_logs EXIT

t0=$(lab_uptime)
rm -f console.in vars.fd
mkfifo console.in
"$TERN" run $TERN_LAB_OPTS --firmware "$FW" --firmware-vars vars.fd --memory 512M \
	--disk "path=$DISK,readonly=on" --control ctl.sock --snapshot-dir "$PWD" \
	<console.in >tern.log 2>&1 &
tern_pid=$!
exec 3>console.in
# The console's lines as they come, on the lab's console, while tern runs
# (a slow boot then shows where it is).
stream_console() {
	_sc_n=0
	while kill -0 "$tern_pid" 2>/dev/null; do
		_sc_t=$(wc -l <tern.log)
		[ "$_sc_t" -le "$_sc_n" ] ||
			sed -n "$((_sc_n + 1)),${_sc_t}s/^/firmware-boot| /p" tern.log | tr -d '\r' >"$LAB_CONSOLE"
		_sc_n=$_sc_t
		sleep 2
	done
}
[ -z "${LAB_CONSOLE:-}" ] || stream_console &

wait_for tern.log "TERN-FIRMWARE: startup.nsh" 600
t_shell=$(lab_uptime)
wait_for tern.log "TERN-GUEST: ready" 300
t_linux=$(lab_uptime)
! grep "^TERN-GUEST: module " tern.log ||
	fail "the guest could not load its modules (see the 'TERN-GUEST: module' lines)"
grep -q "^TERN-GUEST: cpus=1 " tern.log || fail "the guest did not report its CPU"
snapshot_refused ctl.sock "$PWD/fw.snap" "UEFI firmware (--firmware)"
guest_send "echo typed on the pl011 42"
wait_for tern.log "TERN-GUEST: echo typed on the pl011 42" 60
guest_poweroff 120
trap - EXIT

# The firmware formatted the blank store (a firmware volume header, "_FVH"
# at offset 40) and registered boot options, UTF-16 names among its
# variables: both only through the CFI program and erase commands.
[ "$(dd if=vars.fd bs=1 skip=40 count=4 2>/dev/null)" = "_FVH" ] ||
	fail "vars.fd has no firmware volume header: the firmware's writes did not reach it"
tr -d '\000' <vars.fd | grep -q "EFI Internal Shell" ||
	fail "vars.fd holds no boot option: the firmware's variable writes did not reach it"
[ "$(wc -c <vars.fd)" = $((64 * 1024 * 1024)) ] || fail "vars.fd is not 64 MiB"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "REPORT: firmware to its shell's startup.nsh $(secs "$t0" "$t_shell")s, to the guest's init $(secs "$t0" "$t_linux")s (emulated host)"
