#!/bin/sh
# virtio I/O benchmark: tern against Debian's QEMU (both on KVM), same guest.
#
# Each VMM boots $KERNEL + $INITRD once (2 vCPUs, 512 MiB, tern.action=serve)
# with a virtio-blk disk, a 256 MiB file in this host's /tmp (tmpfs), and a
# virtio-net card on the tap tap0 (198.18.0.1/24 here, 198.18.0.2/24 in the
# guest). Both are driven the same way, over their serial console (stdin a FIFO
# we hold open, "run CMD" of the guest's serve protocol). In the guest,
# iobench (guest-images/tools/iobench.c) measures for BENCH_SECS seconds
# (default 3; the network BENCH_NET_SECS, default 5) each:
#   randread   4 KiB random reads, O_DIRECT on /dev/vda, queue depth 1 -> IOPS
#   seqread    1 MiB sequential reads, O_DIRECT                       -> MiB/s
#   seqwrite   1 MiB sequential writes, O_DIRECT, fdatasync at the end -> MiB/s
#   net        TCP guest -> host (busybox nc listening here, output to a file
#              in /tmp), 64 KiB writes, timed in the guest from connect until
#              the host's nc closed after the last byte                 -> MiB/s
# BENCH_RUNS rounds (default 3) of the four, medians reported. Backends, kept
# alike: tern opens the disk buffered and uses io_uring (its defaults); QEMU
# gets cache=writeback,aio=io_uring (aio=threads if its io_uring will not
# start). Both put the network on the tap from userspace: QEMU with vhost=off
# (vhost-net would need the vhost_net module and moves the data path into the
# kernel, which tern does not do). QEMU's own defaults otherwise: it gives its
# virtio-blk one queue per vCPU and its virtio-net the tap's offloads (TSO,
# checksum), which tern does not offer.
#
# Results are "BENCH: <key> <value> <unit>" lines, the targets (ratio
# tern/QEMU >= 1.0 for each of the four) as "BENCH: virtio.target_* PASS|MISS".
# A missed target is reported, not a failure: the script fails only when a boot
# or a measurement did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU, the path of
# qemu-system-aarch64.
# timeout: 900
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/vm.sh"
need_tern
need_root

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
NET_SECS=${BENCH_NET_SECS:-5} # the network's figures are small and noisy here
BOOT_TIMEOUT_S=$(lab_scaled 300) # boot to "TERN-GUEST: ready", either VMM
RUN_TIMEOUT_S=$(lab_scaled $((SECS + NET_SECS + 90))) # one "run" in the guest
DISK_MIB=256
TAP=tap0 HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2 PORT0=5100
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"
MEASURES="randread seqread seqwrite net"
CR=$(printf '\r')

vm='' vm_pid='' nc_pid=''

# ---------------------------------------------------------------- helpers (bench/lib/common.sh, bench/lib/vm.sh)

cleanup() {
	[ -z "$nc_pid" ] || kill "$nc_pid" 2>/dev/null
	[ -z "$vm_pid" ] || kill -KILL "$vm_pid" 2>/dev/null
	del_tap "$TAP"
}

# ---------------------------------------------------------------- measurements

measure_disk() {
	vm_run "iobench $1 /dev/vda $SECS" "$SECS" || return
	if [ "$run_rc" != 0 ]; then
		run_failed "$vm: iobench $1 failed (rc=$run_rc)"
		return
	fi
	case $1 in randread) _f=iops ;; *) _f=mib_s ;; esac
	_v=$(iobench_field "$1" "$_f")
	[ -n "$_v" ] || { run_failed "$vm: no result line from iobench $1"; return; }
	echo "$vm $1: $_v $_f"
	add_vm "$1" "$_v"
}

