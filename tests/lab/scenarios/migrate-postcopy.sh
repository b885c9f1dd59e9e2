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
# khugepaged scans without pause during the moves: it collapses any
# huge-page range of anonymous RAM whose dropped pages are not yet
# registered with userfaultfd, filling them with zeros that never fault
# (migration/postcopy_incoming.c). With the destination dropping before it
# registers, this guest's rings and page tables were found zeroed on the
# first move; at its default pace khugepaged hit that window about one
# move in five.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --disk path=disk.img"
KHUGEPAGED=/sys/kernel/mm/transparent_hugepage/khugepaged
# khugepaged_pace SCAN_SLEEP_MS ALLOC_SLEEP_MS PAGES_TO_SCAN
khugepaged_pace() {
	[ -w "$KHUGEPAGED/scan_sleep_millisecs" ] || return 0
	echo "$1" >"$KHUGEPAGED/scan_sleep_millisecs"
	echo "$2" >"$KHUGEPAGED/alloc_sleep_millisecs"
	echo "$3" >"$KHUGEPAGED/pages_to_scan"
}
if [ -r "$KHUGEPAGED/scan_sleep_millisecs" ]; then
	pace0=$(cat "$KHUGEPAGED/scan_sleep_millisecs" "$KHUGEPAGED/alloc_sleep_millisecs" \
		"$KHUGEPAGED/pages_to_scan" | tr '\n' ' ')
else
	pace0=''
fi
# shellcheck disable=SC2086 # the saved pace is three words
trap 'guest_dump_logs; [ -z "$pace0" ] || khugepaged_pace $pace0' EXIT
khugepaged_pace 0 0 65536
dd if=/dev/zero of=disk.img bs=1048576 count=4 2>/dev/null || fail "cannot create disk.img"

# shellcheck disable=SC2086
guest_serve $MACHINE --memory 256M --control ctl.sock
memverify_start 32 4
verifier_passes "before any migration"
seed=7

# One move: $1 a name, $2 the destination's memory backend.
move() {
	uri="unix:$PWD/$1.mig"
	# shellcheck disable=SC2086
	dest_listen "$1" "$uri" $MACHINE --memory "256M,backend=$2" --control "$1.sock"
	t0=$(date +%s)
	migrate "$uri" postcopy=true
	source_migrated 300 "post-copy $1"
	grep "post-copy: .* sent on demand" tern-stderr.log | tail -n 1
	echo "REPORT: $1 ($2): $report; wall $(($(date +%s) - t0)) s"
	switch_to_dest "$1"
	wait_for tern-stderr.log "post-copy completed" 120
	line=$(grep "post-copy completed" tern-stderr.log | tail -n 1)
	echo "REPORT: destination $1: $line"
	echo "$line" | grep -q "fetched on demand, .* p50 [0-9]* us p99 [0-9]* us" ||
		fail "the destination's post-copy report lacks the latency percentiles: $line"
	grep -q "post-copy: [0-9]* pages missing; RAM registered with userfaultfd" tern-stderr.log ||
		fail "the destination never switched to post-copy ($1)"
	verifier_passes "after post-copy migration $1"
	guest_answers "$1"
	seed=$((seed + 1))
	msis_grow "blkpattern write /dev/vda $seed 1048576 && blkpattern verify /dev/vda $seed 1048576" 300 \
		"after migration $1 (disk I/O)"
}

move pc1 memfd
move pc2 anon
guest_poweroff 120
echo "migrate-postcopy scenario passed"
