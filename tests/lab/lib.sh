# Helpers for lab scenarios. POSIX sh: runs under busybox sh in the emulated
# host and under the system's sh on a real arm64 host.
#
# Scenario contract
# -----------------
# A scenario is tests/lab/scenarios/<name>.sh, a busybox-sh script. The lab runs
# each one in a fresh, empty scratch directory (its cwd), stdin from /dev/null, with:
#   TERN       path to the tern binary (may not exist: call need_tern first)
#   TERN_TEST  path to the test build of tern (scripts/build arm64-test: the
#              test-only control commands, e.g. test-open); may not exist
#   KERNEL     the guest kernel Image
#   INITRD     the guest initramfs (guest-images/init; protocol described there)
#   LAB        directory holding this lib.sh:  . "$LAB/lib.sh"
#   LAB_SCALE  timeout multiplier (slow machines); wait_for applies it already
#   LAB_BIN    host-side test programs (blkpattern, guest-images/tools/); default $LAB/bin
#   LAB_KERNELS the guest kernel compressed (Image.gz, vmlinuz-gzip.efi,
#              vmlinuz-zstd.efi; guest-images/build); default $LAB/kernels
#   LAB_INPUT  the directory given to tests/lab/run --input DIR, or empty
#   LAB_DEBIAN_DISK  a "# host: debian" scenario's Debian system disk
#              (guest-images/debian-image): /dev/vda in the emulated host, the
#              image file itself on a real arm64 host (copy it before writing)
#   LAB_CONSOLE in the emulated host, its console (/dev/console): a long
#              scenario may write "LAB: REPORT name text" lines there to be
#              shown as they come (unset on a real arm64 host)
# Exit status: 0 = pass, 77 = skip (skip REASON prints it on a "SKIP:" line),
# anything else = fail. stdout and stderr go to the scenario's log, which the
# lab prints when the scenario fails.
#
# A header line "# timeout: SECONDS" (default 180) bounds the whole scenario; the
# lab multiplies it by LAB_SCALE and, when it expires, kills the scenario's whole
# process group (so a tern it started in the background dies with it).
#
# A header line "# hosts: 2" makes it a two-host scenario: tests/lab/run runs
# those after the others, on two emulated hosts joined by a virtual Ethernet
# (virtio-net NICs on one QEMU socket netdev), each running the same script
# with, in addition:
#   LAB_ROLE   source (host a) or dest (host b)
#   LAB_ADDR   this host's address: 198.18.0.1 (a) or 198.18.0.2 (b), /24 on its NIC
#   LAB_PEER   the other host's address
# It passes only when it passes on both. The hosts boot at their own pace: a
# side that needs the other retries (migrate_when_listening in migrate.sh) or
# waits, always with a bound. The two sides share no files: anything both
# need (a disk image) each creates the same way. LAB_ROLE is empty on one host.
#
# Lines a scenario prints starting "REPORT: " are shown by tests/lab/run even
# when it passes ("lab: REPORT name ..."): numbers worth keeping, like a
# migration's times and rate.
#
# Helpers:
#   wait_for FILE PATTERN TIMEOUT_S   wait until FILE (a growing log) contains the
#                                     fixed string PATTERN; fails the scenario on timeout
#   expect_status STATUS WANT MSG     fail with MSG unless STATUS == WANT
#   fail MSG / skip MSG               end the scenario
#   need_tern                         fail clearly when the tern binary is missing
#   need_root / need_tun              skip unless root / /dev/net/tun is usable
#                                     (need_tun loads tun when it can)
#   make_tap NAME ADDR/LEN            a persistent tap NAME, up, with that address
#                                     (busybox tunctl + ip); removed by del_tap NAME
#   step TEXT                         print TEXT, and "LAB-PROGRESS <scenario>: TEXT"
#                                     on the emulated host's console (a scenario's
#                                     log shows only at its end)
#   pci_fn ATTR VALUE [ATTR2 VALUE2]  the address of the host's first PCI function
#                                     whose sysfs ATTR reads VALUE (and ATTR2 VALUE2);
#                                     empty when there is none
#   pci_bind BDF DRIVER               hand function BDF to DRIVER through its
#                                     driver_override ('' = back to its own driver);
#                                     fails unless DRIVER ('' : any) then has it
#   host_has_kvm_cap NAME             true when the host's KVM answers > 0 for
#                                     KVM_CAP_NAME (on a VM fd; $LAB_BIN/kvmcap),
#                                     asked without tern
#   host_has_guest_memfd              true when the host's KVM offers what
#                                     --memory backend=guest_memfd needs
#   debian_disk WHERE                 DISK = the debian host's Debian disk
#                                     (LAB_DEBIAN_DISK; a copy of the image on a
#                                     real arm64 host); fails, saying WHERE it
#                                     runs, when there is none
#   host_lacks WHAT                   skip with "host lacks WHAT (host kernel REL)":
#                                     the form a scenario uses when the host kernel
#                                     (tests/lab/run --host-kernel) misses a capability

