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
