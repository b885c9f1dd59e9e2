#!/bin/sh
# VFIO passthrough benchmark, on the lab's vfio host (tests/lab/run,
# run_vfio_host): its virtio-blk PCI function (1af4:1042, QEMU's, behind the
# host's SMMUv3, a 16 MiB file on the outer machine behind it) measured three
# ways in one run, the same guest (kernel, initramfs, 2 vCPUs, 256 MiB) and the
# same iobench (guest-images/tools/iobench.c) each time:
#   tern-pt   tern with the function passed through (--vfio host=BDF)
#   tern-blk  tern's own virtio-blk on the same disk: the host's virtio_blk
#             drives the function, tern opens its /dev/vdX with direct=on (no
#             host page cache: every request reaches the device, as in the
#             passthrough runs)
#   qemu-pt   Debian's QEMU (KVM) with -device vfio-pci,host=BDF
# In the guest, for BENCH_SECS seconds (default 3) each, on /dev/vda, O_DIRECT:
#   randread  4 KiB random reads, queue depth 1 -> IOPS
#   seqread   1 MiB sequential reads            -> MiB/s
#   seqwrite  1 MiB sequential writes, fdatasync at the end -> MiB/s
# BENCH_RUNS rounds (default 3), medians reported. Target: tern-pt / qemu-pt
# >= 1.0 for each.
#
# The interrupt path: around each randread, the guest's virtio-blk queue
# interrupts (ITS-PCI-MSIX "req" lines of /proc/interrupts) and the context
# switches and CPU ticks of the VMM's threads that are not vCPUs (a thread
# with guest time in /proc/PID/task/TID/stat is a vCPU), and before it, as the
# baseline, their switches over an idle "run sleep SECS" (the guest idle for
# as long: timers, the console). A completion that went through a userspace
# thread would wake it at least once per interrupt (tern-blk shows that: its
# I/O thread completes every request); with the device's MSI-X eventfds as
# KVM irqfds (tern-pt) those threads sleep as when idle. Reported as
# (switches during randread - idle switches) per interrupt; target for
# tern-pt: <= 0.05.
#
# Results are "BENCH: <key> <value> <unit>" lines, targets as
# "BENCH: vfio.target_* PASS|MISS". A missed target is reported, not a
# failure: the script fails only when a boot or a measurement did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU, the path of
# qemu-system-aarch64.
# host: vfio
# timeout: 1200
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/vm.sh"
need_tern
need_root

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
# shellcheck disable=SC2034 # BOOT_TIMEOUT_S, RUN_TIMEOUT_S and CR: for bench/lib/vm.sh
BOOT_TIMEOUT_S=$(lab_scaled 300)
# shellcheck disable=SC2034
RUN_TIMEOUT_S=$(lab_scaled $((SECS + 90)))
DISK_SECTORS=32768 # the vfio host's 16 MiB files (tests/lab/run, VFIO_DISK_MIB)
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"
MEASURES="randread seqread seqwrite"
VMS="ternpt ternblk qemupt"
# shellcheck disable=SC2034
CR=$(printf '\r')

# ---------------------------------------------------------------- the device

bdf=$(pci_fn vendor 0x1af4 device 0x1042)
[ -n "$bdf" ] || fail "no virtio-blk PCI function (1af4:1042): this runs on the lab's vfio host"
dev=/sys/bus/pci/devices/$bdf
[ -e "$dev/iommu_group" ] || fail "$bdf has no IOMMU group (no IOMMU)"
echo "device $bdf, IOMMU group $(basename "$(readlink "$dev/iommu_group")")"

# host_blk: the host's block device on the function (virtio-pci bound), in $blk.
host_blk() {
	[ "$(basename "$(readlink "$dev/driver" 2>/dev/null)")" = virtio-pci ] || pci_bind "$bdf" ''
	_n=0 blk=''
	while [ -z "$blk" ] && [ $_n -lt 50 ]; do
		for _b in "$dev"/virtio*/block/*; do [ -e "$_b" ] && blk=/dev/${_b##*/}; done
		if [ -z "$blk" ] || [ ! -b "$blk" ]; then
			blk=''
			sleep 0.2
		fi
		_n=$((_n + 1))
	done
	[ -n "$blk" ] || fail "the host's virtio_blk did not bring up a disk on $bdf"
}

# ---------------------------------------------------------------- the interrupt path

