#!/bin/sh
# Snapshots read and write guest RAM through tern's mapping of it, whatever
# the backend (issue 6): a guest on guest_memfd RAM writes a marker into its
# tmpfs and is snapshotted; the snapshot is restored into guest_memfd RAM and
# then into memfd RAM, and both times the marker is there and the guest runs.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
host_has_guest_memfd || host_lacks "guest_memfd (KVM_CAP_GUEST_MEMFD with MMAP|INIT_SHARED)"
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M,backend=guest_memfd --control ctl.sock --snapshot-dir "$PWD"
guest_run 'echo tern-marker-$((6 * 7)) >/tmp/marker' 30
expect_status "$run_rc" 0 "cannot write the marker"
"$TERN" ctl ctl.sock snapshot path="$PWD/snap.tern" || fail "tern ctl snapshot failed"
kill -KILL "$tern_pid"; wait "$tern_pid" 2>/dev/null; exec 3>&-

for backend in guest_memfd memfd; do
	mv tern.log "tern-before-$backend.log"
	mv tern-stderr.log "tern-stderr-before-$backend.log"
	rm -f console.in
	mkfifo console.in
	"$TERN" run $TERN_LAB_OPTS --restore snap.tern --cpus 1 --memory "256M,backend=$backend" \
		--control ctl.sock <console.in >tern.log 2>tern-stderr.log &
	tern_pid=$!
	exec 3>console.in
	guest_run "cat /tmp/marker" 60
	expect_status "$run_rc" 0 "restored into $backend: the marker file is gone"
	guest_log | grep -q "^tern-marker-42" || fail "restored into $backend: the marker does not read back"
	"$TERN" ctl ctl.sock status | grep "\"memory_backend\": \"$backend\"" ||
		fail "restored into $backend: status does not say so"
	kill -KILL "$tern_pid"; wait "$tern_pid" 2>/dev/null; exec 3>&-
done
echo "memory-snapshot passed"
