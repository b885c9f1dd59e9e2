#!/bin/sh
# Disk requests in flight when a live migration pauses the guest (issue 12).
# The final stage's pause finishes every virtio-blk request in flight
# (quiesce) before the last pages go: their data, status bytes and used
# ring entries are written into guest RAM then, by tern, not by the guest,
# and only the written log gets those pages to the destination. In the
# guest, two request streams run across the move:
#  - on vda, 4 threads of O_DIRECT requests (blkpattern churn: reads checked
#    against the pattern the disk holds, into buffers poisoned before each
#    read, and writes of that same pattern);
#  - on vdb, back-to-back BLKZEROOUT of all 64 MiB (blkpattern zeroes),
#    each checked by reading back.
# After the move the guest stops them; every request's status and data
# must have been right, and vda must still hold the pattern.
#
# tern logs how many requests it completed at the pause ("N requests in
# flight at the pause completed"). A move without any is not a test of
# this: the scenario moves the guest again (up to 3 moves, each to a fresh
# tern) until one pause caught requests in flight, and fails, saying so,
# if none did (after checking the streams all the same).
#
# On a tmpfs-backed image io_uring finishes a request in well under a
# millisecond, while parking the vCPUs takes tens of milliseconds, during
# which the I/O thread completes every request (0 in 9 moves so). So vda is
# a memory-backed null_blk device (Documentation/block/null_blk.rst) whose
# every request completes SLOW_MS after it reaches the driver, opened
# with O_DIRECT (direct=on) so that the host's page cache does not answer
# for them: a request the guest submitted in the last SLOW_MS before the
# quiesce is still in flight then. Parking the vCPUs took about 100 ms in
# the lab, so SLOW_MS is three times that (at 100 ms, one move in two
# caught none).
# timeout: 1200
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
SLOW_MS=300

# slow_disk NAME MIB: a memory-backed null_blk device of MIB MiB, each request
# completed SLOW_MS after it arrives; its path in DEV.
slow_disk() {
	_sd=/sys/kernel/config/nullb/$1
	mkdir "$_sd" || fail "cannot create the null_blk device $1 in configfs"
	echo "$2" >"$_sd/size" && echo 1 >"$_sd/memory_backed" && echo 2 >"$_sd/irqmode" &&
		echo $((SLOW_MS * 1000000)) >"$_sd/completion_nsec" && echo 1 >"$_sd/power" ||
		fail "cannot configure the null_blk device $1"
	# Named after the configfs item (7.2), or nullb<index> (older kernels).
	for _i in $(seq 50); do
		for DEV in "/dev/$1" "/dev/nullb$(cat "$_sd/index")"; do
			[ -b "$DEV" ] && return 0
		done
		sleep 0.1
	done
	fail "no block device /dev/$1 or /dev/nullb$(cat "$_sd/index") for the null_blk device $1"
}

# The device outlives the scenario otherwise (and holds its memory), also
# one half made when a step of slow_disk failed.
remove_disks() {
	_d=/sys/kernel/config/nullb/inflight-$$
	[ -d "$_d" ] || return 0
	echo 0 >"$_d/power" 2>/dev/null
	rmdir "$_d" 2>/dev/null
}

[ -d /sys/module/null_blk ] || host_lacks "the null_blk module"
grep -q configfs /proc/mounts || mount -t configfs configfs /sys/kernel/config ||
	fail "cannot mount configfs"
[ -d /sys/kernel/config/nullb ] || host_lacks "null_blk's configfs interface"
trap remove_disks EXIT
slow_disk "inflight-$$" 32
disk=$DEV
# vdb's stream reads its 64 MiB back in 4 KiB blocks after each zeroing: on
# a slow disk one pass would outlast the scenario, and the zeroing itself
# would hold the pause for seconds. So it stays on an image in tmpfs.
dd if=/dev/zero of=zero.img bs=1048576 count=64 2>/dev/null || fail "cannot create zero.img"
MACHINE="--cpus 2 --memory 256M --disk path=$disk,direct=on --disk path=zero.img"
trap 'guest_dump_logs; remove_disks' EXIT

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
guest_run "blkpattern write /dev/vda 11" 300
expect_status "$run_rc" 0 "writing the pattern to the disk failed"
guest_run "rm -f /tmp/stop; blkpattern churn /dev/vda 11 /tmp/stop 4 >/tmp/churn.out 2>&1 & blkpattern zeroes /dev/vdb /tmp/stop >/tmp/zeroes.out 2>&1 &" 30
expect_status "$run_rc" 0 "starting the request streams failed"

inflight=0 moves=0
while [ "$moves" -lt 3 ] && [ "$inflight" -eq 0 ]; do
	moves=$((moves + 1))
	URI="unix:$PWD/mig$moves.sock"
	# shellcheck disable=SC2086
	dest_listen "dst$moves" "$URI" $MACHINE --control "dst$moves.sock"
	# The stream runs a while before each move (its requests fill rounds).
	sleep 3
	# The request streams load the emulated host: its round trips alone
	# can exceed the default 300 ms target, which is not what is tested.
	migrate "$URI" downtime_ms=3000
	source_migrated 600 "move $moves with disk requests running"
	echo "REPORT: move $moves: $report"
	n=$(sed -n 's/.*: \([0-9]*\) requests in flight at the pause completed.*/\1/p' \
		tern-stderr.log | awk '{ s += $1 } END { print s + 0 }')
	echo "REPORT: move $moves: $n disk requests were in flight at the pause and completed in the final stage"
	inflight=$((inflight + n))
	switch_to_dest "dst$moves"
	# The guest is busy with its streams: a generous wait for an answer.
	guest_run "echo answered-move$moves" 300
	guest_log | grep -q "^answered-move$moves" || fail "the guest does not answer after move $moves"
done

guest_run "touch /tmp/stop; while ! grep -q '^blkpattern: churn' /tmp/churn.out || ! grep -q '^blkpattern: zeroes' /tmp/zeroes.out; do sleep 1; done; cat /tmp/churn.out /tmp/zeroes.out" 300
expect_status "$run_rc" 0 "waiting for the request streams to end failed"
result=$(guest_log | grep "^blkpattern: churn" | tail -n 1)
zresult=$(guest_log | grep "^blkpattern: zeroes" | tail -n 1)
echo "REPORT: guest: $result"
echo "REPORT: guest: $zresult"
case $result in
*" errors=0 mismatches=0"*) ;;
*) fail "a disk request failed or read wrong data across the move(s): $(guest_log | grep '^blkpattern: churn' | tail -n 3)" ;;
esac
case $zresult in
*" errors=0 mismatches=0") ;;
*) fail "a write-zeroes request failed or left data across the move(s): $zresult" ;;
esac
reads=$(echo "$result" | sed -n 's/.* reads=\([0-9]*\).*/\1/p')
[ "${reads:-0}" -gt 0 ] || fail "the request stream did no reads: $result"
guest_run "blkpattern verify /dev/vda 11" 300
expect_status "$run_rc" 0 "the disk does not hold the pattern after the move(s)"
guest_poweroff 120
trap remove_disks EXIT
[ "$inflight" -gt 0 ] ||
	fail "no disk request was in flight at any of $moves pauses: nothing completed in a final stage (the stream's checks passed)"
echo "REPORT: $inflight disk requests completed in a final stage over $moves move(s); $result; $zresult"
echo "migrate-blk-inflight scenario passed"
