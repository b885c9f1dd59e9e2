#!/bin/sh
# Live migration benchmark: tern against Debian's QEMU (both on KVM), same guest.
#
# Four configurations, each a guest of 2 vCPUs and BENCH_MEM_MIB (default 1024)
# MiB booted once and then migrated over a unix socket to a new process of the
# same VMM at three points, the destination becoming the next source:
#   idle   nothing but the serving guest runs
#   low    the memory verifier stamps BENCH_WSET_MIB (64) MiB at BENCH_LOW (2) MiB/s
#   high   the same at BENCH_HIGH (8) MiB/s
# (Rates for the emulated host, where either VMM moves a few MiB/s; on real
# hardware raise them.)
# (memverify, guest-images/tools: after each move with a writer the destination
# checks every page of the working set; a stale page fails the run.)
#   tern-ring     tern, KVM dirty rings (--dirty-tracking ring, the default)
#   tern-bitmap   tern, KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (--dirty-tracking bitmap)
#   qemu-ring     QEMU with -accel kvm,dirty-ring-size=4096
#   qemu-bitmap   QEMU with its default dirty bitmap
# and, run by bench/migrate-tls.sh, the channel's cost: dirty rings over TCP
# on 127.0.0.1:
#   tern-ring-tcp / qemu-ring-tcp   plain TCP (tern: insecure=on)
#   tern-ring-tls / qemu-ring-tls   TLS 1.3 with X.509 both ways, the lab's CA
#       (tests/lab/run): tern's tls_creds + tls_hostname (handshake in OpenSSL,
#       records in kernel TLS), QEMU's tls-creds-x509 objects (GnuTLS in
#       userspace) with verify-peer and tls-hostname
# Both have a downtime target of 300 ms, no bandwidth cap (QEMU's
# max-bandwidth raised from its default) and auto-converge on (tern's default,
# QEMU's auto-converge capability). Figures per point, as the source
# reports them:
#   total ms      migrate command to completion (tern: its final report;
#                 QEMU: query-migrate total-time)
#   downtime ms   guest paused on the source until the destination runs it
#                 (tern: pause to the destination's ACK; QEMU: its "downtime"
#                 with the return-path capability on, as libvirt migrates:
#                 its source then ends the figure when the destination, having
#                 loaded the state and started the guest, closes the return
#                 path (MIG_RP_MSG_SHUT). Without it QEMU stops the clock once
#                 its last byte is in the source's socket, before the
#                 destination has read it: not the same measure as tern's)
#   pages resent  pages sent more than once (tern's report; QEMU: normal +
#                 duplicate pages - RAM pages)
# tern's report also gives the dirty-ring harvest throughput (entries/s).
# Results are "BENCH: migrate.<config>.<point>.<figure>" lines and ratios tern /
# QEMU for the same tracking kind, with the issue's target: tern's downtime
# and total time <= QEMU's at each point. A missed target is reported, not a
# failure; the script fails when a boot, a migration or a check did not happen.
#
# Environment: as a lab scenario (tests/lab/lib.sh) plus QEMU.
# timeout: 1800
. "$LAB/lib.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/common.sh"
. "${LAB_SCENARIOS:-$LAB/../bench}/lib/migration.sh"
need_tern

WSET_MIB=${BENCH_WSET_MIB:-64}
POINTS="idle:0 low:${BENCH_LOW:-2} high:${BENCH_HIGH:-8}"
CONFIGS=${BENCH_CONFIGS:-"tern-ring tern-bitmap qemu-ring qemu-bitmap"}
T=$LAB/tls
# One port a move (the previous destination may still hold its own).
PORT_BASE=4460

