#!/bin/sh
# Snapshot benchmark: tern against Debian's QEMU (both on KVM), same guest.
#
# Each VMM boots $KERNEL + $INITRD once (2 vCPUs, 512 MiB, no disk, no network,
# no PMU, tern.action=serve), driven over its serial console as in
# bench/virtio.sh. The guest fills FILL_MIB (default 128) MiB of its tmpfs
# /tmp with /dev/urandom data, so that both have the same amount of RAM in use,
# and the source is then saved BENCH_RUNS times (default 3), each save over the
# last one's file:
#   tern   tern ctl SOCK snapshot path=FILE        (the VM runs on afterwards)
#   QEMU   QMP migrate to file:FILE (exec:cat > FILE before QEMU 8.2), with
#          max-bandwidth raised so that its 128 MiB/s default throttle is not
#          what is measured; "cont" after each (a migrated source is paused)
# save time: from issuing the command until tern ctl returned / QMP's
# MIGRATION event said completed. size: the file's size. Then, BENCH_RUNS times,
# alternating tern and QEMU, the saved VM is restored by a new process:
#   tern   tern run --restore FILE, the same machine options
#   QEMU   the same machine options with -incoming file:FILE (no -kernel: the
#          guest comes from the file), running on its own once loaded
# restore time: from just before the VMM is started until the guest answers a
# console command: "run [ -s /tmp/fill ] && echo back-N", typed at once into the
# console FIFO after 64 empty lines (bytes that reach a UART before its state is
# loaded are lost with it; empty lines are ignored by the guest), typed again,
# numbered, every RESEND_S if unanswered (then the figure is an upper bound and
# a note says so). After the last restore of each VMM the guest's fill is
# checked against its checksum before the save. The restoring QEMU also has a
# QMP monitor: when its greeting arrives (QEMU started up, its main loop
# running) is reported too, to tell QEMU's start-up from its loading.
#
# Results are "BENCH: <key> <value> <unit>" lines (medians; every run's figure
# too), with the issue's target: tern's restore time <= 0.2x QEMU's. A missed
# target is reported, not a failure: the script fails only when a boot, a save,
# a restore or a measurement did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU, the path of
# qemu-system-aarch64.
# timeout: 900
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
need_tern

RUNS=${BENCH_RUNS:-3}
FILL_MIB=${BENCH_FILL_MIB:-128}
CPUS=2 MEM_MIB=512
BOOT_TIMEOUT_S=$(lab_scaled 300)    # boot to "TERN-GUEST: ready", either VMM
RUN_TIMEOUT_S=$(lab_scaled 240)     # one "run" in the guest (the fill, a checksum)
SAVE_TIMEOUT_S=$(lab_scaled 300)    # one save
RESTORE_TIMEOUT_S=$(lab_scaled 300) # one restore, until the guest answers
RESEND_S=5
POLL_S=0.02
# Same guest command line for both but the console (tern: 16550, QEMU: PL011).
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"
CR=$(printf '\r')
# 64 newlines (a command substitution would drop them without the x).
PAD=$(awk 'BEGIN { for (i = 0; i < 64; i++) printf "\n"; printf "x" }')
PAD=${PAD%x}

notes=''
vm='' vm_pid='' qmp_cat=''

# ---------------------------------------------------------------- helpers (the common ones: bench/lib/common.sh)

# ---------------------------------------------------------------- the VMMs

# Started through these so that the background job's pid is the VMM's own:
# "func &" forks a subshell, which exec turns into the VMM.
tern_exec() { exec "$TERN" run --pmu off --cpus "$CPUS" --memory "${MEM_MIB}M" "$@"; }
qemu_exec() {
	exec "$QEMU" -L "$QEMU_DATA" -accel kvm -M virt,gic-version=3 -cpu host,pmu=off \
		-smp "$CPUS" -m "$MEM_MIB" -nographic -nic none "$@"
}

# vm_start NAME CMD...: CMD in the background, stdin the FIFO NAME.in (held open
# on fd 3 for vm_send), stdout (the console) in NAME.log, stderr in
# NAME-stderr.log. t0 = the time just before it started.
vm_start() {
	vm=$1
	shift
	rm -f "$vm.in" "$vm.log" "$vm-stderr.log"
	mkfifo "$vm.in" || fail "mkfifo $vm.in"
	now_ms
	t0=$NOW
	"$@" <"$vm.in" >"$vm.log" 2>"$vm-stderr.log" &
	vm_pid=$!
	exec 3>"$vm.in" # completes the VMM's open of its stdin
}

