#!/bin/sh
# A console reader that stops reading (tern's stdout a pipe whose reader,
# pipestall from guest-images/tools, stops reading) while the guest keeps
# printing: the UART never
# blocks a vCPU (its output goes through a bounded buffer and a writer
# thread, vmm/console.h), so "pause", "snapshot" and "quit" on the control
# socket still answer within CTL_MAX_S each, and tern exits (the console's
# flush gives up after 2 s). Output that does not fit is dropped, with a
# counted, rate-limited notice. Also: the snapshot's .part file is created
# anew (a symlink or a file already there is refused and left alone) with
# mode 0600. The pipe and tern's buffer are made small (one page each,
# --console-buffer 4K): the emulated host takes a few ms per console byte.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap 'kill "$reader" 2>/dev/null; guest_dump_logs' EXIT

CTL_MAX_S=20

# ctl_timed NAME ARGS...: "tern ctl vm.sock ARGS", must succeed within CTL_MAX_S.
ctl_timed() {
	_name=$1
	shift
	_t0=$(date +%s)
	timeout -s KILL "$(lab_scaled 60)" "$TERN" ctl vm.sock "$@" >ctl.out 2>&1 ||
		fail "$_name failed with the console stalled: $(cat ctl.out)"
	_s=$(($(date +%s) - _t0))
	echo "REPORT: $_name with the console reader stopped: ${_s}s"
	[ "$_s" -le "$(lab_scaled $CTL_MAX_S)" ] || fail "$_name took ${_s}s (bound ${CTL_MAX_S}s)"
}

[ -x "$LAB_BIN/pipestall" ] || fail "no $LAB_BIN/pipestall (built from guest-images/tools)"
rm -f console.in out.fifo stop-reading
mkfifo console.in out.fifo
"$LAB_BIN/pipestall" out.fifo tern.log stop-reading &
reader=$!
"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" --cpus 2 --memory 256M \
	--console-buffer 4K --control vm.sock --snapshot-dir "$PWD" --cmdline "$GUEST_CMDLINE tern.action=serve" \
	<console.in >out.fifo 2>tern-stderr.log &
tern_pid=$!
exec 3>console.in
wait_for tern.log "TERN-GUEST: ready" 200

# The guest prints without end, a line every 0.2 s; then the reader stops.
# Paced below what its UART drains here (0.5-1.8 KiB/s): a guest printing
# flat out keeps its 8250 driver writing in hard-IRQ context, up to its 4 KiB
# buffer per interrupt and every byte an exit (~0.2 ms under this nested
# emulation, tern's FIFO being empty at once as QEMU's and kvmtool's are),
# and once the guest's watchdog saw that CPU's timer starved for 10 s.
guest_send "run while :; do echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef; sleep 0.2; done &"
wait_for tern.log "TERN-GUEST: run rc=0" 60
touch stop-reading
echo "console reader stopped"
t0=$(date +%s)
# Until tern's buffer and the pipe are full and the UART drops bytes.
wait_for tern-stderr.log "uart: console output dropped" 300
t_drop=$(date +%s)
echo "REPORT: the UART dropped output $((t_drop - t0))s after the reader stopped"
# The limiter lets 10 notices through per 5 s (vmm/log.h); the first one of
# the next period says how many it held back. Waited for here, before the
# control commands, so that the guest's printing outlasts a period however
# fast the host runs them.
wait_for tern-stderr.log "similar messages suppressed" 60
echo "REPORT: the first notice with a count of suppressed ones $(($(date +%s) - t_drop))s after the first drop"

ctl_timed pause pause
ctl_timed resume resume

# The .part file: one planted there (a symlink to a file) is refused, untouched.
echo precious >victim
ln -s victim snap.tern.part
if "$TERN" ctl vm.sock snapshot path="$PWD/snap.tern" >ctl.out 2>&1; then
	fail "a snapshot went through a symlink planted at its .part file"
fi
grep -q "already exists" ctl.out || fail "refusal does not say why: $(cat ctl.out)"
[ "$(cat victim)" = precious ] && [ -L snap.tern.part ] || fail "the planted .part file was touched"
[ ! -e snap.tern ] || fail "a refused snapshot left snap.tern"
rm -f snap.tern.part
echo "REPORT: snapshot refused a symlink at its .part file: $(cat ctl.out)"

umask 022
ctl_timed snapshot snapshot path="$PWD/snap.tern"
[ -s snap.tern ] || fail "no snapshot file"
mode=$(stat -c %a snap.tern)
[ "$mode" = 600 ] || fail "the snapshot's mode is $mode, not 600"
[ ! -e snap.tern.part ] || fail "snap.tern.part left behind"

ctl_timed quit quit
guest_wait_exit "$CTL_MAX_S"
expect_status "$status" 0 "tern did not exit 0 after quit"
# The limiter lets 10 through per 5 s (vmm/log.h): over the time bytes were
# dropped, at most 10 per started 5 s, plus one period for the clocks' skew.
dropping_s=$(($(date +%s) - t_drop + 1))
drops=$(grep -c "uart: console output dropped" tern-stderr.log)
max_drops=$((10 * ((dropping_s + 4) / 5 + 1)))
echo "REPORT: 'console output dropped' notices: $drops in ${dropping_s}s (bound $max_drops); last: $(grep "uart: console output dropped" tern-stderr.log | tail -n 1)"
[ "$drops" -le "$max_drops" ] || fail "the dropped-output notice is not rate-limited ($drops lines in ${dropping_s}s)"
grep -q "uart: console output dropped.*similar messages suppressed" tern-stderr.log ||
	fail "no dropped-output notice says how many were suppressed"
grep -q "console: output not flushed" tern-stderr.log ||
	fail "tern did not say it gave up flushing the stalled console"