# QEMU's tls-creds-x509 wants its own file names: one directory as server
# (the destination: dst's certificate), one as client (src's).
qemu_tls_dirs() {
	mkdir -p qtls-server qtls-client
	cp "$T/dst/ca.pem" qtls-server/ca-cert.pem
	cp "$T/dst/cert.pem" qtls-server/server-cert.pem
	cp "$T/dst/key.pem" qtls-server/server-key.pem
	cp "$T/src/ca.pem" qtls-client/ca-cert.pem
	cp "$T/src/cert.pem" qtls-client/client-cert.pem
	cp "$T/src/key.pem" qtls-client/client-key.pem
	chmod 600 qtls-*/*-key.pem
}
QEMU_TLS="-object tls-creds-x509,id=tlss,dir=$PWD/qtls-server,endpoint=server,verify-peer=on
	-object tls-creds-x509,id=tlsc,dir=$PWD/qtls-client,endpoint=client,verify-peer=on
	-global migration.tls-creds=tlss"

# chan_of CONFIG: unix, tcp or tls; track_of CONFIG: ring or bitmap.
chan_of() { case $1 in *-*-*) echo "${1##*-}" ;; *) echo unix ;; esac; }
track_of() { _r=${1#*-}; echo "${_r%%-*}"; }

# tern_channel CHAN N: the --incoming URI of move N and the source's
# arguments (tern_src_opts for --migrate-to, tern_mig_opts for migrate).
tern_channel() {
	_port=$((PORT_BASE + $2))
	case $1 in
	tcp) tern_in="tcp:127.0.0.1:$_port,insecure=on" tern_mig_opts=insecure=on ;;
	tls) tern_in="tcp:127.0.0.1:$_port,tls_creds=$T/dst,tls_hostname=src"
	     tern_mig_opts="tls_creds=$T/src tls_hostname=dst" ;;
	esac
}

# --migrate-to for every move a tern process may source (keys read at start).
tern_src_opts() {
	_o=''
	for _i in 1 2 3; do
		case $1 in
		tcp) _o="$_o --migrate-to tcp:127.0.0.1:$((PORT_BASE + _i)),insecure=on" ;;
		tls) _o="$_o --migrate-to tcp:127.0.0.1:$((PORT_BASE + _i)),tls_creds=$T/src,tls_hostname=dst" ;;
		esac
	done
	echo "$_o"
}

# qmp_setup CONFIG: the current QEMU's migration settings.
qmp_setup() {
	_tls=''
	[ "$(chan_of "$1")" != tls ] || _tls=', "tls-creds": "tlsc", "tls-hostname": "dst"'
	qmp 7 "$cur-qmp.log" "caps-$cur" qmp_capabilities &&
		qmp 7 "$cur-qmp.log" "ev-$cur" migrate-set-capabilities \
			'{"capabilities": [{"capability": "events", "state": true}, {"capability": "auto-converge", "state": true}, {"capability": "return-path", "state": true}]}' &&
		qmp 7 "$cur-qmp.log" "par-$cur" migrate-set-parameters \
			"{\"max-bandwidth\": 107374182400, \"downtime-limit\": 300$_tls}"
}

# ---------------------------------------------------------------- one move

# move_tern CONFIG POINT URI [OPTIONS]: sets total, downtime, resent (and harvest_rate).
move_tern() {
	# shellcheck disable=SC2086 # options, one word each
	"$TERN" ctl "$cur.sock" migrate "uri=$3" ${4:-} >ctl.out 2>&1 ||
		{ run_failed "$cur: migrate refused: $(cat ctl.out)"; return 1; }
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	while kill -0 "$cur_pid" 2>/dev/null; do
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no completion in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.2
	done
	wait "$cur_pid"
	_st=$?
	_rep=$(grep -a 'migration to .* completed' "$cur-stderr.log" | tail -n 1)
	[ "$_st" = 0 ] && [ -n "$_rep" ] ||
		{ run_failed "$cur: exit status $_st, no report"; show_logs "$cur-stderr.log"; return 1; }
	echo "$cur: $_rep"
	# Where the time went: each round (MiB/ms, pages left and how many of
	# them it deferred, throttle), and the downtime (migration/migrate.c,
	# record_round and record_final).
	echo "REPORT: $1 $2 rounds: $(grep -a "migration: round" "$cur-stderr.log" | sed -n \
		's/.*round \([0-9]*\): \([0-9]*\) MiB in \([0-9]*\) ms.*, \([0-9]*\) pages left (\([0-9]*\) of them deferred.*throttle \([0-9]*\)%.*/r\1 \2MiB\/\3ms\/\4left\/\5def\/\6%/p' | tr '\n' ' ')"
	grep -a 'migration: final stage' "$cur-stderr.log" | tail -n 1 | sed "s/^/REPORT: $1 $2: /"
	total=$(echo "$_rep" | sed -n 's/.*total \([0-9]*\) ms.*/\1/p')
	downtime=$(echo "$_rep" | sed -n 's/.*downtime \([0-9]*\) ms.*/\1/p')
	resent=$(echo "$_rep" | sed -n 's/.* \([0-9]*\) pages resent.*/\1/p')
	harvest_rate=$(grep -a 'dirty log harvest' "$cur-stderr.log" | tail -n 1 |
		sed -n 's/.*harvest \([0-9]*\) entries\/s.*/\1/p')
}

move_qemu() {
	qmp 7 "$cur-qmp.log" "mig-$2" migrate "{\"uri\": \"$3\"}" || return 1
	now_ms
	_limit=$((NOW + MIGRATE_TIMEOUT_S * 1000))
	until grep -aq '"MIGRATION".*"completed"' "$cur-qmp.log"; do
		grep -aq '"MIGRATION".*"failed"' "$cur-qmp.log" && { run_failed "$cur: migration failed"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no completion in ${MIGRATE_TIMEOUT_S}s"; return 1; }
		sleep 0.2
	done
	qmp 7 "$cur-qmp.log" "info-$2" query-migrate || return 1
	echo "$cur: $qmp_line"
	total=$(json_num "$qmp_line" total-time)
	downtime=$(json_num "$qmp_line" downtime)
	_ram=$(echo "$qmp_line" | sed -n 's/.*"ram": *{\([^}]*\)}.*/\1/p')
	# Zero pages: "duplicate", or "zero-pages" in later QEMUs.
	_zero=$(json_num "$_ram" duplicate)
	[ -n "$_zero" ] || _zero=$(json_num "$_ram" zero-pages)
	resent=$(awk -v n="$(json_num "$_ram" normal)" -v d="$_zero" \
		-v t="$(json_num "$_ram" total)" 'BEGIN { r = n + d - t / 4096; print (r < 0 ? 0 : r) }')
	harvest_rate=''
	kill_vm "$cur_pid"
}

# listening URI: a unix socket exists, or a TCP port is bound on 127.0.0.1.
listening() {
	case $1 in
	unix:*) [ -S "${1#unix:}" ] ;;
	tcp:*) _p=${1##*:}; grep -q "^ *[0-9]*: 0100007F:$(printf '%04X' "$_p") 00000000:0000 0A" /proc/net/tcp ;;
	esac
}

