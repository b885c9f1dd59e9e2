#!/bin/sh
# Confinement (issue 13): every thread of a running tern is under a seccomp
# filter (/proc/PID/task/*/status says "Seccomp: 2"; with --sandbox off,
# none is); the guest does disk I/O under it; 'snapshot' writes into
# --snapshot-dir, and a path outside it, or any snapshot without the option,
# is refused with a message while the VM runs on. Reports the host's LSMs
# (Landlock must be among them for the file-system rules to apply).
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
echo "sandbox scenario passed"
