#!/bin/sh
# tern without root (issue 13): started as an ordinary user (uid 1000, who may
# use /dev/kvm and owns a tap) with --jail, it boots, the guest does disk I/O
# and pings the host through the tap (opened before tern entered its own
# network namespace), a snapshot goes into --snapshot-dir and one outside it
# is refused. The process runs in its own user, mount, IPC, UTS and network
# namespaces, its root is the jail, it has no capabilities and no_new_privs,
# and every thread is filtered. Then root starts tern with --user 1000:1000
# --jail: the same, reached by dropping privileges once the VM is built.
# Last, a jailed uid-1000 tern live-migrates its guest over a unix socket
# (--migrate-to) to a second jailed uid-1000 tern (--incoming), whose guest
# reads back the disk; disk only, since one tap cannot be open in two terns.
# timeout: 1500
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
need_root
need_tun
RUNAS=$LAB_BIN/runas
[ -x "$RUNAS" ] || fail "no runas at $RUNAS"
"$RUNAS" 1000 1000 /bin/true || fail "runas cannot become uid 1000"
kvm_mode=$(stat -c %a /dev/kvm) kvm_group=$(stat -c %g /dev/kvm)
TAP=tapj HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2
tun_mode=$(stat -c %a /dev/net/tun)
trap 'chgrp "$kvm_group" /dev/kvm; chmod "$kvm_mode" /dev/kvm; chmod "$tun_mode" /dev/net/tun; del_tap "$TAP"; guest_dump_logs' EXIT
chgrp 1000 /dev/kvm && chmod 660 /dev/kvm || fail "cannot give gid 1000 access to /dev/kvm"
# /dev/net/tun as distributions ship it (0666; the emulated host's is
# $tun_mode): attaching to a tap is then up to the tap's owner and group.
chmod 666 /dev/net/tun || fail "cannot open /dev/net/tun to every user"
# A tap uid 1000 may attach to without CAP_NET_ADMIN: one it owns, or, where
# busybox's tunctl cannot set an owner, a persistent tap with neither owner
# nor group (drivers/net/tun.c: tun_not_capable()).
del_tap "$TAP"
if tunctl -u 1000 -t "$TAP" >/dev/null 2>&1; then
	echo "REPORT: $TAP: owned by uid 1000"
else
	tunctl -t "$TAP" >/dev/null || fail "cannot create the tap $TAP"
	echo "REPORT: $TAP: no owner (this busybox's tunctl has no -u)"
fi
ip addr add "$HOST_IP/24" dev "$TAP" && ip link set "$TAP" up || fail "cannot set up $TAP"

U=$PWD/u
mkdir -p "$U/snaps" "$U/jail" "$U/jail2" "$U/outside" "$U/mig"
dd if=/dev/zero of="$U/disk.img" bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"
chown -R 1000:1000 "$U"
REAL_TERN=$TERN