vm_send() { printf '%s\n' "$1" >&3; }

vm_alive() { kill -0 "$vm_pid" 2>/dev/null; }

vm_kill() {
	[ -n "$vm_pid" ] || return 0
	kill -KILL "$vm_pid" 2>/dev/null
	wait "$vm_pid" 2>/dev/null
	exec 3>&-
	vm_pid=''
}

# scan_log [KEY]: in $vm.log (complete lines only: the last may still be
# coming), n_ready = "TERN-GUEST: ready" lines, n_rc = "TERN-GUEST: run rc=N"
# lines, rc1 = the first N, tag1 = the last "back-T" line before it, n_key and
# key_val = the "KEY=value" lines and the last value. Builtins only.
scan_log() {
	n_ready=0 n_rc=0 rc1='' tag1='' _tag='' n_key=0 key_val=''
	[ -e "$vm.log" ] || return 0
	while IFS= read -r _l; do
		_l=${_l%"$CR"}
		case $_l in
		*"TERN-GUEST: ready") n_ready=$((n_ready + 1)) ;;
		*"TERN-GUEST: run rc="*)
			[ "$n_rc" -gt 0 ] || rc1=${_l##*rc=} tag1=$_tag
			n_rc=$((n_rc + 1))
			;;
		back-*) _tag=${_l#back-} ;;
		"${1:-/}="*) n_key=$((n_key + 1)) key_val=${_l#*=} ;;
		esac
	done <"$vm.log"
}

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

# vm_get KEY CMD: "run CMD" in the serving guest, CMD printing "KEY=value";
# waits for a new such line and sets value (empty when none came).
vm_get() {
	scan_log "$1"
	_n0=$n_key value=''
	vm_send "run $2"
	now_ms
	_limit=$((NOW + RUN_TIMEOUT_S * 1000))
	while :; do
		sleep 0.5
		scan_log "$1"
		if [ "$n_key" -gt "$_n0" ]; then
			value=$key_val
			return 0
		fi
		vm_alive || { run_failed "$vm exited while the guest ran: $2"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$vm: no $1= line within ${RUN_TIMEOUT_S}s: $2"; return 1; }
	done
}

# The guest's fill: "FILL=<bytes>-<md5>".
# shellcheck disable=SC2016 # expanded by the guest's shell
FILL_SUM='echo FILL=$(wc -c </tmp/fill)-$(md5sum </tmp/fill | cut -d" " -f1)'

# boot_source NAME CMD...: boot, wait for the guest, fill its memory; sets
# fill (the guest's FILL value). Status 1 (after run_failed) if any step failed.
boot_source() {
	echo "== $1: $(date)"
	vm_start "$@"
	vm_wait_ready
	case $? in
	1) run_failed "$vm exited before the guest was ready"; return 1 ;;
	2) run_failed "$vm: no 'TERN-GUEST: ready' within ${BOOT_TIMEOUT_S}s"; return 1 ;;
	esac
	now_ms
	echo "$vm: guest ready after $((NOW - t0)) ms"
	_f0=$NOW
	vm_get FILL "dd if=/dev/urandom of=/tmp/fill bs=1048576 count=$FILL_MIB 2>/dev/null; $FILL_SUM" ||
		return 1
	fill=$value
	now_ms
	echo "$vm: filled $FILL_MIB MiB in $((NOW - _f0)) ms: $fill"
	case $fill in
	"$((FILL_MIB * 1048576))-"?*) ;;
	*) run_failed "$vm: the guest's fill is '$fill', not $((FILL_MIB * 1048576)) bytes"; return 1 ;;
	esac
}

# ---------------------------------------------------------------- QEMU's monitor

# QMP on a pipe chardev: QEMU opens qmp.in and qmp.out read-write, so neither
# side blocks in open; we write on fd 4 and a cat copies qmp.out to qmp.log.
qmp_files() {
	rm -f qmp.in qmp.out qmp.log
	mkfifo qmp.in qmp.out || fail "mkfifo qmp.in qmp.out"
}

qmp_open() {
	exec 4<>qmp.in
	cat <>qmp.out >qmp.log &
	qmp_cat=$!
}

