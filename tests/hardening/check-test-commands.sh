#!/bin/sh
# Checks that tern holds the test-only control commands (meson
# -Dtest_commands=true, vmm/control_test.c) exactly when the build asked:
#   check-test-commands.sh TERN absent|present
# absent: the default build (build/arm64/tern, the binary that ships and is
# benchmarked); present: build/arm64-test/tern, which the lab's sandbox
# scenario uses. The mark is the command's name, "test-open": the command
# table must hold it for the command to parse at all, and nothing else in
# tern spells it.
set -eu
tern=$1 want=$2
[ -f "$tern" ] || { echo "FAIL: no binary at $tern"; exit 1; }
if LC_ALL=C grep -a -q -F 'test-open' "$tern"; then have=present; else have=absent; fi
if [ "$have" != "$want" ]; then
	echo "FAIL: $tern: the test-only control command test-open is $have, expected $want"
	exit 1
fi
echo "test-only control commands (test-open): $have, as expected"
