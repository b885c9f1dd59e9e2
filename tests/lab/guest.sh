# Driving tern and the test guest from a scenario (source after lib.sh).
#
#   guest_start ARGS...   start "$TERN run --kernel $KERNEL --initrd $INITRD ARGS..."
#                         in the background, its stdin a FIFO we hold open (so
#                         guest_send can type on the console), stdout+stderr in
#                         ./tern.log
#   guest_send LINE       type LINE and Enter on the guest's console
#   guest_wait_exit S     wait at most S seconds for tern to exit; sets $status
#   guest_count PATTERN   how many lines of tern.log contain PATTERN
#
# The guest (guest-images/init) prints "TERN-GUEST: ..." markers; with
# tern.action=serve it answers console commands (see guest-images/init).

# Quiet guests boot faster: every console byte is an MMIO exit.
GUEST_CMDLINE="console=ttyS0 quiet panic=-1"

guest_start() {
	rm -f console.in
	mkfifo console.in
	"$TERN" run --kernel "$KERNEL" --initrd "$INITRD" "$@" <console.in >tern.log 2>&1 &
	tern_pid=$!
	# Opening the FIFO for writing completes tern's open for reading.
	exec 3>console.in
}

guest_send() {
	printf '%s\n' "$1" >&3
}

guest_wait_exit() {
	_gw_end=$(($(date +%s) + $(lab_scaled "$1")))
	while kill -0 "$tern_pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$_gw_end" ]; then
			kill -KILL "$tern_pid" 2>/dev/null
			fail "tern still running after $(lab_scaled "$1")s"
		fi
		sleep 0.2
	done
	wait "$tern_pid"
	status=$?
	exec 3>&-
}

guest_count() {
	grep -cF -- "$1" tern.log
}

# boot_and_check CPUS MEM_MIB: boots the guest to its poweroff and checks that
# it saw CPUS CPUs and MEM_MIB of RAM, less what the kernel keeps for itself
# (its image, page tables: MemTotal is within 72% to 100% of RAM).
boot_and_check() {
	"$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --cpus "$1" --memory "$2M" \
		--cmdline "$GUEST_CMDLINE" </dev/null >tern.log 2>&1
	status=$?
	cat tern.log
	expect_status "$status" 0 "tern did not exit 0 after the guest's poweroff"
	grep -q "^TERN-GUEST: cpus=$1 " tern.log || fail "the guest did not report $1 CPUs"
	_mem_kb=$(sed -n 's/^TERN-GUEST: cpus=[0-9]* mem_kb=\([0-9]*\).*/\1/p' tern.log)
	[ "${_mem_kb:-0}" -gt $(($2 * 1024 * 72 / 100)) ] && [ "$_mem_kb" -le $(($2 * 1024)) ] ||
		fail "the guest reports MemTotal ${_mem_kb:-none} kB for $2 MiB of RAM"
	grep -q "^TERN-GUEST: poweroff" tern.log || fail "the guest did not reach its poweroff"
}
