#!/bin/sh
# A live migration whose commit goes out and whose confirmation is lost
# (migration/migrate.c, finish_unconfirmed). A relay between the two terns
# (guest-images/tools/migrelay.c) passes everything but the destination's
# "running", then cuts both connections, as a network failing at that moment
# would. The destination has committed and runs the guest; the source must
# not run it too: it reports the migration "unconfirmed" with a message
# saying why and what to do, keeps its VM paused (still so seconds later:
# nothing resumes it behind the operator's back) and answers its control
# socket. Both of the operator's answers, one move each: the destination
# is gone (killed here), so 'resume' runs the guest at the source again,
# memory verifier, disk and console included; the destination runs it, so
# the source 'quit's and the guest, at the destination, passes the memory
# verifier and answers.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
[ -x "$LAB_BIN/migrelay" ] || fail "no $LAB_BIN/migrelay (built from guest-images/tools)"
MACHINE="--cpus 2 --memory 256M --disk path=disk.img"
relay_pid=''
trap '[ -z "$relay_pid" ] || kill "$relay_pid" 2>/dev/null; guest_dump_logs' EXIT
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"

# The source's status: migration in state $1, the VM $2 (running or paused).
source_is() {
	grep -q "\"state\": \"$1\"" status.out || fail "the source does not report the migration $1: $(cat status.out)"
	grep -q "\"state\": \"$2\"" status.out || fail "the source VM is not $2: $(cat status.out)"
}

# shellcheck disable=SC2086
guest_serve $MACHINE --control ctl.sock
memverify_start 32 4
verifier_passes "before the migration"

# lost_confirmation NAME: a move to a new destination NAME through the
# relay, which drops its "running"; the source left unconfirmed and paused.
lost_confirmation() {
	rm -f relay.sock
	# shellcheck disable=SC2086
	dest_listen "$1" "unix:$PWD/$1.mig" $MACHINE --control "$1.sock"
	"$LAB_BIN/migrelay" "$PWD/relay.sock" "$PWD/$1.mig" >relay.log 2>&1 &
	relay_pid=$!
	i=0
	while [ ! -S relay.sock ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -S relay.sock ] || fail "the relay does not listen: $(cat relay.log)"
	migrate "unix:$PWD/relay.sock"
	wait_migration_state unconfirmed 300
	source_is unconfirmed paused
	wait "$relay_pid"
	relay_status=$?
	relay_pid=''
	cat relay.log
	expect_status "$relay_status" 0 "$1: the relay did not drop the destination's confirmation"
	grep -q '"error": ' status.out || fail "$1: no error message in the source's status"
	grep -aq "the destination may be running the guest, so it stays paused here" tern-stderr.log ||
		fail "$1: the source does not say why it stays paused: $(grep -a migration tern-stderr.log | tail -n 3)"
	# Nothing resumes it later, and it still answers.
	sleep 3
	migration_status ctl.sock || fail "$1: the source no longer answers 'status'"
	source_is unconfirmed paused
}

# The destination is gone: the operator resumes the source.
lost_confirmation dst1
kill -KILL "$dest_pid"
wait "$dest_pid" 2>/dev/null
exec 4>&-
"$TERN" ctl ctl.sock resume >resume.out 2>&1 || fail "the source refused 'resume': $(cat resume.out)"
migration_status ctl.sock
grep -q '"state": "running"' status.out || fail "the source VM does not run after 'resume': $(cat status.out)"
verifier_passes "at the source, resumed after the lost confirmation"
guest_answers src-resumed
guest_run "blkpattern write /dev/vda 7 1048576 && blkpattern verify /dev/vda 7 1048576" 300
expect_status "$run_rc" 0 "disk I/O failed at the source after 'resume'"

# The destination runs it: the source quits.
lost_confirmation dst2
"$TERN" ctl ctl.sock quit >quit.out 2>&1 || fail "the source refused 'quit': $(cat quit.out)"
wait_source_exit 60
echo "REPORT: the source exited with status $status after 'quit'; relay: $(cat relay.log)"
switch_to_dest dst2
verifier_passes "at the destination after the lost confirmation"
guest_answers dst2
guest_poweroff 120
echo "migrate-unconfirmed scenario passed"