qmp_close() {
	exec 4>&-
	[ -z "$qmp_cat" ] || kill "$qmp_cat" 2>/dev/null
	wait "$qmp_cat" 2>/dev/null
	qmp_cat=''
}

# qmp_scan [ID]: in qmp.log, n_done / n_failed = MIGRATION events completed /
# failed or cancelled, qmp_line = the reply to the command with "id": "ID".
qmp_scan() {
	n_done=0 n_failed=0 qmp_line=''
	[ -e qmp.log ] || return 0
	while IFS= read -r _l; do
		case $_l in
		*'"MIGRATION"'*'"completed"'*) n_done=$((n_done + 1)) ;;
		*'"MIGRATION"'*'"failed"'* | *'"MIGRATION"'*'"cancelled"'*) n_failed=$((n_failed + 1)) ;;
		*"\"${1:-/}\""*) qmp_line=$_l ;;
		esac
	done <qmp.log
}

# qmp ID COMMAND [ARGUMENTS-JSON]: one command, waiting for its reply; status
# 1 (after run_failed) on an error reply or none.
qmp() {
	if [ -n "${3:-}" ]; then
		printf '{"execute": "%s", "arguments": %s, "id": "%s"}\n' "$2" "$3" "$1" >&4
	else
		printf '{"execute": "%s", "id": "%s"}\n' "$2" "$1" >&4
	fi
	now_ms
	_limit=$((NOW + $(lab_scaled 60) * 1000))
	while :; do
		qmp_scan "$1"
		case $qmp_line in
		*'"return"'*) return 0 ;;
		?*) run_failed "$vm: QMP $2: $qmp_line"; return 1 ;;
		esac
		vm_alive || { run_failed "$vm exited during QMP $2"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$vm: no reply to QMP $2"; return 1; }
		sleep 0.1
	done
}

# ---------------------------------------------------------------- saves

# save_done NAME K MS: record save K of NAME (tern or qemu) that took MS.
save_done() {
	_size=$(stat -c %s "snap.$1" 2>/dev/null)
	[ "${_size:-0}" -gt 0 ] || { run_failed "$1 save $2: no snapshot file"; return 1; }
	echo "$1 save $2: $3 ms, $_size bytes ($(mib "$_size") MiB)"
	add "$1_save" "$3"
	add "$1_size" "$(mib "$_size")"
}

save_tern() {
	rm -f snap.tern
	now_ms
	_s0=$NOW
	"$TERN" ctl ctl.sock snapshot path="$PWD/snap.tern" >ctl.out 2>&1
	_st=$?
	now_ms
	if [ "$_st" != 0 ] || ! grep -q '"ok": *true' ctl.out; then
		run_failed "tern save $1: tern ctl exited $_st: $(cat ctl.out)"
		return 1
	fi
	echo "tern ctl: $(cat ctl.out)"
	save_done tern "$1" $((NOW - _s0))
}

save_qemu() {
	rm -f snap.qemu
	qmp_scan
	_d0=$n_done _f0=$n_failed
	now_ms
	_s0=$NOW _limit=$((NOW + SAVE_TIMEOUT_S * 1000))
	printf '{"execute": "migrate", "arguments": {"uri": "%s"}, "id": "save-%s"}\n' "$QEMU_SAVE_URI" "$1" >&4
	while :; do
		qmp_scan "save-$1"
		now_ms
		[ "$n_done" -eq "$_d0" ] || break
		case $qmp_line in *'"error"'*) run_failed "qemu save $1: $qmp_line"; return 1 ;; esac
		[ "$n_failed" -eq "$_f0" ] || { run_failed "qemu save $1: the migration failed"; return 1; }
		vm_alive || { run_failed "qemu exited during save $1"; return 1; }
		[ "$NOW" -le "$_limit" ] || { run_failed "qemu save $1: not completed within ${SAVE_TIMEOUT_S}s"; return 1; }
		sleep "$POLL_S"
	done
	_ms=$((NOW - _s0))
	# QEMU's own figure, for comparison with ours (which includes the polling).
	qmp "info-$1" query-migrate &&
		echo "qemu save $1: query-migrate total-time $(echo "$qmp_line" | sed -n 's/.*"total-time": *\([0-9]*\).*/\1/p') ms"
	save_done qemu "$1" "$_ms" || return 1
	# A migrated source stays paused (postmigrate): run it again for the next save.
	qmp "cont-$1" cont
}

