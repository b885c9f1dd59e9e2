#!/bin/sh
# A hostile guest floods every message it can make tern print, for 10 s each
# (guest-images/tools/logflood.c): unclaimed MMIO reads and writes, queues
# enabled with rings outside RAM, rings with an out-of-range head (device
# needs reset), device resets, a BAR moved onto another device's so that KVM
# refuses the overlapping ioeventfds; then, in a second VM started with
# --strict-mmio, unclaimed reads that each get an external abort.
# Bound: every message goes through a limiter of 10 per 5 s (vmm/log.h), so
# over a 10 s flood each kind of message appears at most 30 times (3 periods;
# 40 allowed here for the scenario's own timing), and tern's log grows by at
# most FLOOD_MAX_BYTES in all. tern answers "status" during the flood, within
# STATUS_MAX_S, and stays up.
# timeout: 900
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_root
trap guest_dump_logs EXIT

FLOOD_S=10
FLOOD_MAX_BYTES=65536
PER_KIND_MAX=40
STATUS_MAX_S=15

# Lines of the stderr log grown since byte $2 that contain $3.
since() { tail -c +"$(($2 + 1))" "$1" | grep -cF -- "$3"; }

# flood MODE: runs "logflood MODE $FLOOD_S" in the serving guest, asks tern's
# status in the middle of it, checks the log's growth.
flood() {
	_before=$(wc -c <tern-stderr.log)
	_n=$(guest_count "TERN-GUEST: run rc=")
	guest_send "run logflood $1 $FLOOD_S"
	sleep 4
	_t0=$(date +%s)
	"$TERN" ctl vm.sock status >status.out || fail "status failed during the $1 flood: $(cat status.out)"
	_st=$(($(date +%s) - _t0))
	[ "$_st" -le "$(lab_scaled $STATUS_MAX_S)" ] || fail "status took ${_st}s during the $1 flood"
	_end=$(($(date +%s) + $(lab_scaled 240)))
	while [ "$(guest_count "TERN-GUEST: run rc=")" -le "$_n" ]; do
		kill -0 "$tern_pid" 2>/dev/null || fail "tern died during the $1 flood"
		[ "$(date +%s)" -lt "$_end" ] || fail "logflood $1 did not finish"
		sleep 0.5
	done
	guest_log | grep "^logflood: done" | tail -n 1 | grep -q . || fail "logflood $1 did not run: $(guest_log | grep '^logflood' | tail -n 3)"
	_after=$(wc -c <tern-stderr.log)
	_grown=$((_after - _before))
	echo "REPORT: flood $1: $(guest_log | grep '^logflood: done' | tail -n 1 | sed 's/^logflood: done //'); tern's log grew by $_grown bytes, $(tail -c +"$((_before + 1))" tern-stderr.log | wc -l) lines; status answered in ${_st}s"
	[ "$_grown" -le "$FLOOD_MAX_BYTES" ] || fail "tern's log grew by $_grown bytes during the $1 flood (bound $FLOOD_MAX_BYTES)"
	flood_before=$_before
}

# check_kind TEXT MIN_EVENTS_FIELD: the kind of message TEXT appeared at least
# once, at most PER_KIND_MAX times, and the limiter left some out.
check_kind() {
	_c=$(since tern-stderr.log "$flood_before" "$1")
	echo "REPORT: '$1': $_c lines"
	[ "$_c" -ge 1 ] || fail "no '$1' message at all: the flood did not reach that path"
	[ "$_c" -le "$PER_KIND_MAX" ] || fail "'$1' printed $_c times in a ${FLOOD_S}s flood (bound $PER_KIND_MAX)"
}

# Events the guest made, from its summary line: field $1.
events() { guest_log | grep '^logflood: done' | tail -n 1 | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }

guest_serve --cpus 2 --memory 256M --vconsole pty --control vm.sock
flood all
check_kind "unclaimed MMIO"
check_kind "bad ring addresses"
check_kind "the driver's ring is invalid"
check_kind "kick ioeventfd"
# Each kind must have come more often than the limiter lets through in one
# period (10), or the bound would prove nothing (the emulated host is slow:
# a loaded machine gives ~1 bad ring per second).
[ "$(events mmio)" -gt 100 ] && [ "$(events bad_addr)" -gt 10 ] &&
	[ "$(events bad_ring)" -gt 10 ] && [ "$(events bar_moves)" -gt 10 ] ||
	fail "the guest made too few events for the bound to mean anything"
since tern-stderr.log "$flood_before" "similar messages suppressed" | grep -qv '^0$' ||
	fail "no message says how many were suppressed"
guest_send "echo alive"
wait_for tern.log "TERN-GUEST: echo alive" 60
"$TERN" ctl vm.sock status >/dev/null || fail "status after the flood"
guest_poweroff 60

mv tern.log tern-1.log
mv tern-stderr.log tern-stderr-1.log
guest_serve --cpus 1 --memory 256M --strict-mmio --control vm.sock
flood strict
check_kind "external data abort injected"
[ "$(events strict)" -gt 10 ] || fail "the guest made too few aborts for the bound to mean anything"
guest_send "echo alive"
wait_for tern.log "TERN-GUEST: echo alive" 60
guest_poweroff 60
