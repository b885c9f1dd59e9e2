#!/bin/sh
# A Debian 12 arm64 system, installed as the distribution's cloud images are
# (guest-images/debian-image: GPT, an EFI system partition with GRUB, ext4
# root, Debian's kernel and initrd, systemd), boots under tern as a user
# boots it: Debian's EDK2 (QEMU_EFI.fd) from tern's flash, which finds no
# boot option in a new variable store and starts GRUB from the removable
# path \EFI\BOOT\BOOTAA64.EFI on the virtio-blk disk; GRUB loads Debian's
# kernel and initrd from the root file system; systemd reaches
# multi-user.target with no failed unit; systemd-networkd brings up the
# virtio-net card on the host's tap (static 198.18.0.2/24) and the guest
# pings the host; the image's tern-lab unit adds a boot option "tern-lab"
# with efibootmgr (through the firmware's runtime services into the
# variable store file) and powers off: tern exits 0.
# A second tern on the same store boots the same disk through that boot
# option: efibootmgr finds "tern-lab", and the guest powers off again.
# Reported: each boot's time to multi-user.target and systemd-analyze's line.
# host: debian
# by-name-only: boots the Debian image of guest-images/debian-image (as root, minutes to build): tests/lab/run debian-boot
# timeout: 2400
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_tun

FW=$LAB/firmware/QEMU_EFI.fd
debian_disk "tests/lab/run debian-boot"
TAP=tap0 HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2 MAC=52:54:00:12:34:57
del_tap "$TAP"
make_tap "$TAP" "$HOST_IP/24"
trap 'del_tap "$TAP"; guest_dump_logs' EXIT

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The guest's "TERN-DEBIAN: $1" line (carriage returns dropped), or nothing.
debian_line() { tr -d '\r' <tern.log | grep "^TERN-DEBIAN: $1" | head -n 1; }

# Boot $1 (its name): tern on the image and the variable store vars.fd
# until the guest powers off; the console is kept as tern-$1.log. Sets t_mu.
boot_debian() {
	rm -f console.in tern.log
	mkfifo console.in
	t0=$(lab_uptime)
	"$TERN" run $TERN_LAB_OPTS --firmware "$FW" --firmware-vars vars.fd --cpus 2 --memory 1G \
		--disk "path=$DISK" --net "tap=$TAP,mac=$MAC" <console.in >tern.log 2>&1 &
	tern_pid=$!
	exec 3>console.in
	stream_console debian-boot
	step "boot $1: firmware, GRUB, Debian's kernel, systemd"
	wait_for tern.log "TERN-DEBIAN: multi-user.target reached" 1500
	t_mu=$(secs "$t0" "$(lab_uptime)")
	step "boot $1: multi-user.target after ${t_mu}s"
	wait_for tern.log "TERN-DEBIAN: powering off" 300
	guest_wait_exit 180
	expect_status "$status" 0 "tern's exit status after the guest's poweroff (boot $1)"
	grep -q "Loading initial ramdisk" tern.log ||
		fail "boot $1: GRUB's 'Loading initial ramdisk' is not on the console: was it GRUB that booted?"
	debian_line "multi-user.target reached, kernel [0-9.-]*-arm64$" >/dev/null ||
		fail "boot $1: not Debian's arm64 kernel: $(debian_line multi-user)"
	debian_line "system running, failed units: *$" >/dev/null ||
		fail "boot $1: systemd reports $(debian_line system)"
	debian_line "network: .* $GUEST_IP/24 *$" >/dev/null ||
		fail "boot $1: the card has no $GUEST_IP/24: $(debian_line network)"
	debian_line "ping $HOST_IP ok" >/dev/null || fail "boot $1: the guest could not reach the host: $(debian_line ping)"
	echo "REPORT: boot $1: multi-user.target ${t_mu}s after tern started (emulated host); $(debian_line 'Startup finished' | sed 's/^TERN-DEBIAN: //')"
	mv tern.log "tern-$1.log"
}

rm -f vars.fd
boot_debian first
grep -q "^TERN-DEBIAN: boot entry tern-lab created" tern-first.log ||
	fail "the first boot did not create its boot option: $(grep 'boot entry' tern-first.log)"
# The next boot starts from the option the guest wrote into vars.fd.
boot_debian second
grep -q "^TERN-DEBIAN: boot entry tern-lab found" tern-second.log ||
	fail "the boot option written in the first boot is gone: $(grep 'boot entry' tern-second.log)"
echo "debian-boot: ok"
