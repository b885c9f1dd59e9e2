#!/bin/sh
# --firmware: Debian's EDK2 for QEMU's virt machine (QEMU_EFI.fd) runs from
# tern's CFI flash with its console on tern's PL011, finds the lab's GPT disk
# (virtio-blk) and the EFI system partition on it, its UEFI shell runs
# startup.nsh from there, which starts the guest kernel through its EFI stub
# with initrd= and console=ttyAMA0. The guest answers a line typed on the
# console (PL011 input, through Linux's amba-pl011 driver). The variable
# store file (--firmware-vars, created blank) then holds what the firmware
# wrote through the CFI commands: its formatted header and the boot options
# it registered.
#
# Then the firmware-booted guest moves, its flash, PL011 and PL031 state with
# it: a snapshot of it is taken and it runs on; it is live-migrated over a
# unix socket to a second tern with a variable store file of its own (blank
# until the stream fills it), answers there, and writes a UEFI variable
# through the firmware's runtime services (efivarfs) into that store, then
# powers off. The snapshot is restored in a third tern (after one with
# another firmware file is refused), answers, reboots (the firmware runs
# again from the restored flash to the guest's second init), answers and
# powers off. Last, a fourth
# tern boots the firmware afresh on the migrated store: the guest reads the
# variable back.
# timeout: 2400
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern

FW=$LAB/firmware/QEMU_EFI.fd
DISK=$LAB/firmware/disk.img
[ -f "$FW" ] && [ -f "$DISK" ] || fail "no $FW or $DISK (tests/lab/run puts them there)"
trap guest_dump_logs EXIT
# A test vendor GUID; attributes 0x7: non-volatile, boot service, runtime.
EFIVAR=/sys/firmware/efi/efivars/TernLabTest-6a1e5b8c-2f4d-4b7e-9c3a-0d8e7f6a5b41
EFIVARFS="insmod /lib/modules/efi/efivarfs.ko && mount -t efivarfs none /sys/firmware/efi/efivars"

# The machine of every tern here; $1 its variable store file.
machine() {
	echo --firmware "$FW" --firmware-vars "$1" --memory 512M --disk "path=$DISK,readonly=on"
}

# tern with the console on tern.log (the previous one kept as tern-$1.log),
# its messages on tern-stderr.log; the rest of the arguments for tern.
start_tern() {
	[ ! -f tern.log ] || mv tern.log "tern-$1.log"
	[ ! -f tern-stderr.log ] || mv tern-stderr.log "tern-$1-stderr.log"
	shift
	rm -f console.in
	mkfifo console.in
	"$TERN" run $TERN_LAB_OPTS "$@" <console.in >tern.log 2>tern-stderr.log &
	tern_pid=$!
	exec 3>console.in
	stream_console firmware-boot
}

# Boots the firmware on store $2; the guest's init is ready.
boot_firmware() {
	# After a migration ctl.sock is a link to the destination's socket.
	rm -f ctl.sock
	start_tern "$1" $(machine "$2") --control ctl.sock --snapshot-dir "$PWD"
	wait_for tern.log "TERN-FIRMWARE: startup.nsh" 600
	t_shell=$(lab_uptime)
	wait_for tern.log "TERN-GUEST: ready" 300
	t_linux=$(lab_uptime)
	! grep "^TERN-GUEST: module " tern.log ||
		fail "the guest could not load its modules (see the 'TERN-GUEST: module' lines)"
	grep -q "^TERN-GUEST: cpus=1 " tern.log || fail "the guest did not report its CPU"
}

# Store file $1 was formatted by the firmware (a firmware volume header,
# "_FVH" at offset 40) and holds boot options, UTF-16 names among its
# variables: both only through the CFI program and erase commands.
store_formatted() {
	[ "$(dd if="$1" bs=1 skip=40 count=4 2>/dev/null)" = "_FVH" ] ||
		fail "$1 has no firmware volume header: the firmware's writes did not reach it"
	tr -d '\000' <"$1" | grep -q "EFI Internal Shell" ||
		fail "$1 holds no boot option: the firmware's variable writes did not reach it"
	[ "$(wc -c <"$1")" = $((64 * 1024 * 1024)) ] || fail "$1 is not 64 MiB"
}

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

rm -f vars.fd vars-dst.fd vars-restored.fd vars-other.fd fw.snap
t0=$(lab_uptime)
boot_firmware none vars.fd
guest_send "echo typed on the pl011 42"
wait_for tern.log "TERN-GUEST: echo typed on the pl011 42" 60
store_formatted vars.fd
echo "REPORT: firmware to its shell's startup.nsh $(secs "$t0" "$t_shell")s, to the guest's init $(secs "$t0" "$t_linux")s (emulated host)"