source_tern() {
	boot_source tern-src tern_exec --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$TERN_CMDLINE" --control ctl.sock --snapshot-dir "$PWD" || return 1
	tern_fill=$fill
	_k=1
	while [ "$_k" -le "$RUNS" ]; do
		save_tern "$_k" || return 1
		_k=$((_k + 1))
	done
	grep 'snapshot saved' tern-src-stderr.log
}

source_qemu() {
	qmp_files
	boot_source qemu-src qemu_exec -kernel "$KERNEL" -initrd "$INITRD" -append "$QEMU_CMDLINE" \
		-chardev pipe,id=qmp,path=qmp -mon chardev=qmp,mode=control || return 1
	qemu_fill=$fill
	qmp_open
	qmp caps qmp_capabilities || return 1
	qmp events migrate-set-capabilities '{"capabilities": [{"capability": "events", "state": true}]}' ||
		return 1
	qmp bandwidth migrate-set-parameters '{"max-bandwidth": 107374182400}' || return 1
	_k=1
	while [ "$_k" -le "$RUNS" ]; do
		save_qemu "$_k" || return 1
		_k=$((_k + 1))
	done
}

# source_session NAME: NAME's source session; snap_NAME=1 when all its saves
# happened.
source_session() {
	eval "snap_$1=0"
	if "source_$1"; then
		eval "snap_$1=1"
	elif [ -n "$vm_pid" ]; then
		show_logs "$vm.log" "$vm-stderr.log"
	fi
	vm_kill
	qmp_close
	[ -s "snap.$1" ] || eval "snap_$1=0"
}

# ---------------------------------------------------------------- restores

# restore NAME K CHECK CMD...: start CMD (restoring snap.NAME), type the probe,
# wait for the guest's answer; with CHECK=1 then compare the guest's fill with
# the source's. Then kill it.
restore() {
	_name=$1 _k=$2 _check=$3
	shift 3
	echo "== $_name-restore-$_k: $(date)"
	[ "$_name" != qemu ] || qmp_files
	vm_start "$_name-restore-$_k" "$@"
	[ "$_name" != qemu ] || qmp_open
	_probe=1 _mon=''
	printf '%srun [ -s /tmp/fill ] && echo back-1\n' "$PAD" >&3
	_limit=$((t0 + RESTORE_TIMEOUT_S * 1000)) _resend=$((t0 + RESEND_S * 1000))
	while :; do
		scan_log
		now_ms
		[ "$_name" != qemu ] || [ -n "$_mon" ] || [ ! -s qmp.log ] || _mon=$((NOW - t0))
		[ "$n_rc" -eq 0 ] || break
		if ! vm_alive; then
			wait "$vm_pid" 2>/dev/null
			run_failed "$vm exited (status $?) before the guest answered"
			show_logs "$vm.log" "$vm-stderr.log"
			vm_pid='' && exec 3>&-
			return 1
		fi
		if [ "$NOW" -gt "$_limit" ]; then
			run_failed "$vm: the guest did not answer within ${RESTORE_TIMEOUT_S}s"
			show_logs "$vm.log" "$vm-stderr.log"
			vm_kill
			return 1
		fi
		if [ "$NOW" -gt "$_resend" ]; then
			_probe=$((_probe + 1)) _resend=$((NOW + RESEND_S * 1000))
			printf '\nrun [ -s /tmp/fill ] && echo back-%s\n' "$_probe" >&3
		fi
		sleep "$POLL_S"
	done
	_ms=$((NOW - t0))
	if [ "$rc1" != 0 ]; then
		run_failed "$vm: the restored guest has no /tmp/fill (probe rc=$rc1)"
	else
		echo "$vm: guest answered probe ${tag1:-?} after $_ms ms ($_probe typed)"
		add "${_name}_restore" "$_ms"
		if [ -n "$_mon" ]; then
			echo "$vm: its QMP greeting came after $_mon ms"
			add qemu_monitor "$_mon"
		fi
		if [ "$tag1" != 1 ]; then
			echo "NOTE: $vm: the first probe was not answered; the time is an upper bound"
			notes="$notes $vm"
		fi
	fi
	if [ "$_check" = 1 ]; then
		case $_name in tern) _want=$tern_fill ;; *) _want=$qemu_fill ;; esac
		if vm_get FILL "$FILL_SUM"; then
			if [ "$value" = "$_want" ]; then
				echo "$vm: the guest's fill is intact: $value"
			else
				run_failed "$vm: the guest's fill is '$value' after the restore, '$_want' before"
			fi
		fi
	fi
	[ -s "$vm-stderr.log" ] && show_logs "$vm-stderr.log"
	vm_kill
	qmp_close
}