# threads_sample: over the non-vCPU threads of $vm_pid, T_SW = context
# switches (voluntary and not), T_TICKS = utime + stime; T_N how many.
threads_sample() {
	T_SW=0 T_TICKS=0 T_N=0
	for _t in /proc/"$vm_pid"/task/*; do
		# stat: after "(comm)", field 14 utime, 15 stime, 43 guest_time.
		read -r _st <"$_t/stat" || continue
		# shellcheck disable=SC2086 # split into fields
		set -- ${_st##*) }
		shift 11
		_ut=$1 _sy=$2
		shift 29
		[ "$1" = 0 ] || continue # a vCPU
		_sw=0
		while read -r _k _v; do
			case $_k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) _sw=$((_sw + _v)) ;; esac
		done <"$_t/status"
		T_SW=$((T_SW + _sw)) T_TICKS=$((T_TICKS + _ut + _sy)) T_N=$((T_N + 1))
	done
}

# guest_blk_irqs: the guest's virtio-blk queue interrupts so far, in $irqs.
guest_blk_irqs() {
	# shellcheck disable=SC2016 # expanded by the guest's awk
	vm_run 'awk "/ITS-PCI-MSIX/ && /req/ { for (i = 2; i <= NF && \$i ~ /^[0-9]+\$/; i++) s += \$i } END { print \"IRQSUM=\" s + 0 }" /proc/interrupts' || return 1
	irqs=$(vm_value IRQSUM)
}

# ---------------------------------------------------------------- measurements

measure_disk() {
	if [ "$1" = randread ]; then
		# The baseline: the same threads over an idle "run" of the same length.
		threads_sample
		_sw0=$T_SW
		vm_run "sleep $SECS" "$SECS" || return
		threads_sample
		_idle=$((T_SW - _sw0))
		add "${vm}_idle" "$_idle"
		guest_blk_irqs || return
		_i0=$irqs
		threads_sample
		_sw0=$T_SW _tk0=$T_TICKS
	fi
	vm_run "iobench $1 /dev/vda $SECS" "$SECS" || return
	if [ "$1" = randread ]; then
		threads_sample
		_sw1=$T_SW _tk1=$T_TICKS
		guest_blk_irqs || return
		add "${vm}_irqs" $((irqs - _i0))
		add "${vm}_wakeups" $((_sw1 - _sw0))
		add "${vm}_ticks" $((_tk1 - _tk0))
		echo "$vm randread: $((irqs - _i0)) queue interrupts; $T_N non-vCPU threads: $((_sw1 - _sw0)) context switches, $((_tk1 - _tk0)) CPU ticks"
		echo "$vm idle ${SECS}s before: $T_N non-vCPU threads: $_idle context switches"
	fi
	iobench_record "$1"
}

# session NAME CMD...: boot, check the disk, the rounds, power off.
session() {
	echo "== $1: $(date)"
	vm_start "$@"
	now_ms
	_t0=$NOW
	vm_wait_ready
	case $? in
	1) run_failed "$vm exited before the guest was ready" ;;
	2) run_failed "$vm: no 'TERN-GUEST: ready' within ${BOOT_TIMEOUT_S}s" ;;
	0) session_body ;;
	esac
	if [ -n "$vm_pid" ]; then
		kill -KILL "$vm_pid" 2>/dev/null
		wait "$vm_pid" 2>/dev/null
		exec 3>&-
		vm_pid=''
	fi
	[ "$failures" = 0 ] || show_logs "$vm.log" "$vm-stderr.log"
}

session_body() {
	now_ms
	echo "$vm: guest ready after $((NOW - _t0)) ms"
	# shellcheck disable=SC2016 # expanded by the guest's shell
	vm_run 'echo VDA-SECTORS=$(cat /sys/block/vda/size)' || return
	[ "$(vm_value VDA-SECTORS)" = "$DISK_SECTORS" ] || {
		run_failed "$vm: the guest sees /dev/vda with $(vm_value VDA-SECTORS) sectors (expected $DISK_SECTORS)"
		return
	}
	_r=1
	while [ "$_r" -le "$RUNS" ]; do
		for _m in $MEASURES; do measure_disk "$_m"; done
		_r=$((_r + 1))
	done
	vm_stop
}

cleanup() {
	[ -z "$vm_pid" ] || kill -KILL "$vm_pid" 2>/dev/null
}

# ---------------------------------------------------------------- runs

peer_qemu_check
trap 'cleanup' EXIT
for _v in $VMS; do
	for _m in $MEASURES irqs wakeups ticks idle; do eval "${_v}_$_m=''"; done
done

host_blk
echo "host: $bdf is $blk ($(cat "/sys/block/${blk#/dev/}/size") sectors)"
session ternblk "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 256M \
	--cmdline "$TERN_CMDLINE" --disk "path=$blk,direct=on"

pci_bind "$bdf" vfio-pci
session ternpt "$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 256M \
	--cmdline "$TERN_CMDLINE" --vfio host="$bdf"
if grep "guest accesses to its BARs" ternpt-stderr.log; then
	echo "REPORT: $(grep "guest accesses to its BARs" ternpt-stderr.log | tail -n 1)"
fi

session qemupt "$QEMU" -L "$QEMU_DATA" -accel kvm -M virt,gic-version=3 -cpu host \
	-smp 2 -m 256 -nographic -nic none \
	-kernel "$KERNEL" -initrd "$INITRD" -append "$QEMU_CMDLINE" \
	-device vfio-pci,host="$bdf"

pci_bind "$bdf" ''

# ---------------------------------------------------------------- results

echo
echo "vfio benchmark, medians of $RUNS runs of ${SECS}s each (2 vCPUs, 256 MiB; $bdf, virtio-blk behind an SMMUv3):"
for _m in $MEASURES; do
	eval "echo \"  $_m: tern-pt\$ternpt_$_m; tern-blk\$ternblk_$_m; qemu-pt\$qemupt_$_m\""
done
report vfio.runs "$RUNS" runs
report vfio.seconds_per_run "$SECS" s
report vfio.qemu_version "$qemu_v" -
complete=1
for _m in $MEASURES; do
	case $_m in randread) _unit=iops _key=randread_iops ;; *) _unit=MiB/s _key=${_m}_mib_s ;; esac
	for _v in $VMS; do
		eval "_l=\$${_v}_$_m"
		# shellcheck disable=SC2086 # space-separated numbers
		_med=$(median $_l) && report "vfio.${_v}_$_key" "$_med" "$_unit" || complete=0
		eval "med_${_v}_$_m=\$_med"
		# shellcheck disable=SC2086
		[ -z "$_l" ] || report "vfio.${_v}_${_key}_runs" "$(echo $_l | tr ' ' ,)" "$_unit"
	done
done
echo "interrupt path during the randread runs (sums over the rounds):"
for _v in $VMS; do
	eval "_i=\$${_v}_irqs _w=\$${_v}_wakeups _k=\$${_v}_ticks _d=\$${_v}_idle"
	[ -n "$_i" ] || continue
	# shellcheck disable=SC2086
	_i=$(printf '%s\n' $_i | awk '{ s += $1 } END { print s + 0 }')
	# shellcheck disable=SC2086
	_w=$(printf '%s\n' $_w | awk '{ s += $1 } END { print s + 0 }')
	# shellcheck disable=SC2086
	_k=$(printf '%s\n' $_k | awk '{ s += $1 } END { print s + 0 }')
	# shellcheck disable=SC2086
	_d=$(printf '%s\n' $_d | awk '{ s += $1 } END { print s + 0 }')
	_x=$(awk -v w="$_w" -v d="$_d" 'BEGIN { print (w > d ? w - d : 0) }')
	report "vfio.${_v}_randread_irqs" "$_i" interrupts
	report "vfio.${_v}_randread_nonvcpu_switches" "$_w" switches
	report "vfio.${_v}_idle_nonvcpu_switches" "$_d" switches
	report "vfio.${_v}_randread_nonvcpu_ticks" "$_k" ticks
	report "vfio.${_v}_wakeups_per_irq" "$(ratio "$_x" "$_i")" x
	eval "wpi_$_v=\$(ratio \"\$_x\" \"\$_i\")"
done
echo "targets (tern passthrough / QEMU passthrough >= 1.0; tern passthrough's non-vCPU wakeups per interrupt <= 0.05):"
for _m in $MEASURES; do
	eval "_t=\$med_ternpt_$_m _q=\$med_qemupt_$_m _b=\$med_ternblk_$_m"
	if [ -n "$_t" ] && [ -n "$_b" ]; then report "vfio.${_m}_pt_vs_blk_ratio" "$(ratio "$_t" "$_b")" x; fi
	[ -n "$_t" ] && [ -n "$_q" ] || continue
	_r=$(ratio "$_t" "$_q")
	report "vfio.${_m}_ratio" "$_r" x
	target "vfio.target_${_m}_ratio" "$_r" ">=" 1.0 x
done
[ -z "${wpi_ternpt:-}" ] || target vfio.target_ternpt_wakeups_per_irq "$wpi_ternpt" "<=" 0.05 x

if [ "$failures" -gt 0 ] || [ "$complete" = 0 ]; then
	fail "$failures run(s) or measurement(s) failed or a median is missing; see the messages above"
fi
