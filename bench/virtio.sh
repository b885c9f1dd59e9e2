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
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/virtio.sh"
need_tern
need_root

# The constants (RUNS, SECS, the tap's addresses, ...), driving a guest and
# the measurements are bench/lib/virtio.sh's, shared with bench/sandbox.sh.
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"

# ---------------------------------------------------------------- checks

peer_qemu_check
virtio_host_setup

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
