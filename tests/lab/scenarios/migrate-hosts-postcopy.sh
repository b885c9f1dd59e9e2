#!/bin/sh
# Post-copy live migration between two emulated hosts (docs/postcopy.md):
# host a (the source, 198.18.0.1) boots a guest whose memory verifier keeps
# rewriting 16 MiB, and migrates it with postcopy=true over TCP to the tern
# waiting with --incoming on host b (198.18.0.2). After one pre-copy round
# the guest runs on host b while the pages it dirtied meanwhile are still on
# host a: they cross the virtual network afterwards, on demand (the guest
# faults on them) or pushed. Each host runs this script with its LAB_ROLE.
#   source: the migration is accepted once the destination listens; the
#           source exits 0 with its report, which counts at least MIN_MISSING
#           pages missing at the switch-over (REPORT: pages missing, sent on
#           demand, pushed, total time, MiB/s over both channels);
#   dest:   the VM arrives, at least MIN_MISSING pages were missing, the
#           verifier passes while post-copy may still run and again after it
#           completed, post-copy completed with pages fetched on demand
#           (REPORT: its line, with p50/p99 fault latency, and its MiB/s), the
#           guest answers, virtio MSIs (disk reads, RNG reads) still arrive,
#           and the guest powers off cleanly.
# Storage: as in migrate-hosts, each host creates the same read-only image
# the same way (blkpattern, seed 7), and the guest reads it on both sides.
# Both connections (the stream and the page channel) are TLS 1.3 with the
# lab's pre-shared key (tests/lab/run).
# hosts: 2
# timeout: 480
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
need_two_hosts
trap 'guest_dump_logs' EXIT

PORT=4451 SEED=7 BYTES=4194304
MACHINE="--cpus 2 --memory 256M --disk path=disk.img,readonly=on"
# 16 MiB rewritten at 4 MiB/s: the pre-copy round over the emulated link
# (a few MiB/s) lasts long enough for the writer to lap its working set
# several times, so about all of its 4096 pages are dirty again at the
# switch. Fewer than half of them missing, and post-copy proved little.
WORKSET_MIB=16 RATE=4 MIN_MISSING=2048

hosts_disk_create "$SEED" "$BYTES"

# $1 a number of pages: fail unless at least MIN_MISSING ($2 says whose count).
enough_missing() {
	[ "${1:-0}" -ge "$MIN_MISSING" ] ||
		fail "only ${1:-no} pages missing at the switch-over ($2; at least $MIN_MISSING wanted): the guest ran on host b with nearly all its memory, post-copy was hardly exercised"
}

# "OUTSEGS RETRANSSEGS": this host's TCP segments sent and retransmitted so
# far (/proc/net/snmp). A page fetched on demand that waits out a
# retransmission timeout shows in the destination's p99 fault latency.
tcp_segments() {
	awk '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c["OutSegs"], $c["RetransSegs"] }' /proc/net/snmp
}