debian_disk() {
	DISK=${LAB_DEBIAN_DISK:-}
	[ -n "$DISK" ] && [ -e "$DISK" ] ||
		fail "no Debian disk (LAB_DEBIAN_DISK='$DISK'): this runs on the debian host, $1"
	# On a real arm64 host the image itself: boot a copy, leave it as built.
	if [ -f "$DISK" ]; then
		cp --sparse=always "$DISK" debian.raw || fail "cannot copy $DISK"
		DISK=$PWD/debian.raw
	fi
}

fail() {
	echo "FAIL: $*"
	exit 1
}

# The reason goes on a "SKIP:" line, which the lab shows: an EXIT trap
# (guest_dump_logs) may print more after it.
skip() {
	echo "SKIP: $*"
	exit 77
}

# hugepages_reserve N: N free huge pages of the default size, or a skip
# (a host whose memory is too fragmented or too small is not a failure).
# hugepages_restore puts back what the host had before, for the EXIT trap:
# on a real arm64 host the lab must not clobber the operator's reservation.
hugepages_reserve() {
	[ -n "${HUGEPAGES_BEFORE:-}" ] || HUGEPAGES_BEFORE=$(cat /proc/sys/vm/nr_hugepages)
	# Twice: a page poisoned by an earlier scenario stays counted, not free.
	for _try in 1 2; do
		_free=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
		[ "${_free:-0}" -ge "$1" ] && return 0
		echo $(($(cat /proc/sys/vm/nr_hugepages) + $1 - ${_free:-0})) >/proc/sys/vm/nr_hugepages
	done
	_free=$(sed -n 's/^HugePages_Free: *//p' /proc/meminfo)
	[ "${_free:-0}" -ge "$1" ] && return 0
	hugepages_restore
	skip "only ${_free:-0} of $1 huge pages could be reserved on the host"
}

hugepages_restore() {
	[ -z "${HUGEPAGES_BEFORE:-}" ] || echo "$HUGEPAGES_BEFORE" >/proc/sys/vm/nr_hugepages
}

need_tern() {
	[ -x "$TERN" ] ||
		fail "tern binary missing at $TERN (build the static aarch64 tern into build/arm64/tern, then rerun the lab)"
}

LAB_BIN=${LAB_BIN:-$LAB/bin}
LAB_KERNELS=${LAB_KERNELS:-$LAB/kernels}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

need_tun() {
	need_root
	[ -c /dev/net/tun ] || modprobe tun 2>/dev/null || insmod "$LAB/modules/tun.ko" 2>/dev/null || :
	[ -c /dev/net/tun ] || skip "no /dev/net/tun (tun module missing)"
}

make_tap() {
	tunctl -t "$1" >/dev/null || ip tuntap add dev "$1" mode tap || fail "cannot create tap $1"
	ip addr add "$2" dev "$1" || fail "cannot give $1 the address $2"
	ip link set "$1" up || fail "cannot bring $1 up"
}

