#!/bin/sh
# Post-copy live migration on one host: a guest with a disk and the memory
# verifier stamping 32 MiB is moved with postcopy=true after one pre-copy
# round, so the pages it dirtied meanwhile reach the destination only
# after it runs (on demand through userfaultfd, or pushed). Two moves over
# unix sockets: to a memfd-backed destination (stale pages punched out of
# the memfd), then to an anon-backed one (MADV_DONTNEED). After each: the
# source exited 0 with its report, the destination reported p50/p99 fault
# latency and the pages fetched on demand, its guest passes the verifier
# (no stale page), answers, and its virtio MSIs keep arriving.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --disk path=disk.img"
trap 'guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=4 2>/dev/null || fail "cannot create disk.img"
COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'

# shellcheck disable=SC2086
guest_serve $MACHINE --memory 256M --control ctl.sock
guest_run "memverify run 32 4 >/dev/null 2>&1 &" 30
sleep 2
guest_run "memverify check" 60
expect_status "$run_rc" 0 "the verifier fails before any migration"
seed=7

# One move: $1 a name, $2 the destination's memory backend.
move() {
	uri="unix:$PWD/$1.mig"
	# shellcheck disable=SC2086
	dest_start "$1" "$uri" $MACHINE --memory "256M,backend=$2" --control "$1.sock"
	dest_wait_listening "$uri"
	t0=$(date +%s)
	migrate "$uri" postcopy=true
	wait_source_exit 300
	expect_status "$status" 0 "the source did not exit 0 after a post-copy migration ($1)"
	report=$(migration_report tern-stderr.log)
	[ -n "$report" ] || fail "no final report from the source ($1): $(tail -n 5 tern-stderr.log)"
	grep "post-copy: .* sent on demand" tern-stderr.log | tail -n 1
	echo "REPORT: $1 ($2): $report; wall $(($(date +%s) - t0)) s"
	switch_to_dest "$1"
	rm -f ctl.sock
	ln -s "$1.sock" ctl.sock
	wait_for tern-stderr.log "post-copy completed" 120
	line=$(grep "post-copy completed" tern-stderr.log | tail -n 1)
	echo "REPORT: destination $1: $line"
	echo "$line" | grep -q "fetched on demand, .* p50 [0-9]* us p99 [0-9]* us" ||
		fail "the destination's post-copy report lacks the latency percentiles: $line"
	grep -q "post-copy: [0-9]* pages missing; RAM registered with userfaultfd" tern-stderr.log ||
		fail "the destination never switched to post-copy ($1)"
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the verifier found a stale page after post-copy migration $1"
	grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
	guest_run "echo answered-$1" 60
	guest_log | grep -q "^answered-$1" || fail "the guest does not answer after migration $1"
	guest_run "$COUNT" 30
	m1=$(guest_value MSI-COUNT)
	seed=$((seed + 1))
	guest_run "blkpattern write /dev/vda $seed 1048576 && blkpattern verify /dev/vda $seed 1048576" 300
	expect_status "$run_rc" 0 "disk I/O after migration $1 failed"
	guest_run "$COUNT" 30
	m2=$(guest_value MSI-COUNT)
	echo "virtio MSIs after migration $1: $m1 -> $m2"
	[ "${m2:-0}" -gt "${m1:-0}" ] || fail "MSI counts did not grow after migration $1 ($m1 -> $m2)"
}

move pc1 memfd
move pc2 anon
guest_poweroff 120
echo "migrate-postcopy scenario passed"
