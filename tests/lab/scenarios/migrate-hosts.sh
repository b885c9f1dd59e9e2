#!/bin/sh
# Live migration between two emulated hosts (issue 5): host a (the source,
# 198.18.0.1) boots a guest stamping its working set with the memory
# verifier and migrates it over the virtual network, TCP to 198.18.0.2, into
# the tern waiting with --incoming on host b (the destination). Each host runs
# this script with its LAB_ROLE; the scenario passes when both sides pass.
#   source: the migration is accepted once the destination listens, the
#           source exits 0 with its final report (REPORT: line, with MiB/s);
#   dest:   the VM arrives, the verifier finds every page current, the guest
#           answers, virtio MSIs (disk reads, RNG reads) still arrive, and the
#           guest powers off cleanly.
# Storage: the two hosts share none. Each creates the same 4 MiB image the
# same deterministic way (blkpattern, seed 7) and the guest only reads it
# (readonly=on): what shared read-only storage gives, and nothing more is
# claimed. The guest checks the pattern on both sides of the move.
# hosts: 2
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
[ -n "${LAB_ROLE:-}" ] || fail "no LAB_ROLE: a two-host scenario runs on the lab's two emulated hosts"
trap 'guest_dump_logs' EXIT

PORT=4450 SEED=7 BYTES=4194304
MACHINE="--cpus 2 --memory 256M --disk path=disk.img,readonly=on"
COUNT='awk '"'"'NR == 1 { n = NF } /ITS/ && /MSI/ && /virtio/ { for (i = 2; i <= n + 1; i++) s += $i } END { printf "MSI-COUNT=%d\n", s }'"'"' /proc/interrupts'

dd if=/dev/zero of=disk.img bs=1048576 count=$((BYTES / 1048576)) 2>/dev/null || fail "cannot create disk.img"
blkpattern write disk.img "$SEED" "$BYTES" || fail "cannot write the pattern into disk.img"
echo "$LAB_ROLE host $LAB_ADDR, peer $LAB_PEER"

source_side() {
	uri=tcp:$LAB_PEER:$PORT
	# shellcheck disable=SC2086
	guest_serve $MACHINE --control ctl.sock
	# 16 MiB rewritten at 1 MiB/s: several rounds over the emulated link (a
	# few MiB/s at best) without resending the working set for minutes.
	guest_run "memverify run 16 1 >/dev/null 2>&1 &" 30
	sleep 2
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the verifier fails before the migration"
	guest_run "blkpattern verify /dev/vda $SEED $BYTES" 120
	expect_status "$run_rc" 0 "the guest does not read the pattern from the source's disk"
	t0=$(date +%s)
	migrate_when_listening "$uri" 240
	wait_source_exit 300
	expect_status "$status" 0 "the source did not exit 0 after migrating"
	report=$(migration_report tern-stderr.log)
	[ -n "$report" ] || fail "no final report from the source: $(tail -n 5 tern-stderr.log)"
	rate=$(echo "$report" | sed -n 's/.*total \([0-9]*\) ms.* \([0-9]*\) MiB, .*/\2 \1/p' |
		awk '{ if ($2 > 0) printf "%.1f", $1 * 1000 / $2 }')
	echo "REPORT: $report; ${rate:-?} MiB/s over the emulated network; wall $(($(date +%s) - t0)) s from the first try"
}

dest_side() {
	uri=tcp:$LAB_ADDR:$PORT
	# shellcheck disable=SC2086
	incoming_start "$uri" $MACHINE --control ctl.sock
	wait_for tern-stderr.log "waiting for a migration on $uri" 60
	incoming_wait 360
	echo "REPORT: $(grep "migration received" tern-stderr.log | tail -n 1)"
	guest_run "memverify check" 60
	expect_status "$run_rc" 0 "the verifier found stale pages after the migration"
	grep -a "memverify: " tern.log | tr -d '\r' | tail -n 1
	guest_run "echo answered-on-$LAB_ROLE" 60
	guest_log | grep -q "^answered-on-$LAB_ROLE" || fail "the guest does not answer after the migration"
	guest_run "$COUNT" 30
	m1=$(guest_value MSI-COUNT)
	guest_run "blkpattern verify /dev/vda $SEED $BYTES && head -c 16384 /dev/hwrng | blkpattern sum -" 180
	expect_status "$run_rc" 0 "reading the disk or /dev/hwrng after the migration failed"
	guest_run "$COUNT" 30
	m2=$(guest_value MSI-COUNT)
	echo "virtio MSIs after the migration: $m1 -> $m2"
	[ "${m2:-0}" -gt "${m1:-0}" ] || fail "virtio MSI counts did not grow after the migration ($m1 -> $m2)"
	guest_poweroff 120
}

case $LAB_ROLE in
source) source_side ;;
dest) dest_side ;;
*) fail "unknown LAB_ROLE '$LAB_ROLE' (source or dest)" ;;
esac
echo "migrate-hosts ($LAB_ROLE) passed"
