#!/bin/sh
# Live migration on one host (issue 5): a guest with a disk (one image, the
# shared storage both terns open) and the memory verifier stamping its
# working set is migrated to a second tern over a unix socket, then from
# there to a third over plain TCP on 127.0.0.1 (insecure=on on both sides:
# the one full migration over plain TCP; TLS moves are migrate-tls's,
# migrate-hosts' and migrate-hosts-postcopy's). After each move: the source exited
# 0 with its report, the destination's guest passes the verifier, answers
# console commands, reads back what was written to the disk, and its virtio
# MSI counts keep growing with disk I/O, and its clock went on (by no more
# than the host's) with timers firing.
# timeout: 1200
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
trap 'guest_dump_logs' EXIT
# The emulated host's init leaves loopback down; the TCP move needs it.
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || fail "cannot bring up lo"
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
memverify_start 32 4
verifier_passes "before any migration"
guest_run "blkpattern write /dev/vda 5 2097152" 300
expect_status "$run_rc" 0 "disk write failed"
# The pattern the disk holds now: each move checks it, then writes the next.
seed=5 bytes=2097152

UPTIME='echo GUEST-UPTIME=$(cut -d" " -f1 /proc/uptime)'

# The guest's clock went on across move $1, by no more than the host's did
# (plus the console round trips), and its timers fire: a 1 s sleep ends.
check_timer() {
	guest_run "$UPTIME; sleep 1" 60
	expect_status "$run_rc" 0 "a 1 s sleep in the guest failed after migration $1"
	g1=$(guest_value GUEST-UPTIME) h1=$(lab_uptime)
	echo "guest uptime $g0 -> $g1 s, host $h0 -> $h1 s across migration $1"
	awk -v g0="$g0" -v g1="$g1" -v h0="$h0" -v h1="$h1" \
		'BEGIN { exit !(g1 > g0 && g1 - g0 <= h1 - h0 + 5) }' ||
		fail "the guest's clock did not go on sensibly across migration $1 (guest $g0 -> $g1 s, host $h0 -> $h1 s)"
}

# One move: $1 a name, $2 the URI, $3 its channel option (the destination's
# after a comma, the source's as a migrate argument), then more options for
# the destination. The guest helpers then drive the destination.
move() {
	_mv_name=$1 _mv_uri=$2 _mv_opt=$3
	shift 3
	# shellcheck disable=SC2086
	dest_listen "$_mv_name" "$_mv_uri${_mv_opt:+,$_mv_opt}" $MACHINE --control "$_mv_name.sock" "$@"
	set -- "$_mv_name" "$_mv_uri" "$_mv_opt"
	guest_run "$UPTIME" 30
	g0=$(guest_value GUEST-UPTIME) h0=$(lab_uptime)
	t0=$(date +%s)
	migrate "$2" $3
	source_migrated 600 "$1"
	precopy_synced "$1"
	echo "REPORT: $1 ($2): $report; wall $(($(date +%s) - t0)) s"
	switch_to_dest "$1"
	verifier_passes "after migration $1"
	guest_answers "$1"
	check_timer "$1"
	guest_run "blkpattern verify /dev/vda $seed $bytes" 300
	expect_status "$run_rc" 0 "the disk does not hold what was written before migration $1"
	seed=$((seed + 1)) bytes=1048576
	msis_grow "blkpattern write /dev/vda $seed $bytes && blkpattern verify /dev/vda $seed $bytes" 300 \
		"after migration $1 (disk I/O)"
}

# tcp: needs TLS or an explicit insecure=on, at both ends (dst1 is given
# its destination at start, as a confined tern must be).
move dst1 "unix:$PWD/mig.sock" "" --migrate-to "tcp:127.0.0.1:4444,insecure=on"
move dst2 "tcp:127.0.0.1:4444" "insecure=on"
# Both ends said it was plain text (the source's log is dst1's, kept by
# switch_to_dest; the destination's is tern-stderr.log now).
grep -q "migration to tcp:127.0.0.1:4444: insecure=on" tern-src-dst2-stderr.log ||
	fail "the source migrated over plain TCP without a warning"
grep -q "incoming tcp:127.0.0.1:4444.*insecure=on" tern-stderr.log ||
	fail "the destination took a plain TCP migration without a warning"
guest_poweroff 120
echo "migrate-local scenario passed"