# ---------------------------------------------------------------- checks

peer_qemu_check
# file: migration URIs came with QEMU 8.2.
if awk -v v="$qemu_v" 'BEGIN { split(v, a, "."); exit !(a[1] > 8 || (a[1] == 8 && a[2] >= 2)) }'; then
	QEMU_SAVE_URI="file:$PWD/snap.qemu" QEMU_LOAD_URI="file:$PWD/snap.qemu"
else
	QEMU_SAVE_URI="exec:cat > $PWD/snap.qemu" QEMU_LOAD_URI="exec:cat $PWD/snap.qemu"
fi
echo "host: $(nproc) CPUs, /tmp $(df -m /tmp | awk 'NR == 2 { print $4 }') MiB free; here: $PWD"

trap 'vm_kill; qmp_close' EXIT

# ---------------------------------------------------------------- runs

tern_save='' tern_size='' tern_restore='' qemu_save='' qemu_size='' qemu_restore=''
snap_tern=0 snap_qemu=0 tern_fill='' qemu_fill='' qemu_monitor=''
source_session tern
source_session qemu
i=1
while [ "$i" -le "$RUNS" ]; do
	[ "$i" = "$RUNS" ] && check=1 || check=0
	[ "$snap_tern" = 0 ] ||
		restore tern "$i" "$check" tern_exec --restore "$PWD/snap.tern"
	[ "$snap_qemu" = 0 ] ||
		restore qemu "$i" "$check" qemu_exec -incoming "$QEMU_LOAD_URI" \
			-chardev pipe,id=qmp,path=qmp -mon chardev=qmp,mode=control
	i=$((i + 1))
done

# ---------------------------------------------------------------- results

echo
echo "snapshot benchmark, medians of $RUNS runs ($CPUS vCPUs, $MEM_MIB MiB, $FILL_MIB MiB filled):"
echo "  save ms:     tern$tern_save; qemu$qemu_save"
echo "  size MiB:    tern$tern_size; qemu$qemu_size"
echo "  restore ms:  tern$tern_restore; qemu$qemu_restore"
report snapshot.runs "$RUNS" runs
report snapshot.fill_mib "$FILL_MIB" MiB
report snapshot.qemu_version "$qemu_v" -
report snapshot.qemu_uri "${QEMU_SAVE_URI%%:*}:" -
complete=1
for _vmm in tern qemu; do
	for _m in save size restore; do
		case $_m in save) _key=save_ms _unit=ms ;; size) _key=size_mib _unit=MiB ;; restore) _key=restore_ms _unit=ms ;; esac
		eval "_l=\$${_vmm}_$_m"
		# shellcheck disable=SC2086 # space-separated numbers
		if _v=$(median $_l); then
			report "snapshot.${_vmm}_$_key" "$_v" "$_unit"
			# shellcheck disable=SC2086
			report "snapshot.${_vmm}_${_key}_runs" "$(echo $_l | tr ' ' ,)" "$_unit"
		else
			_v='' complete=0
		fi
		eval "med_${_vmm}_$_m=\$_v"
	done
done
# shellcheck disable=SC2086
_v=$(median $qemu_monitor) && report snapshot.qemu_restore_monitor_ms "$_v" ms
[ -z "$notes" ] || report snapshot.upper_bounds "$(echo "${notes# }" | tr ' ' ,)" -
echo "targets:"
if [ -n "$med_tern_save" ] && [ -n "$med_qemu_save" ]; then
	report snapshot.save_ratio "$(awk -v t="$med_tern_save" -v q="$med_qemu_save" 'BEGIN { printf "%.3f", t / q }')" x
fi
if [ -n "$med_tern_restore" ] && [ -n "$med_qemu_restore" ]; then
	ratio=$(awk -v t="$med_tern_restore" -v q="$med_qemu_restore" 'BEGIN { printf "%.3f", t / q }')
	report snapshot.restore_ratio "$ratio" x
	target snapshot.target_restore "$ratio" "<=" 0.2 x
fi

if [ "$failures" -gt 0 ] || [ "$complete" = 0 ]; then
	fail "$failures step(s) failed or a median is missing; see the messages above"
fi