# check_confined PID WHO: uid 1000, no capabilities, no_new_privs, seccomp on
# every thread, its own namespaces, the jail as its root.
check_confined() {
	_st=/proc/$1/status
	grep -q '^Uid:[[:space:]]*1000[[:space:]]' "$_st" || fail "$2: not uid 1000: $(grep ^Uid: "$_st")"
	grep -q '^CapEff:[[:space:]]*0000000000000000' "$_st" || fail "$2: capabilities left: $(grep ^Cap "$_st")"
	grep -q '^CapBnd:[[:space:]]*0000000000000000' "$_st" || fail "$2: bounding set not empty: $(grep ^CapBnd "$_st")"
	grep -q '^NoNewPrivs:[[:space:]]*1' "$_st" || fail "$2: no_new_privs not set"
	for _t in /proc/"$1"/task/*/status; do
		grep -q '^Seccomp:[[:space:]]*2' "$_t" || fail "$2: thread $_t not under seccomp"
	done
	for _ns in mnt ipc uts net; do
		[ "$(readlink /proc/"$1"/ns/$_ns)" != "$(readlink /proc/self/ns/$_ns)" ] ||
			fail "$2: shares the host's $_ns namespace"
	done
	# The jail's root holds only the path to the snapshot directory.
	_top=$(ls /proc/"$1"/root/)
	[ "$_top" = "$(echo "$U" | cut -d/ -f2)" ] || fail "$2: the jail's root holds '$_top'"
	[ ! -e /proc/"$1"/root/bin ] || fail "$2: the host's /bin is visible in the jail"
	echo "$2: uid 1000, no capabilities, no_new_privs, all threads filtered, own namespaces, root: /$_top"
}

# run_jailed WHO: boot, disk I/O, snapshots in and out of --snapshot-dir.
run_jailed() {
	cd "$U"
	guest_serve --cpus 1 --memory 256M --disk path="$U/disk.img" --control "$U/ctl.sock" \
		--net "tap=$TAP" --snapshot-dir "$U/snaps" --jail "$U/jail" $EXTRA
	check_confined "$tern_pid" "$1"
	guest_run "blkpattern write /dev/vda 3 8388608 && sync" 300
	expect_status "$run_rc" 0 "$1: disk I/O in the jail failed"
	guest_run 'dev=$(ls /sys/class/net | grep -v "^lo$" | head -n 1); ip addr add '"$GUEST_IP"'/24 dev $dev && ip link set $dev up && ping -c 3 -W 10 '"$HOST_IP" 120
	expect_status "$run_rc" 0 "$1: the guest cannot reach $HOST_IP through the tap from the jail"
	echo "$1: the guest pinged the host through the tap"
	"$TERN" ctl "$U/ctl.sock" snapshot path="$U/snaps/$1.tern" >ctl.out 2>&1 ||
		{ cat ctl.out; fail "$1: a snapshot into --snapshot-dir failed"; }
	[ -s "$U/snaps/$1.tern" ] || fail "$1: the snapshot is not in $U/snaps on the host"
	[ "$(stat -c %u "$U/snaps/$1.tern")" = 1000 ] || fail "$1: the snapshot is not owned by uid 1000"
	if "$TERN" ctl "$U/ctl.sock" snapshot path="$U/outside/$1.tern" >ctl.out 2>&1; then
		fail "$1: a snapshot outside --snapshot-dir was accepted"
	fi
	grep -q "outside --snapshot-dir" ctl.out || fail "$1: refusal without a reason: $(cat ctl.out)"
	[ ! -e "$U/outside/$1.tern" ] || fail "$1: the refused snapshot was written"
	guest_poweroff 120
	! grep -q "sandbox:" tern-stderr.log || fail "$1: $(grep sandbox: tern-stderr.log)"
	"$LAB_BIN/blkpattern" verify "$U/disk.img" 3 8388608 >/dev/null ||
		fail "$1: disk.img does not hold what the guest wrote"
	mv tern.log "tern-$1.log"
	mv tern-stderr.log "tern-stderr-$1.log"
	rm -f "$U/ctl.sock"
	cd - >/dev/null
}

# An ordinary user from the start (a user namespace gives it the jail).
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)" = 0 ] ||
   [ "$(cat /proc/sys/kernel/unprivileged_userns_clone 2>/dev/null || echo 1)" = 0 ]; then
	skip "unprivileged user namespaces are off on this host"
fi
printf '#!/bin/sh\nexec "%s" 1000 1000 "%s" "$@"\n' "$RUNAS" "$REAL_TERN" >"$PWD/tern-user"
chmod 755 "$PWD/tern-user"
TERN=$PWD/tern-user
EXTRA=
run_jailed user
# Root, dropping to --user once the VM is built.
TERN=$REAL_TERN
EXTRA="--user 1000:1000"
run_jailed root-user

# migrate_jailed: both terns uid 1000 from the start, each in its own jail,
# which shows it the socket's directory and nothing else of the host.
migrate_jailed() {
	cd "$U"
	_m="--cpus 1 --memory 256M --disk path=$U/disk.img"
	# shellcheck disable=SC2086
	guest_serve $_m --control "$U/ctl.sock" --jail "$U/jail" --migrate-to "unix:$U/mig/m.sock"
	check_confined "$tern_pid" "migration source"
	guest_run "blkpattern write /dev/vda 4 8388608 && sync" 300
	expect_status "$run_rc" 0 "disk I/O before the jailed migration failed"
	# shellcheck disable=SC2086
	dest_listen dst "unix:$U/mig/m.sock" $_m --control "$U/dst.sock" --jail "$U/jail2"
	check_confined "$dest_pid" "migration destination"
	migrate "unix:$U/mig/m.sock"
	source_migrated 600 "jailed"
	echo "REPORT: jailed migration (uid 1000, unix socket): $report"
	! grep -q "sandbox:" tern-stderr.log || fail "source: $(grep sandbox: tern-stderr.log)"
	switch_to_dest dst
	guest_run "blkpattern verify /dev/vda 4 8388608" 300
	expect_status "$run_rc" 0 "the guest on the jailed destination does not read back its disk"
	guest_poweroff 120
	! grep -q "sandbox:" tern-stderr.log || fail "destination: $(grep sandbox: tern-stderr.log)"
	mv tern.log tern-migrated.log
	mv tern-stderr.log tern-stderr-migrated.log
	cd - >/dev/null
}
TERN=$PWD/tern-user
migrate_jailed
echo "jail scenario passed"
