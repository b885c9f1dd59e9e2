# Driving a serving guest's virtio disk and network for measurement
# (bench/virtio.sh, bench/sandbox.sh); sourced after tests/lab/lib.sh and
# bench/lib/common.sh and bench/lib/vm.sh. What is measured, and how: bench/virtio.sh's header.
#
#   virtio_host_setup       a tap ($TAP, $HOST_IP) and disk.img ($DISK_MIB MiB,
#                           here in the scenario's directory), removed at exit
#   session NAME CMD...     boot CMD (its guest: tern.action=serve), set up the
#                           guest's disk and network, RUNS rounds of $MEASURES,
#                           power off; each figure appended to the list
#                           $NAME_<measure> (NAME: a shell name). Status 3 when
#                           the VMM exited before its guest was ready
#   measure_hook begin|end MEASURE   run around each measure of a session;
#                           does nothing unless the script redefines it
#                           (bench/sandbox.sh counts tern's system calls)

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-3}
NET_SECS=${BENCH_NET_SECS:-5} # the network's figures are small and noisy here
BOOT_TIMEOUT_S=$(lab_scaled 300) # boot to "TERN-GUEST: ready", either VMM
RUN_TIMEOUT_S=$(lab_scaled $((SECS + NET_SECS + 90))) # one "run" in the guest
DISK_MIB=256
TAP=tap0 HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2 PORT0=5100
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
MEASURES="randread seqread seqwrite net"
CR=$(printf '\r')

nc_pid=''

# ---------------------------------------------------------------- the guest

# Driving it: bench/lib/vm.sh (vm_start, vm_run, vm_stop, ...).

cleanup() {
	[ -z "$nc_pid" ] || kill "$nc_pid" 2>/dev/null
	[ -z "$vm_pid" ] || kill -KILL "$vm_pid" 2>/dev/null
	del_tap "$TAP"
}

# ---------------------------------------------------------------- measurements

measure_disk() {
	vm_run "iobench $1 /dev/vda $SECS" "$SECS" || return
	iobench_record "$1"
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

measure_hook() { :; }

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
		for _m in randread seqread seqwrite; do
			measure_hook begin "$_m"
			measure_disk "$_m"
			measure_hook end "$_m"
		done
		measure_hook begin net
		measure_net "$_i"
		measure_hook end net
		_i=$((_i + 1))
	done
	vm_stop
}

# ---------------------------------------------------------------- the host's side

virtio_host_setup() {
	# A tap is needed: no skipping here, a benchmark that cannot run fails.
	[ -c /dev/net/tun ] || modprobe tun 2>/dev/null || insmod "$LAB/modules/tun.ko" 2>/dev/null || :
	[ -c /dev/net/tun ] || fail "no /dev/net/tun (tun module missing)"
	trap 'cleanup' EXIT
	del_tap "$TAP"
	make_tap "$TAP" "$HOST_IP/24"
	dd if=/dev/zero of=disk.img bs=1048576 count="$DISK_MIB" 2>/dev/null || fail "cannot create disk.img"
	echo "disk: $(pwd)/disk.img, $DISK_MIB MiB; /tmp is $(awk '$2 == "/tmp" { print $3 }' /proc/mounts)"
}