# move CONFIG POINT RATE N: migrate cur to a new process of the same VMM.
move() {
	_vmm=${1%%-*} _track=$(track_of "$1") _chan=$(chan_of "$1") _n=$1-$2
	_uri="unix:$PWD/$_n.mig" _in=$_uri _opts=''
	if [ "$_chan" != unix ]; then
		_uri="tcp:127.0.0.1:$((PORT_BASE + $4))" _in=$_uri
		if [ "$_vmm" = tern ]; then
			tern_channel "$_chan" "$4"
			_in=$tern_in _opts=$tern_mig_opts
		fi
	fi
	start_writer "$3" || return 1
	# shellcheck disable=SC2046,SC2086 # word lists
	case $_vmm in
	tern) spawn "$_n" 6 tern_exec "$_track" "$_n" --incoming "$_in" $(tern_src_opts "$_chan") ;;
	qemu) spawn "$_n" 6 qemu_exec "$_track" "$_n" -incoming "$_uri" \
		$([ "$_chan" != tls ] || echo "$QEMU_TLS") ;;
	esac
	next=$_n next_pid=$spawned_pid
	for _ in $(seq 600); do
		listening "$_uri" && break
		sleep 0.1
	done
	listening "$_uri" || { run_failed "$_n never listened on $_uri"; show_logs "$_n-stderr.log"; return 1; }
	echo "== $1 $2 ($3 MiB/s): $(date)"
	"move_$_vmm" "$1" "$2" "$_uri" "$_opts" || return 1
	report "migrate.$1.$2.total_ms" "$total" ms
	report "migrate.$1.$2.downtime_ms" "$downtime" ms
	report "migrate.$1.$2.pages_resent" "$resent" pages
	[ -z "$harvest_rate" ] || report "migrate.$1.$2.harvest_entries_per_s" "$harvest_rate" entries/s
	eval "r_$(echo "$1_$2" | tr - _)=\"$total $downtime\""
	exec 5>&6 6>&- 7>&8 8>&-
	cur=$next cur_pid=$next_pid next='' next_pid=''
	[ "$_vmm" = tern ] || qmp_setup "$1" || return 1
	check_writer "$3"
}

# session CONFIG: boot, then the three moves.
session() {
	_vmm=${1%%-*} _track=$(track_of "$1") _chan=$(chan_of "$1")
	echo "== $1 boot: $(date)"
	# shellcheck disable=SC2046,SC2086 # word lists
	case $_vmm in
	tern) spawn "$1" 5 tern_exec "$_track" "$1" --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "$TERN_CMDLINE" $(tern_src_opts "$_chan") ;;
	qemu) spawn "$1" 5 qemu_exec "$_track" "$1" -kernel "$KERNEL" -initrd "$INITRD" \
		-append "$QEMU_CMDLINE" $([ "$_chan" != tls ] || echo "$QEMU_TLS") ;;
	esac
	cur=$1 cur_pid=$spawned_pid
	wait_ready || return 1
	[ "$_vmm" = tern ] || qmp_setup "$1" || return 1
	_i=0
	for _p in $POINTS; do
		_i=$((_i + 1))
		move "$1" "${_p%%:*}" "${_p#*:}" "$_i" || { show_logs "$cur.log" "$cur-stderr.log"; return 1; }
	done
}

# ---------------------------------------------------------------- runs

qemu_tls_dirs
# shellcheck disable=SC2086 # a list of names
run_sessions $CONFIGS

# ---------------------------------------------------------------- results

report migrate.qemu_version "$qemu_v" -
report migrate.mem_mib "$MEM_MIB" MiB
echo "targets (tern <= QEMU, same tracking kind and channel):"
for track in ring bitmap ring_tcp ring_tls; do
	for p in $POINTS; do
		p=${p%%:*}
		eval "t=\${r_tern_${track}_$p:-} q=\${r_qemu_${track}_$p:-}"
		[ -n "$t" ] && [ -n "$q" ] || continue
		set -- $t $q
		target "migrate.$track.$p.total_ratio" "$(ratio "$1" "$3")" "<=" 1 x
		target "migrate.$track.$p.downtime_ratio" "$(ratio "$2" "$4")" "<=" 1 x
	done
done
[ "$failures" -eq 0 ] || fail "$failures step(s) failed; see the messages above"