# A snapshot; the guest runs on.
t1=$(lab_uptime)
"$TERN" ctl ctl.sock snapshot path="$PWD/fw.snap" >snap.out 2>&1 ||
	fail "the snapshot of a firmware-booted guest failed: $(cat snap.out)"
echo "REPORT: snapshot of the firmware-booted guest: $(wc -c <fw.snap) bytes in $(secs "$t1" "$(lab_uptime)")s"
guest_answers after-snapshot

# Live migration to a tern whose store file is new: the stream fills it.
# downtime_ms: the emulated host's final stage alone measures 300-500 ms
# (its fixed cost), above the default target, while the guest dirties
# nothing; a real host's is a few ms.
dest_listen dst "unix:$PWD/mig.sock" $(machine vars-dst.fd) --control dst.sock
t1=$(date +%s)
migrate "unix:$PWD/mig.sock" downtime_ms=3000
# A failed migration leaves the source running: say so at once.
mig_end=$(($(date +%s) + $(lab_scaled 600)))
while kill -0 "$tern_pid" 2>/dev/null; do
	migration_status ctl.sock && grep -q '"state": "failed"' status.out &&
		fail "the migration failed: $(cat status.out)"
	[ "$(date +%s)" -lt "$mig_end" ] || fail "the migration did not end within $(lab_scaled 600)s"
	sleep 1
done
source_migrated 60 "firmware-booted guest"
echo "REPORT: firmware-booted guest migrated (unix socket): $report; wall $(($(date +%s) - t1)) s"
switch_to_dest dst
guest_answers after-migration
store_formatted vars-dst.fd
cmp -s vars.fd vars-dst.fd || fail "the destination's variable store differs from the source's"

# A UEFI variable, written through the firmware's runtime services.
guest_run "$EFIVARFS && printf '\\007\\000\\000\\000tern-lab-42' >$EFIVAR && echo EFIVAR-SET=\$(tail -c +5 $EFIVAR)" 120
expect_status "$run_rc" 0 "the guest could not write a UEFI variable through efivarfs"
[ "$(guest_value EFIVAR-SET)" = tern-lab-42 ] || fail "the variable did not read back at once"
guest_poweroff 120
tr -d '\000' <vars-dst.fd | grep -q TernLabTest ||
	fail "the variable's name is not in the store file vars-dst.fd"

# The snapshot, restored: refused with another firmware, then taken.
cp "$FW" fw-other.fd
printf 'X' | dd of=fw-other.fd bs=1 seek=4096 conv=notrunc 2>/dev/null
"$TERN" run $TERN_LAB_OPTS --restore fw.snap --firmware fw-other.fd --firmware-vars vars-other.fd \
	--memory 512M --disk "path=$DISK,readonly=on" </dev/null >other.log 2>&1
st=$?
cat other.log
expect_status "$st" 2 "a restore with another firmware file was not refused"
grep -q "differs from the saved VM's" other.log || fail "the refusal does not say the firmware differs"
t1=$(lab_uptime)
start_tern dst --restore fw.snap $(machine vars-restored.fd)
guest_answers after-restore
echo "REPORT: snapshot restored, guest answering in $(secs "$t1" "$(lab_uptime)")s"
# A reset of the restored VM runs the firmware again from its (restored)
# flash, in read-array mode, through the shell to the guest's second init.
# (This tern's console log began at the restore: a startup.nsh line in it
# is the second boot's.)
t2=$(lab_uptime)
guest_reboot 600
grep -q "TERN-FIRMWARE: startup.nsh" tern.log || fail "the restored guest's reset did not run the firmware's shell again"
guest_answers after-restore-reset
echo "REPORT: restored guest reset: the firmware ran again, guest answering $(secs "$t2" "$(lab_uptime)")s after the reboot"
guest_poweroff 120
store_formatted vars-restored.fd
! tr -d '\000' <vars-restored.fd | grep -q TernLabTest ||
	fail "the restored store holds the variable written after the snapshot"

# A fresh boot on the migrated store: the variable is there.
t0=$(lab_uptime)
boot_firmware restored vars-dst.fd
guest_run "$EFIVARFS && echo EFIVAR=\$(tail -c +5 $EFIVAR)" 120
expect_status "$run_rc" 0 "the guest could not read the UEFI variable back"
[ "$(guest_value EFIVAR)" = tern-lab-42 ] ||
	fail "the variable written before the restart reads '$(guest_value EFIVAR)', not tern-lab-42"
echo "REPORT: second boot on the same store to the guest's init $(secs "$t0" "$t_linux")s; the UEFI variable read back"
guest_poweroff 120
trap - EXIT