del_tap() {
	ip link del "$1" 2>/dev/null || tunctl -d "$1" >/dev/null 2>&1 || :
}

step() {
	echo "$*"
	[ -w /dev/console ] && echo "LAB-PROGRESS $(basename "$0" .sh): $*" >/dev/console
	:
}

pci_fn() {
	for _pf in /sys/bus/pci/devices/*; do
		[ "$(cat "$_pf/$1")" = "$2" ] || continue
		[ -z "${3:-}" ] || [ "$(cat "$_pf/$3")" = "$4" ] || continue
		echo "${_pf##*/}"
		return
	done
}

pci_bind() {
	_pb=/sys/bus/pci/devices/$1
	[ -e "$_pb/driver" ] && { echo "$1" >"$_pb/driver/unbind" || fail "cannot unbind $1"; }
	echo "$2" >"$_pb/driver_override" || fail "cannot set driver_override of $1"
	echo "$1" >/sys/bus/pci/drivers_probe
	[ -n "$2" ] || return 0
	[ "$(basename "$(readlink "$_pb/driver")")" = "$2" ] || fail "$1 did not bind to $2"
}

# Scale a timeout in seconds by LAB_SCALE, rounding up to a whole second.
lab_scaled() {
	awk -v t="$1" -v s="${LAB_SCALE:-1}" 'BEGIN { v = t * s; i = int(v); if (i < v) i++; print (i < 1 ? 1 : i) }'
}

wait_for() {
	_wf_file=$1 _wf_pat=$2
	_wf_end=$(($(date +%s) + $(lab_scaled "$3")))
	while ! grep -qF -- "$_wf_pat" "$_wf_file" 2>/dev/null; do
		[ "$(date +%s)" -lt "$_wf_end" ] ||
			fail "timed out after $(lab_scaled "$3")s waiting for '$_wf_pat' in $_wf_file"
		sleep 0.2
	done
}

# wait_for_more FILE PATTERN N SECONDS: until FILE has more than N lines with
# PATTERN (a fixed string): the next one after the N seen so far.
wait_for_more() {
	_wm_end=$(($(date +%s) + $(lab_scaled "$4")))
	while :; do
		# No count at all from grep: FILE is not there yet, so none.
		_wm_n=$(grep -cF -- "$2" "$1" 2>/dev/null)
		[ "${_wm_n:-0}" -gt "$3" ] && return 0
		[ "$(date +%s)" -lt "$_wm_end" ] ||
			fail "timed out after $(lab_scaled "$4")s waiting for line $(($3 + 1)) with '$2' in $1"
		sleep 0.2
	done
}

expect_status() {
	[ "$1" = "$2" ] || fail "$3 (exit status $1, expected $2)"
}

# What the host's KVM answers for each KVM_CAP_<name> in $@, one a line, into
# _kvm_caps (not a subshell: a failure must fail the scenario, not read as 0).
kvm_caps() {
	_kvm_caps=$("$LAB_BIN/kvmcap" "$@") || fail "kvmcap $* could not ask the host's KVM"
}

# True when the host's KVM answers more than 0 for KVM_CAP_$1.
host_has_kvm_cap() {
	kvm_caps "$1"
	[ "$_kvm_caps" -gt 0 ]
}

# Documentation/virt/kvm/api.rst: a guest_memfd that the VMM can mmap and
# that starts shared needs KVM_CAP_GUEST_MEMFD, KVM_CAP_USER_MEMORY2 and
# GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED (bits 0 and 1) among
# KVM_CAP_GUEST_MEMFD_FLAGS (arm64: Linux 6.18).
host_has_guest_memfd() {
	kvm_caps GUEST_MEMFD USER_MEMORY2 GUEST_MEMFD_FLAGS
	# shellcheck disable=SC2086 # three numbers, split on purpose
	set -- $_kvm_caps
	[ "$1" -gt 0 ] && [ "$2" -gt 0 ] && [ $(($3 & 3)) = 3 ]
}

host_lacks() {
	skip "host lacks $* (host kernel $(uname -r))"
}
