#!/bin/sh
# Snapshot and restore (issue 4): a guest with a disk, a nic and MSIs through
# the ITS, running a counter driven by its timer, is snapshotted through the
# control socket; tern is killed; a new tern restores it. The counter goes on
# from where it was, uptime continues without a jump, the disk holds what was
# written, the network still answers, the virtio MSI counts keep growing (the
# LPI routing survived). A second restore from the same file works too. A
# corrupt, a truncated and a mismatched snapshot are refused with exit 2.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_tun
TAP=tap0 HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2 MAC=52:54:00:12:34:56
MACHINE="--cpus 2 --memory 256M --disk path=disk.img --net tap=$TAP,mac=$MAC"
del_tap "$TAP"
make_tap "$TAP" "$HOST_IP/24"
trap 'del_tap "$TAP"; guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'
STATE='printf "COUNTER=%s\nUPTIME=%s\n" "$(cat /tmp/counter)" "$(cut -d" " -f1 /proc/uptime)"'

# tern restoring snap.tern with the same machine, console on a new FIFO.
# "paused": start with --paused, check that the guest does not run until
# the control socket says resume.
guest_restore() {
	rm -f console.in ctl.sock
	mkfifo console.in
	"$TERN" run $TERN_LAB_OPTS --restore "$1" $MACHINE --control ctl.sock \
		${2:+--paused} <console.in >tern.log 2>tern-stderr.log &
	tern_pid=$!
	exec 3>console.in
	if [ "${2:-}" = paused ]; then
		ctl_status
		grep -q '"state": "paused"' status.out ||
			fail "a VM restored with --paused does not report itself paused: $(cat status.out)"
		guest_send "run echo restored"
		sleep 5
		[ "$(guest_count "TERN-GUEST: run rc=")" = 0 ] || fail "the paused guest ran"
		"$TERN" ctl ctl.sock resume || fail "resume failed"
		wait_for tern.log "TERN-GUEST: run rc=" 120
	else
		guest_run "echo restored" 120
	fi
}

# status.out: the control socket's status reply, once tern answers.
ctl_status() {
	for _ in $(seq 300); do
		"$TERN" ctl ctl.sock status >status.out 2>&1 && return 0
		kill -0 "$tern_pid" 2>/dev/null || fail "tern exited: $(cat tern-stderr.log)"
		sleep 0.2
	done
	fail "tern's control socket does not answer: $(cat status.out)"
}

seconds() { awk "BEGIN { print $1 }"; }

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock --snapshot-dir "$PWD"
guest_run 'dev=$(ls /sys/class/net | grep -v "^lo$" | head -n 1); ip addr add '"$GUEST_IP"'/24 dev $dev && ip link set $dev up' 60
expect_status "$run_rc" 0 "cannot configure the guest's network"
guest_run "ping -c 2 -W 5 $HOST_IP" 60
expect_status "$run_rc" 0 "no network before the snapshot"
# The counter is replaced with a rename, never truncated in place: a read
# between a truncate and its write would see no value.
guest_run '(i=0; while :; do i=$((i+1)); echo $i >/tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.2; done) &' 30
guest_run "blkpattern write /dev/vda 7 4194304" 300
expect_status "$run_rc" 0 "disk write failed"
sleep 2
guest_run "$STATE" 30
c1=$(guest_value COUNTER) u1=$(guest_value UPTIME)
t1=$(date +%s)
[ "${c1:-0}" -gt 0 ] || fail "the guest's counter is not running"

"$TERN" ctl ctl.sock snapshot path="$PWD/snap.tern" >ctl.out 2>&1 || { cat ctl.out; fail "tern ctl snapshot failed"; }
cat ctl.out
[ -s snap.tern ] || fail "no snapshot file"
# Disks are not in the snapshot (docs/stream-format.md): keep the image as it
# was at the snapshot, for each restore to start from.
cp disk.img disk-at-snapshot.img
echo "snapshot: $(stat -c %s snap.tern) bytes"
# The source kept running after the snapshot.
guest_run "$STATE" 30
[ "$(guest_value COUNTER)" -ge "$c1" ] || fail "the source's counter went back after the snapshot"
kill -KILL "$tern_pid"; wait "$tern_pid" 2>/dev/null; exec 3>&-

for round in 1 2; do
	mv tern.log "tern-source-$round.log"
	t_restore=$(date +%s)
	cp disk-at-snapshot.img disk.img
	guest_restore snap.tern "$([ "$round" = 2 ] && echo paused)"
	guest_run "$STATE" 30
	c2=$(guest_value COUNTER) u2=$(guest_value UPTIME)
	t2=$(date +%s)
	echo "restore $round: counter $c1 -> $c2, uptime $u1 -> $u2 s, wall $((t2 - t1)) s since the first reading"
	[ "${c2:-0}" -ge "$c1" ] || fail "the counter did not continue: $c1 before, $c2 after restore $round"
	# Guest time since the snapshot's reading: at most the wall time since
	# the restore plus what passed before the snapshot (continue policy).
	du=$(seconds "$u2 - $u1")
	max=$(seconds "$t2 - $t_restore + 30")
	[ "$(seconds "($du >= 0) && ($du <= $max)")" = 1 ] ||
		fail "guest uptime jumped by $du s (allowed 0..$max s) across restore $round"
	guest_run "blkpattern verify /dev/vda 7 4194304" 300
	expect_status "$run_rc" 0 "the disk does not hold what was written before the snapshot"
	guest_run "$COUNT" 30
	m1=$(guest_value MSI-COUNT)
	guest_run "blkpattern write /dev/vda $((10 + round)) 1048576 && blkpattern verify /dev/vda $((10 + round)) 1048576" 300
	expect_status "$run_rc" 0 "disk I/O after restore $round failed"
	guest_run "$COUNT" 30
	m2=$(guest_value MSI-COUNT)
	echo "virtio MSIs after restore $round: $m1 -> $m2"
	[ "${m2:-0}" -gt "${m1:-0}" ] || fail "MSI counts did not grow after restore $round ($m1 -> $m2)"
	guest_run "ping -c 2 -W 5 $HOST_IP" 60
	expect_status "$run_rc" 0 "no network after restore $round"
	"$TERN" ctl ctl.sock status || fail "tern ctl status failed after restore $round"
	kill -KILL "$tern_pid"; wait "$tern_pid" 2>/dev/null; exec 3>&-
done

# Bad snapshots: refused with exit 2 and a message, before the guest runs.
refused() { # FILE PATTERN [MACHINE...]
	_f=$1 _p=$2; shift 2
	timeout -s KILL "$(lab_scaled 120)" \
		"$TERN" run $TERN_LAB_OPTS --restore "$_f" "$@" </dev/null >refused.log 2>&1
	_st=$?
	cat refused.log
	expect_status "$_st" 2 "restoring $_f did not exit 2"
	grep -q "$_p" refused.log || fail "restoring $_f: no message matching '$_p'"
}
size=$(stat -c %s snap.tern)
cp snap.tern corrupt.tern
printf '\377' | dd of=corrupt.tern bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
refused corrupt.tern "CRC" $MACHINE
head -c $((size / 3)) snap.tern >truncated.tern
refused truncated.tern "truncated" $MACHINE
refused snap.tern "RAM" --cpus 2 --memory 512M --disk path=disk.img --net "tap=$TAP,mac=$MAC"
refused snap.tern "vCPUs" --cpus 1 --memory 256M --disk path=disk.img --net "tap=$TAP,mac=$MAC"
refused snap.tern "devices" --cpus 2 --memory 256M --disk path=disk.img
echo "snapshot scenario passed"