# The host's side: busybox nc, its stdin a FIFO held open (at stdin EOF it
# would shut its sending side and the guest's end would see the close early),
# its output a file here; it exits when the guest closes.
measure_net() {
	_port=$((PORT0 + $1))
	rm -f nc.in recv.bin
	mkfifo nc.in
	nc -l -p "$_port" <nc.in >recv.bin &
	nc_pid=$!
	exec 5>nc.in
	sleep 1
	vm_run "iobench send $HOST_IP $_port $NET_SECS" "$NET_SECS"
	now_ms
	_limit=$((NOW + $(lab_scaled 60) * 1000))
	while kill -0 "$nc_pid" 2>/dev/null; do
		now_ms
		if [ "$NOW" -gt "$_limit" ]; then
			kill "$nc_pid" 2>/dev/null
			run_failed "$vm: the host's nc did not see the end of the stream"
			break
		fi
		sleep 0.25
	done
	wait "$nc_pid" 2>/dev/null
	nc_pid=''
	exec 5>&-
	_got=$(wc -c <recv.bin)
	rm -f nc.in recv.bin
	[ "$run_rc" = 0 ] || { run_failed "$vm: iobench send failed (rc=${run_rc:-none})"; return; }
	_v=$(iobench_field send mib_s)
	_sent=$(iobench_field send bytes)
	[ -n "$_v" ] || { run_failed "$vm: no result line from iobench send"; return; }
	[ "$_got" = "$_sent" ] || { run_failed "$vm: the guest sent $_sent bytes, the host got $_got"; return; }
	echo "$vm net: $_v MiB/s ($_sent bytes)"
	add_vm net "$_v"
}

# session NAME CMD...: boot CMD, set up its guest, run the rounds, power off.
# Status 3 when the VMM exited before the guest was ready (nothing measured).
# A VMM still running after a failure is killed.
session() {
	session_body "$@"
	_sst=$?
	if [ -n "$vm_pid" ]; then
		kill -KILL "$vm_pid" 2>/dev/null
		wait "$vm_pid" 2>/dev/null
		exec 3>&-
		vm_pid=''
		show_logs "$vm.log" "$vm-stderr.log"
	fi
	return "$_sst"
}

session_body() {
	echo "== $1: $(date)"
	ip neigh flush dev "$TAP" 2>/dev/null
	vm_start "$@"
	now_ms
	_t0=$NOW
	vm_wait_ready
	case $? in
	1)
		wait "$vm_pid" 2>/dev/null
		echo "$vm exited before the guest was ready (status $?)"
		vm_pid=''
		exec 3>&-
		return 3
		;;
	2)
		run_failed "$vm: no 'TERN-GUEST: ready' within ${BOOT_TIMEOUT_S}s"
		return 1
		;;
	esac
	now_ms
	echo "$vm: guest ready after $((NOW - _t0)) ms"
	if grep "TERN-GUEST: module " "$vm.log"; then
		run_failed "$vm: the guest could not load its modules"
		return 1
	fi
	# shellcheck disable=SC2016 # expanded by the guest's shell
	vm_run 'echo VDA-SECTORS=$(cat /sys/block/vda/size); echo NET-DEV=$(ls /sys/class/net | grep -v "^lo$" | head -n 1)' || return
	_dev=$(vm_value NET-DEV)
	[ "$(vm_value VDA-SECTORS)" = $((DISK_MIB * 2048)) ] && [ -n "$_dev" ] || {
		run_failed "$vm: the guest sees /dev/vda with $(vm_value VDA-SECTORS) sectors (expected $((DISK_MIB * 2048))), network device '${_dev}'"
		return 1
	}
	vm_run "ip link set $_dev up && ip addr add $GUEST_IP/24 dev $_dev && ping -c 2 -W 10 $HOST_IP >/dev/null" || return
	[ "$run_rc" = 0 ] || { run_failed "$vm: the guest cannot reach $HOST_IP over $_dev"; return 1; }
	_i=1
	while [ "$_i" -le "$RUNS" ]; do
		for _m in randread seqread seqwrite; do measure_disk "$_m"; done
		measure_net "$_i"
		_i=$((_i + 1))
	done
	vm_stop
}

# ---------------------------------------------------------------- checks

peer_qemu_check
# A tap is needed: no skipping here, a benchmark that cannot run fails.
[ -c /dev/net/tun ] || modprobe tun 2>/dev/null || insmod "$LAB/modules/tun.ko" 2>/dev/null || :
[ -c /dev/net/tun ] || fail "no /dev/net/tun (tun module missing)"

trap 'cleanup' EXIT
del_tap "$TAP"
make_tap "$TAP" "$HOST_IP/24"
dd if=/dev/zero of=disk.img bs=1048576 count="$DISK_MIB" 2>/dev/null || fail "cannot create disk.img"
echo "disk: $(pwd)/disk.img, $DISK_MIB MiB; /tmp is $(awk '$2 == "/tmp" { print $3 }' /proc/mounts)"

