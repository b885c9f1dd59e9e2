# One boot of a VMM, timed from outside (bench/boot.sh, bench/sandbox.sh);
# sourced after tests/lab/lib.sh and bench/lib/common.sh. The caller sets
# BOOT_TIMEOUT_S (one boot's limit) and POLL_S (how often the output is read);
# INIT_MARK, the line that says the guest is up, is "TERN-GUEST: init" (the
# test guest's init) unless the caller sets another.
#
#   measure NAME CMD...   one boot of CMD, to its exit: sets init_ms, exit_ms,
#                         status, hwm_kib (below)
#   alternate_boots N     boot_tern I, then boot_qemu I (the caller's), for I
#                         = 1..N: any drift in the host's speed hits both alike

INIT_MARK=${INIT_MARK:-TERN-GUEST: init}

# True once file $1 holds $INIT_MARK. Builtins only, like now_ms: this
# runs every 20 ms, and a grep there (fork + exec in an emulated host) would
# take CPU time from the VMMs being measured.
seen_init() {
	[ -e "$1" ] || return 1
	_l=''
	while IFS= read -r _l; do
		case $_l in *"$INIT_MARK"*) return 0 ;; esac
	done <"$1"
	# The last line may still be unterminated (the UART sends byte by byte).
	case $_l in *"$INIT_MARK"*) return 0 ;; esac
	return 1
}

# hwm_kib = VmHWM of process $1, if it still exists (builtins only, as above).
sample_hwm() {
	while read -r _k _v _; do
		if [ "$_k" = VmHWM: ]; then
			hwm_kib=$_v
			return
		fi
	done 2>/dev/null <"/proc/$1/status"
}

# ---------------------------------------------------------------- one boot

# measure NAME CMD...: one boot of CMD (stdin /dev/null, output in NAME.out).
# Sets init_ms (empty if the guest's init never showed), exit_ms, status and
# hwm_kib (the VMM's peak RSS as /proc/PID/status last showed it).
measure() {
	_name=$1
	shift
	rm -f "$_name.out" "$_name.pid" "$_name.done"
	init_ms='' exit_ms='' status='' hwm_kib='' _pid=''

	now_ms
	_t0=$NOW _limit=$((NOW + BOOT_TIMEOUT_S * 1000))
	# A subshell waits for the VMM so that its exit time is taken at once, not
	# at our next poll; the VMM's own pid is for reading its /proc status.
	(
		"$@" </dev/null >"$_name.out" 2>&1 &
		echo $! >"$_name.pid"
		wait $!
		_st=$?
		now_ms
		echo "$_st $NOW" >"$_name.done.tmp" && mv "$_name.done.tmp" "$_name.done"
	) &
	_waiter=$!
	while [ ! -e "$_name.done" ]; do
		if [ -z "$init_ms" ] && seen_init "$_name.out"; then
			now_ms
			init_ms=$((NOW - _t0))
		fi
		[ -n "$_pid" ] || read -r _pid 2>/dev/null <"$_name.pid"
		[ -z "$_pid" ] || sample_hwm "$_pid"
		now_ms
		if [ "$NOW" -gt "$_limit" ]; then
			echo "$_name: still running after ${BOOT_TIMEOUT_S}s; killing it"
			[ -z "$_pid" ] || kill -KILL "$_pid" 2>/dev/null
			wait "$_waiter"
			break
		fi
		sleep "$POLL_S"
	done
	wait "$_waiter" 2>/dev/null
	read -r status _end 2>/dev/null <"$_name.done" || { status=none _end=$NOW; }
	exit_ms=$((_end - _t0))
	# The guest printed init and powered off within one poll: init is at most exit.
	if [ -z "$init_ms" ] && seen_init "$_name.out"; then init_ms=$exit_ms; fi
	if [ "$status" != 0 ] || [ -z "$init_ms" ]; then
		run_failed "$_name: exit status $status, guest init ${init_ms:-never seen}; last output:"
		tail -n 20 "$_name.out"
		return 1
	fi
	echo "$_name: init ${init_ms} ms, exit ${exit_ms} ms, peak RSS ${hwm_kib:-?} KiB"
}

alternate_boots() {
	_ab_i=1
	while [ "$_ab_i" -le "$1" ]; do
		boot_tern "$_ab_i"
		boot_qemu "$_ab_i"
		_ab_i=$((_ab_i + 1))
	done
}
