#!/bin/sh
# Post-copy migrations whose page channel breaks, or that cannot start
# (docs/postcopy.md, "Losing the connection"). The recovery timeout is cut
# to 10 s (recovery_timeout_s), which the source hands the destination.
# 1. A destination whose RAM is guest_memfd, which userfaultfd cannot serve,
#    refuses at the switch-over, before its 'ack': the source says why and
#    resumes its guest (whose memory verifier still passes).
# 2. A pre-copy migration is switched to post-copy on command
#    (migrate-start-postcopy), then its channel breaks while both live
#    (migrate-reconnect drops it; the push is capped at 2 MiB/s so that
#    post-copy lasts long enough), twice: once plainly (the destination
#    sees the break first, holds its vCPUs, then takes the new channel),
#    once with the destination stopped (SIGSTOP) across the break, so that
#    when it runs again the new connection is already there beside the dead
#    one. Each time the source reconnects and the destination asks again
#    for what it waited on; post-copy completes with 2 reconnects counted,
#    and the verifier finds no stale page at the destination.
# 3. That destination, now a source, loses its destination (killed after
#    the 'ack'): it must not resume the guest (its newer state died there);
#    it stays paused, refuses migrate-cancel, tries to reconnect for 10 s,
#    then says the VM is lost and exits non-zero.
# 4. On a new guest the source is killed during post-copy: the destination
#    holds its vCPUs, waits 10 s for the source, says the VM is lost and
#    exits non-zero.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
MACHINE="--cpus 2"
RECOVERY="recovery_timeout_s=10"
trap 'guest_dump_logs' EXIT

# shellcheck disable=SC2086
guest_serve $MACHINE --memory 256M --control ctl.sock
memverify_start 16 8

# 1. Refused at the switch-over: the source resumes. Only where the host
# has guest_memfd (else the destination could not even start; see the end).
gmem=1
host_has_guest_memfd || gmem=0
if [ "$gmem" = 1 ]; then
	# shellcheck disable=SC2086
	dest_listen gm "unix:$PWD/gm.mig" $MACHINE --memory 256M,backend=guest_memfd
	migrate "unix:$PWD/gm.mig" postcopy=true
	wait_migration_state failed 120
	grep -q '"state": "failed"' status.out || fail "the refused post-copy migration did not fail"
	grep -q "guest_memfd cannot take a post-copy migration" status.out ||
		fail "the source's status does not carry the destination's reason"
	grep -q '"state": "running"' status.out || fail "the source VM is not running after the refusal"
	wait "$dest_pid"
	gm_status=$?
	[ "$gm_status" != 0 ] || fail "the guest_memfd destination exited 0"
	grep -q "never ran here" gm-stderr.log || fail "the destination does not say the guest never ran there"
	verifier_passes "at the source after the refused post-copy"
fi

# 2. The page channel breaks and comes back.
# shellcheck disable=SC2086
dest_listen rc "unix:$PWD/rc.mig" $MACHINE --memory 256M --control rc.sock
# downtime_ms=1: pre-copy must not converge before the switch (on a quiet
# machine round 0 alone can fit the default 300 ms).
migrate "unix:$PWD/rc.mig" "$RECOVERY" max_postcopy_bandwidth=2 downtime_ms=1
"$TERN" ctl ctl.sock migrate-start-postcopy >start-pc.out 2>&1 ||
	fail "migrate-start-postcopy was refused: $(cat start-pc.out)"
"$TERN" ctl ctl.sock migrate-start-postcopy >start-pc2.out 2>&1 &&
	fail "a second migrate-start-postcopy was accepted"
grep -q "already set to switch to post-copy" start-pc2.out ||
	fail "the second migrate-start-postcopy's refusal does not say why: $(cat start-pc2.out)"
wait_for rc-stderr.log "migration received" 300
grep -q "switching to post-copy after round [0-9]*, as asked" tern-stderr.log ||
	fail "the source did not switch to post-copy on migrate-start-postcopy"
"$TERN" ctl ctl.sock migrate-reconnect >reconnect.out 2>&1 ||
	fail "migrate-reconnect was refused in post-copy: $(cat reconnect.out)"