# ---------------------------------------------------------------- runs

for _m in $MEASURES; do eval "tern_$_m='' qemu_$_m=''"; done

session tern "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 512M \
	--cmdline "$TERN_CMDLINE" --disk path=disk.img --net "tap=$TAP"
[ $? != 3 ] || { run_failed "tern exited before the guest was ready"; show_logs tern.log tern-stderr.log; }

qemu_session() {
	session qemu "$QEMU" -L "$QEMU_DATA" -accel kvm -M virt,gic-version=3 -cpu host \
		-smp 2 -m 512 -nographic -nic none \
		-kernel "$KERNEL" -initrd "$INITRD" -append "$QEMU_CMDLINE" \
		-drive "if=none,id=d0,file=disk.img,format=raw,cache=writeback,aio=$QEMU_AIO" \
		-device virtio-blk-pci,drive=d0 \
		-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
		-device virtio-net-pci,netdev=n0
}
QEMU_AIO=io_uring
qemu_session
if [ $? = 3 ]; then
	if grep -qi io_uring qemu-stderr.log; then
		echo "QEMU's aio=io_uring does not start here ($(head -n 1 qemu-stderr.log)); using aio=threads"
		QEMU_AIO=threads
		qemu_session
		[ $? != 3 ] || { run_failed "qemu exited before the guest was ready"; show_logs qemu.log qemu-stderr.log; }
	else
		run_failed "qemu exited before the guest was ready"
		show_logs qemu.log qemu-stderr.log
	fi
fi

# ---------------------------------------------------------------- results

echo
echo "virtio benchmark, medians of $RUNS runs of ${SECS}s (net ${NET_SECS}s) each (2 vCPUs, 512 MiB; disk: $DISK_MIB MiB file on tmpfs;"
echo "net: tap, userspace backends on both sides: QEMU vhost=off):"
for _m in $MEASURES; do eval "echo \"  $_m: tern\$tern_$_m; qemu\$qemu_$_m\""; done
report virtio.runs "$RUNS" runs
report virtio.seconds_per_run "$SECS" s
report virtio.net_seconds_per_run "$NET_SECS" s
report virtio.qemu_version "$qemu_v" -
report virtio.qemu_blk_backend "cache=writeback,aio=$QEMU_AIO" -
report virtio.qemu_net_backend "tap,vhost=off" -
complete=1
for _m in $MEASURES; do
	case $_m in randread) _unit=iops _key=randread_iops ;; net) _unit=MiB/s _key=net_tx_mib_s ;; *) _unit=MiB/s _key=${_m}_mib_s ;; esac
	_tl='' _ql=''
	eval "_tl=\$tern_$_m _ql=\$qemu_$_m"
	# shellcheck disable=SC2086 # space-separated numbers
	_t=$(median $_tl) && report "virtio.tern_$_key" "$_t" "$_unit" || complete=0
	# shellcheck disable=SC2086
	_q=$(median $_ql) && report "virtio.qemu_$_key" "$_q" "$_unit" || complete=0
	eval "med_t_$_m=\$_t med_q_$_m=\$_q"
	# Every run's figure too, comma-separated, for judging the spread.
	# shellcheck disable=SC2086
	[ -z "$_tl" ] || report "virtio.tern_${_key}_runs" "$(echo $_tl | tr ' ' ,)" "$_unit"
	# shellcheck disable=SC2086
	[ -z "$_ql" ] || report "virtio.qemu_${_key}_runs" "$(echo $_ql | tr ' ' ,)" "$_unit"
done
echo "targets (tern/QEMU >= 1.0):"
for _m in $MEASURES; do
	eval "_t=\$med_t_$_m _q=\$med_q_$_m"
	[ -n "$_t" ] && [ -n "$_q" ] || continue
	_r=$(awk -v t="$_t" -v q="$_q" 'BEGIN { printf "%.3f", (q > 0 ? t / q : 0) }')
	report "virtio.${_m}_ratio" "$_r" x
	target "virtio.target_${_m}_ratio" "$_r" ">=" 1.0 x
done

if [ "$failures" -gt 0 ] || [ "$complete" = 0 ]; then
	fail "$failures run(s) or measurement(s) failed or a median is missing; see the messages above"
fi
