#!/bin/sh
# Confinement (issue 13): every thread of a running tern is under a seccomp
# filter (/proc/PID/task/*/status says "Seccomp: 2"; with --sandbox off,
# none is), the main thread and the vCPUs under one each; the guest does disk I/O under it; 'snapshot' writes into
# --snapshot-dir, and a path outside it, or any snapshot without the option,
# is refused with a message while the VM runs on. Reports the host's LSMs
# (Landlock must be among them for the file-system rules to apply).
# Then Landlock alone, with the test build of tern (TERN_TEST: scripts/build
# arm64-test, meson -Dtest_commands=true; the lab puts it in the host as
# /lab/tern-test and runs every other scenario with the release build):
# its control command test-open opens a path on the control thread, whose
# seccomp list allows openat anyway. Confined, tern opens the disk and a
# file in --snapshot-dir, but a file beside the disk and the kernel it
# loaded at start are refused, EACCES on the control socket, and tern
# answers status after; with --sandbox off the same opens succeed, so the
# refusal is the sandbox's. (A second build rather than the lab's tern with
# the option on: the binary the suite and bench/ run is then the one that
# ships; meson test checks that one has no test-open.)
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap 'guest_dump_logs' EXIT
mkdir -p snaps outside
dd if=/dev/zero of=disk.img bs=1048576 count=8 2>/dev/null || fail "cannot create disk.img"
[ -e /sys/kernel/security/lsm ] || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
lsm=$(cat /sys/kernel/security/lsm 2>/dev/null || echo "unknown (no securityfs)")
echo "REPORT: host LSMs: $lsm"

