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
COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'

# MSIs of the virtio-rng device: reading it makes tern complete requests.
msi_grows() {
	guest_run "$COUNT" 30
	m1=$(guest_value MSI-COUNT)
	guest_run "head -c 4096 /dev/hwrng >/dev/null" 60
	expect_status "$run_rc" 0 "reading /dev/hwrng failed after move $1"
	guest_run "$COUNT" 30
	m2=$(guest_value MSI-COUNT)
	[ "${m2:-0}" -gt "${m1:-0}" ] || fail "MSI counts did not grow after move $1 ($m1 -> $m2)"
	echo "virtio MSIs after move $1: $m1 -> $m2"
}

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
# 64 MiB stamped at 32 MiB/s: ~8000 page writes a second against a 192-entry
# soft limit per vCPU.
guest_run "memverify run 64 32 >/dev/null 2>&1 &" 30
sleep 2
guest_run "memverify check" 60
expect_status "$run_rc" 0 "the verifier fails before any migration"

total_exits=0
i=1
while [ "$i" -le "$MOVES" ]; do
	uri="unix:$PWD/mig$((i % 2)).sock"
	# shellcheck disable=SC2086
	dest_start "dst$i" "$uri" $MACHINE --control "dst$i.sock"
	dest_wait_listening "$uri"
	migrate "$uri"
	wait_source_exit 300
	expect_status "$status" 0 "the source did not exit 0 after move $i"
	report=$(migration_report tern-stderr.log)
	[ -n "$report" ] || fail "no final report from the source (move $i): $(tail -n 5 tern-stderr.log)"
	echo "REPORT: move $i: $report"
	exits=$(echo "$report" | sed -n 's/.* \([0-9][0-9]*\) dirty-ring-full exits.*/\1/p')
	[ -n "$exits" ] || fail "the report does not count dirty-ring-full exits: $report"
	total_exits=$((total_exits + exits))
	switch_to_dest "dst$i"
	rm -f ctl.sock
	ln -s "dst$i.sock" ctl.sock
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the verifier failed after move $i"
	grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
	guest_run "echo answered-$i" 60
	guest_log | grep -q "^answered-$i" || fail "the guest does not answer after move $i"
	msi_grows "$i"
	i=$((i + 1))
done
echo "REPORT: KVM_EXIT_DIRTY_RING_FULL over $MOVES moves: $total_exits"
[ "$total_exits" -gt 0 ] || fail "no vCPU ever exited with KVM_EXIT_DIRTY_RING_FULL: the tiny ring was not exercised"
guest_poweroff 120
echo "migrate-pingpong scenario passed"
