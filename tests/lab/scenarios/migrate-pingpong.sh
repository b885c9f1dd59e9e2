#!/bin/sh
# Live migration ping-pong with a tiny dirty ring (issue 5). One guest moves
# five times between terns over two alternating unix sockets while the memory
# verifier stamps its working set. Every tern has the smallest ring KVM takes
# (one page: 256 entries, 192 before the soft limit), so the vCPUs stop on
# KVM_EXIT_DIRTY_RING_FULL many times per round and wait for the harvester.
# After each move: the source exited 0 with its report, which counts those
# exits (at least one, or the path was not exercised); the destination's
# guest passes the verifier, answers, and its virtio-rng MSIs keep arriving.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 192M --dirty-ring 256"
MOVES=5
trap 'guest_dump_logs' EXIT

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
# 64 MiB stamped at 32 MiB/s: ~8000 page writes a second against a 192-entry
# soft limit per vCPU.
memverify_start 64 32
verifier_passes "before any migration"

total_exits=0
i=1
while [ "$i" -le "$MOVES" ]; do
	uri="unix:$PWD/mig$((i % 2)).sock"
	# shellcheck disable=SC2086
	dest_listen "dst$i" "$uri" $MACHINE --control "dst$i.sock"
	# The ring-full path is under test, not the downtime target: the fixed
	# cost tern plans with includes the measured handshake round trip, which
	# an emulated host under load stretches past the 300 ms default.
	migrate "$uri" downtime_ms=1000
	source_migrated 300 "move $i"
	echo "REPORT: move $i: $report"
	exits=$(echo "$report" | sed -n 's/.* \([0-9][0-9]*\) dirty-ring-full exits.*/\1/p')
	[ -n "$exits" ] || fail "the report does not count dirty-ring-full exits: $report"
	total_exits=$((total_exits + exits))
	switch_to_dest "dst$i"
	verifier_passes "after move $i"
	guest_answers "$i"
	# MSIs of the virtio-rng device: reading it makes tern complete requests.
	msis_grow "head -c 4096 /dev/hwrng >/dev/null" 60 "after move $i (RNG reads)"
	i=$((i + 1))
done
echo "REPORT: KVM_EXIT_DIRTY_RING_FULL over $MOVES moves: $total_exits"
[ "$total_exits" -gt 0 ] || fail "no vCPU ever exited with KVM_EXIT_DIRTY_RING_FULL: the tiny ring was not exercised"
guest_poweroff 120
echo "migrate-pingpong scenario passed"
