# Driving tern and the test guest from a scenario (source after lib.sh).
#
#   guest_start ARGS...   start "$TERN run --kernel $KERNEL --initrd $INITRD ARGS..."
#                         in the background, its stdin a FIFO we hold open (so
#                         guest_send can type on the console), stdout+stderr in
#                         ./tern.log; stderr in ./$GUEST_STDERR instead when set
#                         (tern's messages can land in the middle of a console line)
#   guest_send LINE       type LINE and Enter on the guest's console
#   guest_wait_exit S     wait at most S seconds for tern to exit; sets $status
#   guest_count PATTERN   how many lines of tern.log contain PATTERN
#   vfio_blk_fn           bdf = the vfio host's virtio-blk function, or skip
#   stream_console NAME   while tern runs, its new console lines on the
#                         emulated host's console, prefixed "NAME| "
#   guest_serve ARGS...   guest_start ARGS... with the serve command line and
#                         tern's stderr in ./tern-stderr.log (tern.log is then the
#                         guest's console alone), wait for "TERN-GUEST: ready" and
#                         check the modules loaded
#   guest_run CMD [S]     "run CMD" in a serving guest, wait at most S seconds
#                         (default 120) for its "run rc=" line; sets $run_rc
#   guest_run_watched CMD S WHAT
#                         guest_run CMD, in the background of the guest's shell:
#                         if it has not ended after S seconds (scaled), the
#                         guest's blocked tasks (sysrq w), its virtio interrupt
#                         lines and the block layer's in-flight requests are
#                         printed before the scenario fails naming WHAT — a
#                         hung request (a lost interrupt, a stuck queue) shows
#                         where it hangs; sets $run_rc
#   guest_value KEY       the last "KEY=value" line the guest printed: value
#   guest_poweroff [S]    "poweroff", wait for tern to exit, expect status 0
#   pattern_sum FILE WHAT the fnv1a64 of the last "blkpattern: WHAT ..." line in FILE
#   host_has_pattern FILE SEED BYTES
#                         FILE, read on the host, holds the blkpattern of SEED
#                         over BYTES, with the checksum the guest wrote
#                         ($guest_sum); sets $host_sum
#   guest_blk_roundtrip DEV SEED BYTES S WHY
#                         in the guest, blkpattern write then verify DEV (at most
#                         S seconds); fails with WHY unless both pass, or if their
#                         checksums differ; sets $guest_sum
#   guest_irqs AWKPAT [S] the guest's interrupts so far on the /proc/interrupts
#                         lines that awk pattern AWKPAT (no double quotes or $)
#                         selects, all CPUs: sets $irqs
#   guest_blk_irqs [S]    the guest's virtio-blk queue interrupts through the ITS
#                         so far (its "ITS-PCI-MSIX ... req" lines in
#                         /proc/interrupts, all CPUs): sets $blk_irqs
#   ctl_refused SOCK SAYS COMMAND ARGS...
#                         "tern ctl SOCK COMMAND ARGS..." must be refused (exit
#                         1) with the fixed string SAYS in what it prints
#   snapshot_refused SOCK FILE SAYS
#                         ctl_refused for "snapshot path=FILE", and neither FILE
#                         nor FILE.part may be left behind
#   guest_dump_logs       print every tern*.log of the scenario (for an EXIT trap:
#                         the lab shows a scenario's output only when it fails)
#
# The guest (guest-images/init) prints "TERN-GUEST: ..." markers; with
# tern.action=serve it answers console commands (see guest-images/init).

# Quiet guests boot faster: every console byte is an MMIO exit.
GUEST_CMDLINE="console=ttyS0 quiet panic=-1"

# Guests here run without a PMU (--pmu off), except in the pmu scenario: the
# emulated host's kernel (Debian 7.2.13 under QEMU TCG) has been seen to oops
# in perf_ctx_sched_task_cb when scheduling a vCPU thread that owns the perf
# events KVM creates for a guest's PMU counters, about once in 30 boots.
# Every scenario starts tern as "$TERN" run $TERN_LAB_OPTS ... (not through
# a shell function: a backgrounded function is a subshell, and $! would not
# be tern's pid).
# --sandbox kill (tern's default too, README "Security model"; named here so
# that a scenario's tern is confined in kill mode whatever the default): a
# system call missing from an allowlist fails the scenario.
TERN_LAB_OPTS="--pmu off --sandbox kill"