source_side() {
	uri=tcp:$LAB_PEER:$PORT
	# The key is read at start: confined, tern opens no key file later.
	# shellcheck disable=SC2086
	guest_serve $MACHINE --control ctl.sock --migrate-to "$uri,tls_psk=$LAB/tls/psk"
	memverify_start "$WORKSET_MIB" "$RATE"
	verifier_passes "before the migration"
	guest_run "blkpattern verify /dev/vda $SEED $BYTES" 120
	expect_status "$run_rc" 0 "the guest does not read the pattern from the source's disk"
	t0=$(date +%s)
	tcp0=$(tcp_segments)
	migrate_when_listening "$uri" 240 postcopy=true "tls_psk=$LAB/tls/psk"
	source_migrated 300 "post-copy to $uri"
	tcp1=$(tcp_segments)
	pc=$(grep "migration to .*: post-copy: .* sent on demand" tern-stderr.log | tail -n 1)
	[ -n "$pc" ] || fail "the source's report has no post-copy counts: the migration did not switch to post-copy"
	missing=$(echo "$pc" | sed -n 's/.*post-copy: \([0-9]*\) pages missing.*/\1/p')
	enough_missing "$missing" "source"
	# Bytes over both connections: the stream's MiB (the report) and the
	# pages the page channel carried afterwards.
	rate=$(printf '%s\n%s\n' "$report" "$pc" | awk '
		/completed: total/ { for (i = 1; i <= NF; i++) { if ($i == "total") ms = $(i + 1); if ($i == "MiB,") mib = $(i - 1) } }
		/sent on demand/ { for (i = 1; i <= NF; i++) { if ($i == "sent") d = $(i - 1); if ($i == "pushed,") p = $(i - 1) } }
		END { pc = (d + p) * 4096 / 1048576; r = 0; if (ms > 0) r = (mib + pc) * 1000 / ms
			printf "%d MiB in the stream + %.1f MiB on the page channel in %.1f s: %.2f MiB/s", mib, pc, ms / 1000, r }')
	echo "REPORT: ${pc#tern: }"
	echo "REPORT: ${report#tern: }"
	echo "REPORT: $rate over the emulated network; wall $(($(date +%s) - t0)) s from the first try"
	echo "$tcp0 $tcp1" | awk '{ printf "REPORT: TCP segments sent during the migration: %d, retransmitted: %d\n", $3 - $1, $4 - $2 }'
}

dest_side() {
	uri=tcp:$LAB_ADDR:$PORT
	# shellcheck disable=SC2086
	incoming_receive "$uri,tls_psk=$LAB/tls/psk" 360 $MACHINE --control ctl.sock
	missing=$(sed -n 's/.*post-copy: \([0-9]*\) pages missing; RAM registered with userfaultfd.*/\1/p' tern-stderr.log | tail -n 1)
	[ -n "$missing" ] || fail "the destination never switched to post-copy: $(tail -n 3 tern-stderr.log)"
	enough_missing "$missing" "destination"
	# The first check reads every page of the working set while pages are
	# still missing (thousands, at a few MiB/s: seconds): those it reaches
	# first come on demand.
	grep -q "post-copy completed" tern-stderr.log &&
		fail "post-copy completed before the guest was checked on host b: $(grep "post-copy completed" tern-stderr.log)"
	verifier_passes "on host b while post-copy ran"
	wait_for tern-stderr.log "post-copy completed" 120
	line=$(grep "post-copy completed" tern-stderr.log | tail -n 1)
	echo "$line" | grep -q "[0-9]* pages were missing, [0-9]* fetched on demand, .* p50 [0-9]* us p99 [0-9]* us, .* [0-9]* ms after switch-over" ||
		fail "the destination's post-copy report lacks its numbers: $line"
	echo "REPORT: ${line#tern: }"
	echo "$line" | awk '{ for (i = 1; i <= NF; i++) { if ($i == "pages" && $(i + 1) == "were") n = $(i - 1); if ($i == "fetched") d = $(i - 1); if ($i == "after") ms = $(i - 2) } }
		END { mib = n * 4096 / 1048576; r = 0; if (ms > 0) r = mib * 1000 / ms
			printf "REPORT: post-copy: %d pages missing, %d fetched on demand, %.1f MiB in %.1f s after the switch-over: %.2f MiB/s\n", n, d, mib, ms / 1000, r }'
	on_demand=$(echo "$line" | sed -n 's/.* \([0-9]*\) fetched on demand.*/\1/p')
	[ "${on_demand:-0}" -gt 0 ] || fail "no page was fetched on demand: the guest never faulted on a missing page ($line)"
	verifier_passes "on host b after post-copy completed"
	guest_answers "$LAB_ROLE"
	hosts_disk_reads "after the post-copy migration" "$SEED" "$BYTES"
	guest_poweroff 120
}

"${LAB_ROLE}_side"
echo "migrate-hosts-postcopy ($LAB_ROLE) passed"
