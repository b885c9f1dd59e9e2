# Driving a serving guest (tern.action=serve) over its serial console, for any
# VMM: the benchmarks that measure with iobench (bench/virtio.sh, bench/vfio.sh).
# POSIX sh, sourced after bench/lib/common.sh. The caller sets BOOT_TIMEOUT_S
# (boot to "TERN-GUEST: ready") and RUN_TIMEOUT_S (one "run"), and CR (a
# carriage return); the VM being driven is $vm (its files NAME.in, NAME.log,
# NAME-stderr.log in the current directory), its pid $vm_pid.
#
#   vm_start NAME CMD...    start a VMM, its console on a FIFO we hold open
#   vm_send LINE            type LINE on its console
#   vm_wait_ready           until "TERN-GUEST: ready" (1: exited, 2: timeout)
#   vm_run CMD [WAIT_S]     "run CMD" in the guest; sets run_rc
#   vm_value KEY            the last KEY=value the guest printed
#   iobench_field MODE F    field F of the last "iobench: MODE ..." line
#   vm_stop                 poweroff, wait (killed after 120 s scaled)
#   add_vm NAME VALUE       append VALUE to the list $<vm>_<NAME>
#   iobench_record MODE     after "vm_run iobench MODE ...": its figure (IOPS
#                           for randread, MiB/s otherwise) added to $<vm>_MODE,
#                           or the failure reported (run_failed)

vm='' vm_pid=''

# vm_start NAME CMD...: CMD in the background, stdin the FIFO NAME.in (held
# open on fd 3, so that vm_send can type on the guest's console), stdout (the
# console) in NAME.log, stderr in NAME-stderr.log. What guest.sh's guest_start
# does for tern, for any VMM.
vm_start() {
	vm=$1
	shift
	rm -f "$vm.in" "$vm.log" "$vm-stderr.log"
	mkfifo "$vm.in" || fail "mkfifo $vm.in"
	"$@" <"$vm.in" >"$vm.log" 2>"$vm-stderr.log" &
	vm_pid=$!
	exec 3>"$vm.in" # completes the VMM's open of its stdin
}

vm_send() { printf '%s\n' "$1" >&3; }

# scan_log: in $vm.log, n_ready = complete "TERN-GUEST: ready" lines, n_rc =
# complete "TERN-GUEST: run rc=N" lines, rc = the last N. Builtins only (no
# fork): this polls while the guest is being measured, and a grep in the
# emulated host would take CPU time from the VMM.
scan_log() {
	n_ready=0 n_rc=0 rc=''
	[ -e "$vm.log" ] || return 0
	while IFS= read -r _l; do # an unterminated last line is skipped: still coming
		_l=${_l%"$CR"}
		case $_l in
		*"TERN-GUEST: ready") n_ready=$((n_ready + 1)) ;;
		*"TERN-GUEST: run rc="*) n_rc=$((n_rc + 1)) rc=${_l##*rc=} ;;
		esac
	done <"$vm.log"
}

vm_alive() { kill -0 "$vm_pid" 2>/dev/null; }

# vm_wait_ready: until the guest's first "TERN-GUEST: ready". Status 1 if the
# VMM exited first, 2 on timeout.
vm_wait_ready() {
	now_ms
	_limit=$((NOW + BOOT_TIMEOUT_S * 1000))
	while :; do
		scan_log
		[ "$n_ready" -eq 0 ] || return 0
		vm_alive || return 1
		now_ms
		[ "$NOW" -le "$_limit" ] || return 2
		sleep 0.5
	done
}

# vm_run CMD [FIRST_WAIT_S]: "run CMD" in the serving guest; sets run_rc (empty
# when it did not finish). Sleeps FIRST_WAIT_S (the command's known duration)
# before polling, so that the host stays quiet while the guest measures.
vm_run() {
	scan_log
	_n0=$n_rc run_rc=''
	vm_send "run $1"
	now_ms
	_limit=$((NOW + RUN_TIMEOUT_S * 1000))
	[ -z "${2:-}" ] || sleep "$2"
	while :; do
		scan_log
		if [ "$n_rc" -gt "$_n0" ]; then
			run_rc=$rc
			return 0
		fi
		vm_alive || { run_failed "$vm exited while the guest ran: $1"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$vm: the guest did not finish within ${RUN_TIMEOUT_S}s: $1"; return 1; }
		sleep 0.25
	done
}

# The last "KEY=value" the guest printed.
vm_value() { tr -d '\r' <"$vm.log" | sed -n "s/^$1=//p" | tail -n 1; }

# iobench_field MODE FIELD: FIELD of the last "iobench: MODE ..." line.
iobench_field() {
	tr -d '\r' <"$vm.log" | sed -n "s/.*iobench: $1 .* $2=\([0-9.]*\).*/\1/p" | tail -n 1
}

vm_stop() {
	[ -n "$vm_pid" ] || return 0
	if vm_alive; then
		vm_send poweroff
		now_ms
		_limit=$((NOW + $(lab_scaled 120) * 1000))
		while vm_alive; do
			now_ms
			if [ "$NOW" -gt "$_limit" ]; then
				run_failed "$vm still running after poweroff; killing it"
				kill -KILL "$vm_pid" 2>/dev/null
				break
			fi
			sleep 0.5
		done
	fi
	wait "$vm_pid" 2>/dev/null
	_st=$?
	exec 3>&-
	vm_pid=''
	[ "$_st" = 0 ] || run_failed "$vm exited with status $_st"
}

# add_vm NAME VALUE: append VALUE to the list $<vm>_<NAME>.
add_vm() { eval "${vm}_$1=\"\$${vm}_$1 $2\""; }

iobench_record() {
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