wait_for tern-stderr.log "post-copy: reconnected to" 60
kill -STOP "$dest_pid"
"$TERN" ctl ctl.sock migrate-reconnect >reconnect2.out 2>&1
rc2=$?
sleep 1
kill -CONT "$dest_pid"
[ "$rc2" = 0 ] || fail "the second migrate-reconnect was refused: $(cat reconnect2.out)"
source_migrated 300 "post-copy with reconnections"
grep "post-copy: reconnected to" tern-stderr.log || fail "the source never reconnected"
echo "REPORT: reconnected: $report; $(grep "post-copy: .* sent on demand" tern-stderr.log | tail -n 1)"
switch_to_dest rc
wait_for tern-stderr.log "post-copy completed" 120
line=$(grep "post-copy completed" tern-stderr.log | tail -n 1)
echo "REPORT: destination after a reconnection: $line"
echo "$line" | grep -q " 2 reconnects" || fail "the destination did not count 2 reconnections: $line"
[ "$(grep -cE "the source reconnected|opened a new page channel" tern-stderr.log)" = 2 ] ||
	fail "the destination does not say twice how the source came back"
grep -E "the source reconnected|opened a new page channel" tern-stderr.log | sed 's/^/REPORT: destination recovery: /'
verifier_passes "after post-copy with reconnections (a stale page?)"
guest_answers rc

# 3. The destination dies during post-copy.
# shellcheck disable=SC2086
dest_listen dst "unix:$PWD/dst.mig" $MACHINE --memory 256M
migrate "unix:$PWD/dst.mig" postcopy=true "$RECOVERY"
wait_for dst-stderr.log "RAM registered with userfaultfd" 300
# Its 'ack' has gone: the guest runs there from now on.
wait_for dst-stderr.log "migration received" 120
if grep -q "post-copy completed" dst-stderr.log; then
	skip "post-copy finished before the destination could be killed"
fi
kill -KILL "$dest_pid"
wait "$dest_pid" 2>/dev/null
wait_for tern-stderr.log "reconnecting for up to 10 s" 60
migration_status ctl.sock
cat status.out
grep -q '"state": "paused"' status.out || fail "the source VM is not paused while the destination is gone"
grep -q '"state": "active"' status.out || fail "the source gave up at once instead of waiting to reconnect"
"$TERN" ctl ctl.sock migrate-cancel >cancel.out 2>&1 && fail "migrate-cancel was accepted in post-copy"
grep -q "cannot be cancelled" cancel.out || fail "migrate-cancel's refusal does not say why: $(cat cancel.out)"
t0=$(date +%s)
guest_wait_exit 150
echo "REPORT: destination killed: the source exited with status $status $(($(date +%s) - t0)) s after the reconnect attempts began"
[ "$status" != 0 ] || fail "the source exited 0 although the destination died in post-copy"
grep "the VM is lost" tern-stderr.log || fail "the source does not say the VM is lost"
grep -q "the guest cannot resume here" tern-stderr.log || fail "the source does not say why it does not resume"

# 4. The source dies during post-copy.
for f in tern.log tern-stderr.log; do mv "$f" "part3-$f"; done
# shellcheck disable=SC2086
rm -f ctl.sock
guest_serve $MACHINE --memory 256M --control ctl.sock
memverify_start 16 8
# shellcheck disable=SC2086
dest_listen dst3 "unix:$PWD/dst3.mig" $MACHINE --memory 256M
migrate "unix:$PWD/dst3.mig" postcopy=true "$RECOVERY"
wait_for dst3-stderr.log "migration received" 300
if grep -q "post-copy completed" dst3-stderr.log; then
	skip "post-copy finished before the source could be killed"
fi
kill -KILL "$tern_pid"
wait "$tern_pid" 2>/dev/null
wait_for dst3-stderr.log "holding the guest's vCPUs and waiting up to 10 s for the source" 60
t0=$(date +%s)
for _ in $(seq 750); do
	kill -0 "$dest_pid" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$dest_pid" 2>/dev/null && { kill -KILL "$dest_pid"; fail "the destination is still running 150 s after losing its source (10 s timeout)"; }
wait "$dest_pid"
d_status=$?
echo "REPORT: source killed: the destination exited with status $d_status $(($(date +%s) - t0)) s after losing its source"
[ "$d_status" != 0 ] || fail "the destination exited 0 although its source died in post-copy"
grep "the VM is lost" dst3-stderr.log || fail "the destination does not say the VM is lost"
[ "$gmem" = 1 ] ||
	host_lacks "guest_memfd (KVM_CAP_GUEST_MEMFD with MMAP|INIT_SHARED): parts 2-4 passed, part 1 (a guest_memfd destination) not run"
echo "migrate-postcopy-lost scenario passed"