# stream_console NAME: in the background while tern ($tern_pid) runs, the new
# lines of tern.log, prefixed "NAME| ", on the emulated host's console (a
# slow boot then shows where it is); nothing on a real arm64 host.
stream_console() {
	[ -n "${LAB_CONSOLE:-}" ] || return 0
	(
		_sc_n=0
		while kill -0 "$tern_pid" 2>/dev/null; do
			_sc_t=$(wc -l <tern.log)
			[ "$_sc_t" -le "$_sc_n" ] ||
				sed -n "$((_sc_n + 1)),${_sc_t}s/^/$1| /p" tern.log | tr -d '\r' >"$LAB_CONSOLE"
			_sc_n=$_sc_t
			sleep 2
		done
	) &
}

guest_start() {
	rm -f console.in
	mkfifo console.in
	if [ -n "${GUEST_STDERR:-}" ]; then
		"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" "$@" \
			<console.in >tern.log 2>"$GUEST_STDERR" &
	else
		"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" "$@" \
			<console.in >tern.log 2>&1 &
	fi
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
	"$TERN" run $TERN_LAB_OPTS --kernel "$KERNEL" --initrd "$INITRD" --cpus "$1" --memory "$2M" \
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

guest_serve() {
	GUEST_STDERR=tern-stderr.log guest_start "$@" --cmdline "$GUEST_CMDLINE tern.action=serve"
	wait_for tern.log "TERN-GUEST: ready" 200
	! grep "^TERN-GUEST: module " tern.log ||
		fail "the guest could not load its modules (see the 'TERN-GUEST: module' lines)"
}

# tern.log without the console's carriage returns.
guest_log() {
	tr -d '\r' <tern.log
}

# guest_reboot [SECONDS]: the serving guest reboots (tern resets the VM),
# and this returns once a boot after it is ready: a "TERN-GUEST: ready"
# after a "TERN-GUEST: init" that came after the reboot. Nothing may be sent
# to the console before that, or it is lost in the reboot.
guest_reboot() {
	_gb_init=$(guest_count 'TERN-GUEST: init')
	guest_send reboot
	_gb_end=$(($(date +%s) + $(lab_scaled "${1:-200}")))
	until [ "$(guest_count 'TERN-GUEST: init')" -gt "$_gb_init" ] &&
		awk '/TERN-GUEST: init/ { i = NR } /TERN-GUEST: ready/ { r = NR } END { exit !(i && r > i) }' tern.log; do
		kill -0 "$tern_pid" 2>/dev/null || fail "tern exited at the guest's reboot"
		[ "$(date +%s)" -lt "$_gb_end" ] || fail "the guest did not come back after its reboot"
		sleep 0.5
	done
}

guest_run() {
	_gr_n=$(guest_count "TERN-GUEST: run rc=")
	_gr_end=$(($(date +%s) + $(lab_scaled "${2:-120}")))
	guest_send "run $1"
	while [ "$(guest_count "TERN-GUEST: run rc=")" -le "$_gr_n" ]; do
		kill -0 "$tern_pid" 2>/dev/null || fail "tern exited while the guest ran: $1"
		[ "$(date +%s)" -lt "$_gr_end" ] ||
			fail "the guest did not finish within $(lab_scaled "${2:-120}")s: $1"
		sleep 0.2
	done
	run_rc=$(guest_log | sed -n 's/^TERN-GUEST: run rc=\([0-9]*\).*/\1/p' | tail -n 1)
	echo "guest: run $1 -> rc=$run_rc"
}

guest_run_watched() {
	_gw_n=$(guest_count "TERN-WATCH rc=")
	_gw_s=$(lab_scaled "$2")
	_gw_end=$(($(date +%s) + _gw_s))
	guest_run "( ($1) </dev/null; echo \"TERN-WATCH rc=\$?\" ) &" 30
	while [ "$(guest_count "TERN-WATCH rc=")" -le "$_gw_n" ]; do
		kill -0 "$tern_pid" 2>/dev/null || fail "tern exited while the guest ran: $1"
		if [ "$(date +%s)" -ge "$_gw_end" ]; then
			guest_run "echo w >/proc/sysrq-trigger; dmesg | tail -n 80; grep -i virtio /proc/interrupts; grep . /sys/block/*/inflight" 60
			fail "the guest did not finish within ${_gw_s}s ($3): $1"
		fi
		sleep 0.2
	done
	run_rc=$(guest_log | sed -n 's/.*TERN-WATCH rc=\([0-9]*\).*/\1/p' | tail -n 1)
	echo "guest: run $1 -> rc=$run_rc"
}

guest_value() {
	guest_log | sed -n "s/^$1=//p" | tail -n 1
}

guest_poweroff() {
	guest_send poweroff
	guest_wait_exit "${1:-60}"
	expect_status "$status" 0 "tern did not exit 0 after the guest's poweroff"
}

pattern_sum() {
	tr -d '\r' <"$1" | grep -F "blkpattern: $2 " | tail -n 1 | sed -n 's/.*fnv1a64=\([0-9a-f]*\).*/\1/p'
}

# host_disk_ready DEV SECONDS WHAT: the host's driver has brought the disk
# up as DEV and it reads. The node appears before the disk is attached, and
# an open then fails with ENXIO: a block is read to know.
host_disk_ready() {
	_hd_end=$(($(date +%s) + $(lab_scaled "$2")))
	until [ -b "$1" ] && dd if="$1" of=/dev/null bs=512 count=1 2>/dev/null; do
		[ "$(date +%s)" -lt "$_hd_end" ] || fail "$3 did not bring the disk back as a readable $1"
		sleep 0.2
	done
}

host_has_pattern() {
	"$LAB_BIN/blkpattern" verify "$1" "$2" "$3" >host-verify.txt
	_hp_rc=$?
	cat host-verify.txt
	expect_status "$_hp_rc" 0 "$1 does not hold what the guest wrote (seed $2)"
	host_sum=$(pattern_sum host-verify.txt "verify $1")
	[ -n "$guest_sum" ] && [ "$guest_sum" = "$host_sum" ] ||
		fail "checksums differ: guest wrote ${guest_sum:-none}, host reads ${host_sum:-none}"
}

guest_blk_roundtrip() {
	guest_run "blkpattern write $1 $2 $3 && blkpattern verify $1 $2 $3" "$4"
	expect_status "$run_rc" 0 "$5"
	guest_sum=$(pattern_sum tern.log "write $1")
	[ "$guest_sum" = "$(pattern_sum tern.log "verify $1")" ] ||
		fail "the guest wrote and read back different checksums"
}

guest_irqs() {
	guest_run "awk \"$1 { for (i = 2; i <= NF && \\\$i ~ /^[0-9]+\\\$/; i++) s += \\\$i } END { print \\\"IRQSUM=\\\" s + 0 }\" /proc/interrupts" "${2:-60}"
	irqs=$(guest_value IRQSUM)
}

guest_blk_irqs() {
	guest_irqs '/ITS-PCI-MSIX/ && /req/' "${1:-}"
	blk_irqs=$irqs
}

# vfio_blk_fn: bdf = the vfio host's virtio-blk function (QEMU's, 1af4:1042),
# the one the vfio scenarios pass through; skips where there is none.
vfio_blk_fn() {
	bdf=$(pci_fn vendor 0x1af4 device 0x1042)
	[ -n "$bdf" ] || skip "no virtio-blk PCI function to pass through (runs on the lab's vfio host)"
}

ctl_refused() {
	_cr_sock=$1 _cr_says=$2
	shift 2
	"$TERN" ctl "$_cr_sock" "$@" >"ctl-$1.out" 2>&1
	_cr_st=$?
	cat "ctl-$1.out"
	expect_status "$_cr_st" 1 "tern ctl $* was not refused"
	grep -qF -- "$_cr_says" "ctl-$1.out" || fail "the refusal of tern ctl $* does not say: $_cr_says"
}

snapshot_refused() {
	ctl_refused "$1" "$3" snapshot path="$2"
	[ ! -e "$2" ] && [ ! -e "$2.part" ] || fail "a refused snapshot left $2 or $2.part"
}

guest_dump_logs() {
	# How this side's tern ended, when it did and nobody reaped it yet (127:
	# already reaped): 1 error, 3 reset, 4 crash, 5 memory fault, 6 sandbox, 128+N signal.
	if [ -n "${tern_pid:-}" ] && ! kill -0 "$tern_pid" 2>/dev/null; then
		wait "$tern_pid" 2>/dev/null
		_gd=$?
		[ "$_gd" = 127 ] || echo "--- tern (pid $tern_pid) exited with status $_gd"
	fi
	# Also the other terns' logs (a migration's destination): its console
	# shows a guest that crashed there, its stderr a sandbox violation.
	for _gd in tern*.log $(ls ./*.log 2>/dev/null | grep -v '/tern'); do
		[ -f "$_gd" ] || continue
		echo "--- $_gd:"
		cat "$_gd"
	done
}

# Memory errors (scenarios memory-error-*): a serving guest, with --control SOCK.
#   memvictim_start [ARGS] start memvictim ARGS (default /tmp/go) in the guest; sets
#                          $victim_pa, the physical address of its page
#   memvictim_poison SOCK [ARGS]
#                          start memvictim ARGS (default /tmp/go) in the guest (guest-images/tools/memvictim.c),
#                          poison its page through "tern ctl SOCK inject-memory-error"
#                          (tern needs --allow-fault-injection), check a second
#                          injection there is refused; sets $victim_pa. Skips when
#                          the host cannot poison pages.
#   poison_page SOCK GPA   "tern ctl SOCK inject-memory-error gpa=GPA", which
#                          must succeed; skips when the host cannot poison pages
#   memvictim_touch        let memvictim read its page; sets $victim_exit (its
#                          exit status, 135 = SIGBUS) unless tern exits first
#   lab_uptime             the host's uptime in seconds, with hundredths
lab_uptime() { cut -d' ' -f1 /proc/uptime; }

poison_page() {
	"$TERN" ctl "$1" inject-memory-error gpa="$2" >inject.out 2>&1
	_pp_st=$?
	cat inject.out
	if [ "$_pp_st" = 1 ] && grep -q "MADV_HWPOISON" inject.out; then
		trap - EXIT
		guest_dump_logs
		skip "the host cannot poison pages: $(sed -n 's/.*"error": *"\([^"]*\)".*/\1/p' inject.out)"
	fi
	expect_status "$_pp_st" 0 "tern ctl inject-memory-error failed"
}

memvictim_start() {
	rm -f go
	# This memvictim's line, not an earlier one's in the same guest.
	_vs_seen=$(grep -cF "memvictim: pa=" tern.log)
	guest_run "(memvictim ${1:-/tmp/go}; echo \"memvictim-exit=\$?\") &" 30
	wait_for_more tern.log "memvictim: pa=" "$_vs_seen" 30
	victim_pa=$(guest_log | sed -n 's/^memvictim: pa=\(0x[0-9a-f]*\).*/\1/p' | tail -n 1)
	[ -n "$victim_pa" ] || fail "memvictim printed no physical address"
	echo "memvictim's page: $victim_pa"
}

memvictim_poison() {
	memvictim_start "${2:-}"
	poison_page "$1" "$victim_pa"
	# Again, before the guest touched it: refused, and tern lives on.
	"$TERN" ctl "$1" inject-memory-error gpa="$victim_pa" >inject2.out 2>&1
	_mp_st=$?
	cat inject2.out
	expect_status "$_mp_st" 1 "a second inject-memory-error on the same page was not refused"
	grep -q "poisoned already" inject2.out || fail "the second inject-memory-error does not say the page is poisoned already"
	kill -0 "$tern_pid" 2>/dev/null || fail "tern died of the second inject-memory-error"
}

memvictim_touch() {
	_mt_t0=$(lab_uptime)
	# The exit status of this memvictim: the next one after those seen so far.
	_mt_seen=$(grep -c "^memvictim-exit=" tern.log)
	guest_send "run touch /tmp/go"
	_mt_end=$(($(date +%s) + $(lab_scaled 60)))
	victim_exit=
	while [ -z "$victim_exit" ]; do
		# Complete lines only (as many as the log has newlines): the
		# console may have written "memvictim-exit=13" of a "135" so far.
		victim_exit=$(head -n "$(wc -l <tern.log)" tern.log | tr -d '\r' |
			sed -n 's/^memvictim-exit=\([0-9]*\).*/\1/p' | sed -n "$((_mt_seen + 1))p")
		kill -0 "$tern_pid" 2>/dev/null || break
		[ "$(date +%s)" -lt "$_mt_end" ] || fail "memvictim did not end within $(lab_scaled 60)s of touching its page"
		sleep 0.1
	done
	victim_secs=$(awk -v a="$_mt_t0" -v b="$(lab_uptime)" 'BEGIN { printf "%.2f", b - a }')
	echo "memvictim: exit status ${victim_exit:-none} ${victim_secs}s after the touch command"
	guest_log | grep "^memvictim: SIGBUS after" | tail -n 1 || :
}

# memory_error_survived BACKEND LOGGED [ROUNDS]: the memory-error-* check for one
# RAM backend. A serving guest with --memory 256M,backend=BACKEND; memvictim's
# page is poisoned and touched; memvictim must die of SIGBUS, tern must have
# logged LOGGED (how the fault came in, the abort injected) and replaced the
# page; memvictim then finds the freed page again and uses it (the guest's next
# user of it); status counts the errors and replaced pages so far. ROUNDS
# (default 1) times in the one guest, each with a new memvictim (a host sees
# more than one error over a guest's life); then the guest powers off cleanly.
memory_error_survived() {
	guest_serve --cpus 1 --memory "256M,backend=$1" --control ctl.sock --allow-fault-injection
	"$TERN" ctl ctl.sock status | grep -q "\"memory_backend\": \"$1\"" ||
		fail "status does not report the $1 backend"
	_ms_round=1
	while [ "$_ms_round" -le "${3:-1}" ]; do
		memvictim_poison ctl.sock
		memvictim_touch
		memory_error_contained "$1" "$2" "$_ms_round"
		echo "REPORT: memory error $_ms_round at $victim_pa delivered and contained"
		_ms_round=$((_ms_round + 1))
	done
	guest_poweroff 60
}

# memory_error_contained BACKEND LOGGED [N]: after memvictim_touch, memvictim died of
# SIGBUS, tern logged LOGGED and replaced the page, memvictim used the page
# again, the guest answers, and status counts N (default 1) errors and replaced
# pages: this was the guest's Nth memory error.
memory_error_contained() {
	_mc_n=${3:-1}
	expect_status "${victim_exit:-none}" 135 "memvictim did not die of SIGBUS"
	[ "$(guest_log | grep -c "^memvictim: SIGBUS after .* si_addr")" -ge "$_mc_n" ] ||
		fail "memvictim did not report its SIGBUS"
	grep -qF "$2" tern-stderr.log || fail "tern did not log: $2"
	grep -q "bogus" tern-stderr.log && fail "tern found the annotation bogus"
	# hugetlb: the huge page holding it.
	_mc_start=$victim_pa
	[ "$1" = hugetlb ] && _mc_start="0x[0-9a-f]*"
	grep -q "the poisoned page \[$_mc_start, +0x[0-9a-f]*) is replaced by a zeroed one ($_mc_n so far)" tern-stderr.log ||
		fail "backend=$1: tern did not replace the poisoned page at $victim_pa"
	guest_log | grep "^memvictim: \(reused\|page not reused\)" || :
	# This round's line, the Nth: an earlier round's on the same page is not it.
	[ "$(guest_log | grep -c "^memvictim: reused pa=")" -ge "$_mc_n" ] &&
		guest_log | grep "^memvictim: reused pa=" | tail -n 1 |
		grep -q "^memvictim: reused pa=$victim_pa after [0-9]* pages, pattern ok" ||
		fail "backend=$1: the guest did not use the freed page again (or its pattern did not read back)"
	guest_run "echo alive" 30
	expect_status "$run_rc" 0 "the guest did not keep running after the memory error"
	"$TERN" ctl ctl.sock status >status.out || fail "tern ctl status failed"
	cat status.out
	grep -Eq "\"memory_errors\": $_mc_n[,} ]" status.out || fail "status does not count $_mc_n memory error(s)"
	grep -Eq "\"pages_replaced\": $_mc_n[,} ]" status.out || fail "status does not count $_mc_n replaced page(s)"
}