# seccomp_threads PID: "filtered total" over the process's threads.
seccomp_threads() {
	_f=0 _n=0
	for _s in /proc/"$1"/task/*/status; do
		_n=$((_n + 1))
		grep -q '^Seccomp:[[:space:]]*2' "$_s" && _f=$((_f + 1))
	done
	echo "$_f $_n"
}

guest_serve --cpus 2 --memory 256M --disk path=disk.img --control ctl.sock \
	--snapshot-dir "$PWD/snaps"
guest_run "blkpattern write /dev/vda 5 8388608 && sync" 300
expect_status "$run_rc" 0 "disk I/O under the sandbox failed"
set -- $(seccomp_threads "$tern_pid")
echo "REPORT: threads under seccomp: $1 of $2"
[ "$2" -ge 4 ] || fail "expected at least main, 2 vCPUs and the I/O thread, saw $2 threads"
[ "$1" = "$2" ] || fail "only $1 of $2 threads run under a seccomp filter"
# Filters stack, but vCPU threads are created before the main thread's
# (vcpus_spawn): the main thread and each vCPU run under one filter, every
# other thread under its creator's and its own.
counts=$(sed -n 's/^Seccomp_filters:[[:space:]]*//p' /proc/"$tern_pid"/task/*/status | sort -n | tr '\n' ' ')
echo "REPORT: seccomp filters per thread: $counts"
single=$(echo "$counts" | tr ' ' '\n' | grep -cx 1)
[ "$single" = 3 ] || fail "expected 3 threads (main, 2 vCPUs) under one filter, saw $single: $counts"

"$TERN" ctl ctl.sock snapshot path="$PWD/snaps/in.tern" >ctl.out 2>&1 ||
	{ cat ctl.out; fail "a snapshot into --snapshot-dir failed"; }
[ -s snaps/in.tern ] || fail "no snapshot file in --snapshot-dir"
for p in "$PWD/outside/out.tern" "$PWD/snaps/../outside/up.tern" "/tmp/tern-out.tern"; do
	if "$TERN" ctl ctl.sock snapshot path="$p" >ctl.out 2>&1; then
		fail "a snapshot to $p, outside --snapshot-dir, was accepted"
	fi
	cat ctl.out
	grep -q "outside --snapshot-dir" ctl.out || fail "the refusal of $p does not say why"
	[ ! -e "$p" ] || fail "the refused snapshot $p was written"
done
guest_run "echo still-running" 60
expect_status "$run_rc" 0 "the guest stopped after a refused snapshot"
guest_send "poweroff"
guest_wait_exit 120
expect_status "$status" 0 "tern did not exit 0 at poweroff"
grep -q "sandbox:" tern-stderr.log && fail "sandbox violation: $(grep sandbox: tern-stderr.log)"
"$LAB_BIN/blkpattern" verify disk.img 5 8388608 || fail "disk.img does not hold what the guest wrote"

# Without --snapshot-dir there is nowhere to write; with --sandbox off no
# thread is filtered.
mv tern.log tern-1.log
guest_serve --cpus 1 --memory 256M --control ctl.sock --sandbox off
grep -q "sandbox off" tern-stderr.log || fail "--sandbox off does not warn"
set -- $(seccomp_threads "$tern_pid")
[ "$1" = 0 ] || fail "--sandbox off: $1 of $2 threads filtered"
if "$TERN" ctl ctl.sock snapshot path="$PWD/snaps/none.tern" >ctl.out 2>&1; then
	fail "a snapshot without --snapshot-dir was accepted"
fi
grep -q "without --snapshot-dir" ctl.out || fail "no reason for the refusal: $(cat ctl.out)"
guest_send "poweroff"
guest_wait_exit 120
expect_status "$status" 0 "tern did not exit 0 at poweroff (--sandbox off)"

[ -x "${TERN_TEST:-}" ] ||
	fail "no test build of tern at '${TERN_TEST:-}' (TERN_TEST): run scripts/build arm64-test, then the lab again"
TERN=$TERN_TEST
echo "not named on tern's command line" >unlisted.txt

mv tern.log tern-2.log
mv tern-stderr.log tern-stderr-2.log

# test_tern ARGS...: the test build with ARGS, until it answers status
# (which it does once confined; the guest boots on behind it, and waits).
test_tern() {
	GUEST_STDERR=tern-stderr.log guest_start --cpus 1 --memory 256M --control ctl.sock \
		--cmdline "$GUEST_CMDLINE tern.action=serve" "$@"
	_tt_end=$(($(date +%s) + $(lab_scaled 60)))
	until "$TERN" ctl ctl.sock status >ctl.out 2>&1; do
		kill -0 "$tern_pid" 2>/dev/null || fail "the test build exited: $(cat tern-stderr.log)"
		[ "$(date +%s)" -lt "$_tt_end" ] || fail "the test build does not answer status: $(cat ctl.out)"
		sleep 0.5
	done
}

test_open_ok() {
	"$TERN" ctl ctl.sock test-open path="$1" >ctl.out 2>&1 || fail "test-open $1 ($2) failed: $(cat ctl.out)"
	grep -q '"opened"' ctl.out || fail "test-open $1: no \"opened\" in the reply: $(cat ctl.out)"
	echo "test-open $1 ($2): opened"
}

quit_test_tern() {
	"$TERN" ctl ctl.sock status >ctl.out 2>&1 || fail "no status after the opens ($1): $(cat ctl.out)"
	grep -q '"state"' ctl.out || fail "status after the opens ($1): $(cat ctl.out)"
	"$TERN" ctl ctl.sock quit >ctl.out 2>&1 || fail "quit ($1): $(cat ctl.out)"
	guest_wait_exit 120
	expect_status "$status" 0 "the test build did not exit 0 at quit ($1)"
	! grep "sandbox:" tern-stderr.log || fail "sandbox violation in the test build ($1)"
	mv tern.log "tern-test-$2.log"
	mv tern-stderr.log "tern-stderr-test-$2.log"
}

step "test-open, sandbox on"
test_tern --disk path="$PWD/disk.img" --snapshot-dir "$PWD/snaps"
test_open_ok "$PWD/disk.img" "a --disk"
test_open_ok "$PWD/snaps/in.tern" "in --snapshot-dir"
ctl_refused ctl.sock "(EACCES)" test-open path="$PWD/unlisted.txt"
ctl_refused ctl.sock "(EACCES)" test-open path="$KERNEL"
echo "REPORT: sandbox on: test-open of an unlisted file and of --kernel refused: $(sed -n 's/.*"error": *"\([^"]*\)".*/\1/p' ctl-test-open.out)"
kill -0 "$tern_pid" 2>/dev/null || fail "tern exited after the refused opens"
quit_test_tern "sandbox on" on

step "test-open, sandbox off"
test_tern --disk path="$PWD/disk.img" --sandbox off
test_open_ok "$PWD/unlisted.txt" "unlisted, --sandbox off"
test_open_ok "$KERNEL" "--kernel, --sandbox off"
quit_test_tern "sandbox off" off
echo "sandbox scenario passed"
