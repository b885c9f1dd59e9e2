#!/bin/sh
# The lab's host is fit for tern: /dev/kvm is a character device and the
# kernel is at least 6.18 (guest_memfd on arm64; an older one: SKIP). Needs no
# tern binary.
# timeout: 30
# by-name-only: tests the lab's host, not tern (run it when a lab misbehaves)
. "$LAB/lib.sh"

[ -e /dev/kvm ] || fail "/dev/kvm does not exist (host kernel without KVM, or not booted at EL2)"
[ -c /dev/kvm ] || fail "/dev/kvm is not a character device"

release=$(uname -r)
major=${release%%.*}
minor=${release#*.}
minor=${minor%%[!0-9]*}
echo "host kernel $release"
# An older kernel is one a developer chose (tests/lab/run --host-kernel): fit
# for most of tern, and the scenarios that need more say so themselves.
[ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 18 ]; } ||
	host_lacks "guest_memfd for arm64 VMs (Linux 6.18+)"
