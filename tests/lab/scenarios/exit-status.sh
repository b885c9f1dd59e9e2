#!/bin/sh
# The exit status says whose the problem is (README, "Exit status"): a host
# without /dev/kvm exits 1, though its open() fails with ENOENT, which once
# read as "bad usage" (2); a snapshot path that does not exist, the user's
# input to a loader, exits 2.
# timeout: 60
. "$LAB/lib.sh"
need_tern

# tern in a private mount namespace whose /dev is an empty tmpfs: a host
# without KVM. (Root ignores file modes: a chmod of /dev/kvm would not do.)
unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" run --kernel "$1" --memory 256M' \
	"$TERN" "$KERNEL" </dev/null >nokvm.log 2>&1
status=$?
cat nokvm.log
[ -c /dev/kvm ] || fail "/dev/kvm is gone outside the namespace too"
grep -q "cannot open /dev/kvm" nokvm.log || fail "tern did not fail on /dev/kvm"
expect_status "$status" 1 "a host without /dev/kvm is a host problem"

"$TERN" run --restore does-not-exist --memory 256M </dev/null >restore.log 2>&1
status=$?
cat restore.log
grep -q "cannot open the snapshot" restore.log || fail "no message naming the snapshot"
expect_status "$status" 2 "a snapshot that does not exist is bad input"
