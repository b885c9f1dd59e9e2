#!/bin/sh
# Runs kvm-unit-tests' arm64 tests under tern. POSIX sh: busybox sh in the
# lab's emulated host, or the system's sh on an arm64 host with /dev/kvm.
# scripts/kvm-unit-tests stages its input and calls this (directly, or through
# the lab's kvm-unit-tests scenario).
#
#   kut.sh DIR [TEST...]
#     DIR holds unittests.cfg and the *.flat files (from a built tree's arm/).
#     TEST: a test's name or a group's; none = every test not in "nodefault".
# Environment: TERN (the tern binary), KUT_VMM=tern (default), qemu or
# kvmtool (the peers for comparison: QEMU= a qemu-system-aarch64 with KVM;
# KVMTOOL= an arm64 lkvm, with DIR from a tree built --target=kvmtool),
# KUT_MODE=migrate (default) or snapshot
# (each migration replaced by snapshot + quit + --restore), KUT_TIMEOUT_SCALE
# (multiplies each test's timeout, default LAB_SCALE or 1), KUT_MAX_SMP
# ($MAX_SMP in unittests.cfg; default this host's CPUs, at least 4: the ITS
# tests need 4 vCPUs, and KVM runs more vCPUs than host CPUs), KUT_WORK (scratch, default ./kut-work),
# KUT_TERN_OPTS (extra tern options, default "--sandbox kill"), KUT_EXTRA_ARGS
# (words appended to every test's test_args, e.g. micro-bench's mmio-addr=).
#
# Prints one line per test, PASS|FAIL|SKIP name (detail), from the test's
# "EXIT: STATUS=N" line (N = 2*code+1: 1 passed; 77, report_summary()'s
# 77 >> 1 for "all skipped", skipped; anything else failed), then "N passed, N failed, N skipped". Exit status 0
# when nothing failed.
#
# The test's environment (kvm-unit-tests reads KEY=VALUE lines from the
# initrd): ERRATA_<commit>=y for each line of DIR/errata.txt whose fix is in
# this host's kernel (by version), as kvm-unit-tests' own runner does; tests
# that could hang an unfixed host run only with it.
#
# Machine: --kernel-format raw, --cpus from smp (with $MAX_SMP), --memory
# from a "-m N" in qemu_params (else 256M), --cmdline test_args (the test
# reads them from /chosen/bootargs), --pci-testdev (QEMU's test function,
# which kvm-unit-tests' arm/run gives QEMU and pci-test drives). A test asking QEMU for a GICv2 or MTE is
# skipped (tern's GIC is a GICv3; tern does not give a guest MTE);
# disabled_if lines are about the VMM kvm-unit-tests was written for, and all
# of today's say "not QEMU": those tests are skipped, except the migration
# group's (they are off for kvmtool because it cannot migrate; tern can) and
# the pci group's (they need QEMU's pci-testdev; tern has one).
#
# The peers get what kvm-unit-tests' own arm/run gives them. QEMU: virt with
# the host's GIC and CPU, chr-testdev and pci-testdev, qemu_params' memory;
# no disabled_if applies (all say "not QEMU"). kvmtool: "lkvm run
# --nodefaults --network mode=none" with the test's kvmtool_params (--pmu,
# --irqchip=..., --mem); every disabled_if applies, migration's included.

set -u
KUT_DIR=${1:?usage: kut.sh DIR [TEST...]}
shift
MODE=${KUT_MODE:-migrate}
VMM=${KUT_VMM:-tern}
SCALE=${KUT_TIMEOUT_SCALE:-${LAB_SCALE:-1}}
MAX_SMP=${KUT_MAX_SMP:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)}
[ -n "${KUT_MAX_SMP:-}" ] || [ "$MAX_SMP" -ge 4 ] || MAX_SMP=4
WORK=${KUT_WORK:-$PWD/kut-work}
TERN_OPTS=${KUT_TERN_OPTS:---sandbox kill}
US=$(printf '\037')
passed=0 failed=0 skipped=0

mkdir -p "$WORK" || exit 1
WORK=$(cd "$WORK" && pwd)

# unittests.cfg as one record a test, fields separated by \037:
# name file smp test_args qemu_params groups accel arch timeout disabled_if
# kvmtool_params.
# Values lose their surrounding quotes, as the shell's eval does for QEMU.
kut_records() {
	awk -v us="$US" '
	function unq(v) {
		sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
		if (v ~ /^".*"$/ || v ~ /^\047.*\047$/) v = substr(v, 2, length(v) - 2)
		return v
	}
	function flush() {
		if (name != "")
			print name us f["file"] us f["smp"] us f["test_args"] us f["qemu_params"] us \
			      f["groups"] us f["accel"] us f["arch"] us f["timeout"] us f["disabled_if"] us \
			      f["kvmtool_params"]
		name = ""; split("", f)
	}
	/^[ \t]*#/ { next }
	/^\[/ { flush(); name = substr($0, 2, index($0, "]") - 2); next }
	/^[a-z_]+[ \t]*=/ && name != "" {
		k = $0; sub(/[ \t]*=.*/, "", k)
		v = $0; sub(/^[^=]*=/, "", v)
		f[k] = unq(v)
	}
	END { flush() }' "$KUT_DIR/unittests.cfg"
}

# 0 if version $1 (e.g. 7.2.13+deb14-arm64) is at least $2 (e.g. 5.6).
version_ge() {
	awk -v a="${1%%[!0-9.]*}" -v b="$2" 'BEGIN {
		na = split(a, x, "."); nb = split(b, y, ".")
		for (i = 1; i <= (na > nb ? na : nb); i++) {
			if (x[i] + 0 > y[i] + 0) exit 0
			if (x[i] + 0 < y[i] + 0) exit 1
		}
		exit 0 }'
}

# $WORK/env: the ERRATA_ lines for this host's kernel.
make_env() {
	_host=$(uname -r)
	: >"$WORK/env"
	[ -f "$KUT_DIR/errata.txt" ] || return 0
	grep -v '^#' "$KUT_DIR/errata.txt" | tr -d ' \t' | cut -d: -f1,2 |
		while IFS=: read -r _commit _minver; do
			[ -n "$_commit" ] && [ -n "$_minver" ] || continue
			if version_ge "$_host" "$_minver"; then echo "ERRATA_$_commit=y"; fi
		done >"$WORK/env"
}

has_word() { # WORD LIST
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

# Whether the user's TEST... selects this test (by name or group).
selected() { # name groups
	[ $# -ge 2 ] || return 1
	for _w in $SELECT; do
		[ "$_w" = "$1" ] && return 0
		has_word "$_w" "$2" && return 0
	done
	return 1
}

result() { # VERDICT name detail
	verdict=$1
	echo "$1 $2 ($3)"
	case $1 in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	esac
}

# Seconds from "90s", "2m", "90" (default 90, kvm-unit-tests' own), scaled.
timeout_s() {
	_t=${1:-90s}
	case $_t in
	*m) _t=$((${_t%m} * 60)) ;;
	*h) _t=$((${_t%h} * 3600)) ;;
	*s) _t=${_t%s} ;;
	esac
	awk -v t="$_t" -v s="$SCALE" 'BEGIN { v = t * s; i = int(v); if (i < v) i++; print i }'
}

# Why tern cannot run this test as configured, or nothing.
why_skip() { # file qemu_params groups accel arch disabled_if name kvmtool_params
	[ -f "$KUT_DIR/$1" ] || { echo "test file $1 not found"; return; }
	case $5 in "" | arm64) ;; *) echo "$5 only"; return ;; esac
	case $4 in "" | kvm) ;; *) echo "$4 only"; return ;; esac
	# The same tests for every VMM, so that the verdicts compare.
	case "$2 $8" in *gic-version=2* | *irqchip=gicv2*) echo "needs a GICv2; tern's GIC is a GICv3"; return ;; esac
	case $2 in *mte=on*) echo "needs MTE, which tern does not give a guest"; return ;; esac
	if [ -n "$6" ]; then
		case $VMM in
		qemu) ;;
		kvmtool) if has_word migration "$3"; then echo "kvmtool cannot migrate"; else echo "disabled_if: $6"; fi
			return ;;
		# tern migrates, and has QEMU's pci-testdev (--pci-testdev).
		tern) has_word migration "$3" || has_word pci "$3" || { echo "disabled_if: $6"; return; } ;;
		esac
	fi
	if has_word nodefault "$3" && ! selected "$7" "$3"; then
		echo "in group nodefault: name it to run it"
	fi
}

# ---------------------------------------------------------------- one VM process

# Starts VM process number $1, the rest its command: console input from the
# FIFO in.$1 (held open by a sleeping writer, so that each key press is one
# short write and the VMM never sees end of file), output in out.$1.
start_proc() {
	_n=$1
	shift
	rm -f "$T/in.$_n"
	mkfifo "$T/in.$_n"
	sleep 100000 >"$T/in.$_n" &
	echo $! >>"$T/holders"
	"$@" <"$T/in.$_n" >"$T/out.$_n" 2>&1 &
	vm_pid=$!
	vm_pids="$vm_pids $vm_pid"
}

press_key() { echo >"$T/in.$1"; }

# Waits (at most $2 s) for $1 to exist.
wait_path() {
	_i=0
	while [ ! -e "$1" ]; do
		[ $_i -lt $(($2 * 10)) ] || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# Waits at most $2 s for pid $1 to end; its status in $st (124: still running).
wait_pid() {
	_i=0
	while kill -0 "$1" 2>/dev/null; do
		if [ $_i -ge $(($2 * 10)) ]; then st=124; return; fi
		sleep 0.1
		_i=$((_i + 1))
	done
	wait "$1"
	st=$?
}

# --- tern: the machine from tern's options, moves through its control socket.

tern_start() { # N [tern run options...]
	_n=$1
	shift
	# shellcheck disable=SC2086 # TERN_OPTS and MACHINE are words
	start_proc "$_n" "$TERN" run $TERN_OPTS $MACHINE --control "$T/ctl.$_n" "$@"
}

tern_boot() { # file test_args
	# shellcheck disable=SC2086 # ENV_INITRD is words
	tern_start 0 --kernel-format raw --kernel "$KUT_DIR/$1" --cmdline "$2" \
		$ENV_INITRD --snapshot-dir "$T"
}

# Moves the guest from tern $cur to a new tern $1, by live migration or
# snapshot + quit + restore; the log in move.$1. 0 on success.
tern_move() {
	if [ "$MODE" = snapshot ]; then
		"$TERN" ctl "$T/ctl.$cur" snapshot "path=$T/snap.$1" >"$T/move.$1" 2>&1 || return 1
		"$TERN" ctl "$T/ctl.$cur" quit >>"$T/move.$1" 2>&1
		wait_pid "$cur_pid" 60
		[ "$st" = 0 ] || { echo "the source exited $st after quit" >>"$T/move.$1"; return 1; }
		tern_start "$1" --restore "$T/snap.$1" --snapshot-dir "$T"
	else
		tern_start "$1" --incoming "unix:$T/mig.$1"
		wait_path "$T/mig.$1" 60 || { echo "the destination never listened" >"$T/move.$1"; return 1; }
		"$TERN" ctl "$T/ctl.$cur" migrate "uri=unix:$T/mig.$1" >"$T/move.$1" 2>&1 || return 1
		wait_pid "$cur_pid" "$MOVE_TIMEOUT"
		[ "$st" = 0 ] || { echo "the source exited $st" >>"$T/move.$1"; return 1; }
	fi
	wait_path "$T/ctl.$1" 30
}

# --- QEMU (KUT_VMM=qemu, the peer): what kvm-unit-tests' arm/run gives it
# under KVM (virt, the host's GIC and CPU, chr-testdev), its monitor on the
# FIFOs mon.N.in/.out (a pipe chardev), read into mon.N.log.

qemu_start() { # N [qemu options...]
	_n=$1
	shift
	rm -f "$T/mon.$_n.in" "$T/mon.$_n.out"
	mkfifo "$T/mon.$_n.in" "$T/mon.$_n.out"
	cat "$T/mon.$_n.out" >"$T/mon.$_n.log" &
	echo $! >>"$T/holders"
	# shellcheck disable=SC2086 # QEMU_MACHINE is words
	start_proc "$_n" "$QEMU" $QEMU_MACHINE -kernel "$KUT_DIR/$QEMU_FILE" -append "$QEMU_ARGS" \
		${ENV_INITRD:+-initrd "$WORK/env"} -chardev "pipe,id=mon,path=$T/mon.$_n" -mon chardev=mon,mode=readline "$@"
}

qemu_boot() { # file test_args
	QEMU_FILE=$1 QEMU_ARGS=$2
	qemu_start 0
}

qemu_monitor() { # N command
	wait_path "$T/mon.$1.log" 30 && echo "$2" >"$T/mon.$1.in"
}

qemu_move() {
	qemu_start "$1" -incoming "unix:$T/mig.$1"
	wait_path "$T/mig.$1" 60 || { echo "the destination never listened" >"$T/move.$1"; return 1; }
	qemu_monitor "$cur" "migrate -d unix:$T/mig.$1"
	_i=0
	while ! grep -qiE "status:[[:space:]]*completed" "$T/mon.$cur.log"; do
		if grep -qiE "status:[[:space:]]*(failed|cancelled)" "$T/mon.$cur.log" || [ $_i -ge $((MOVE_TIMEOUT * 2)) ]; then
			tail -n 5 "$T/mon.$cur.log" >"$T/move.$1"
			return 1
		fi
		qemu_monitor "$cur" "info migrate"
		sleep 0.5
		_i=$((_i + 1))
	done
	qemu_monitor "$cur" quit
	wait_pid "$cur_pid" 30
}

# --- kvmtool (KUT_VMM=kvmtool, the other peer): lkvm run as kvm-unit-tests'
# arm/run starts it. It keeps its per-VM sockets under $HOME/.lkvm. It cannot
# migrate: why_skip keeps the migration tests from it.

kvmtool_boot() { # file test_args
	# shellcheck disable=SC2086 # KVMTOOL_MACHINE and ENV_INITRD are words
	start_proc 0 env HOME="$T" "$KVMTOOL" run $KVMTOOL_MACHINE --kernel "$KUT_DIR/$1" \
		--params "$2" $ENV_INITRD
}

# --- any

vm_boot() { "${VMM}_boot" "$@"; cur_pid=$vm_pid; }

move_guest() {
	_next=$((cur + 1))
	"${VMM}_move" "$_next" || return 1
	cur=$_next cur_pid=$vm_pid moves=$((moves + 1))
}

said() { grep -qF "$1" "$T/out.$cur" 2>/dev/null; }

# The migration protocol of kvm-unit-tests' lib/migrate.c, with tern $cur
# printing: each "Now migrate the VM" prompt is answered by a move and a key
# on the new tern's console; "Begin continuous migration" by a key, then
# moves until a tern has printed "End continuous migration", then a key;
# "Skipped VM migration" by a key. Returns when the guest has ended; the
# outcome in $st, a failed move's reason in $move_err.
drive_migrations() {
	cont=0 handled_skip=0 move_err=''
	while kill -0 "$cur_pid" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			st=124
			return
		fi
		if [ $cont = 1 ]; then
			_prev=$cur
			move_guest || { move_err=$(tail -n 3 "$T/move.$((cur + 1))"); break; }
			if grep -qF "End continuous migration" "$T/out.$_prev" "$T/out.$cur"; then
				cont=0
				press_key "$cur"
			fi
		elif said "Begin continuous migration"; then
			cont=1
			press_key "$cur"
		elif said "Now migrate the VM"; then
			move_guest || { move_err=$(tail -n 3 "$T/move.$((cur + 1))"); break; }
			press_key "$cur"
		elif [ $handled_skip = 0 ] && said "Skipped VM migration"; then
			handled_skip=1
			press_key "$cur"
		else
			sleep 0.2
		fi
	done
	if [ -n "$move_err" ]; then
		st=1
		return
	fi
	wait_pid "$cur_pid" $((deadline - $(date +%s) + 1))
}

stop_all() {
	for _p in $(cat "$T/holders" 2>/dev/null); do kill "$_p" 2>/dev/null; done
	for _p in $vm_pids; do kill -KILL "$_p" 2>/dev/null; done
	: >"$T/holders"
}

# Runs one test; prints its verdict.
run_test() { # name file smp test_args qemu_params groups timeout kvmtool_params
	name=$1 T=$WORK/$1
	rm -rf "$T"
	mkdir -p "$T"
	cpus=$(($(echo "${3:-1}" | sed "s/\\\$MAX_SMP/$MAX_SMP/g")))
	mem=$(echo "$5" | sed -n 's/.*-m  *\([0-9][0-9]*\).*/\1/p')
	MACHINE="--cpus $cpus --memory ${mem:-256}M --pci-testdev"
	QEMU_MACHINE="-nodefaults -machine virt,gic-version=host -accel kvm -smp $cpus -m ${mem:-256}
		-display none -serial stdio -L /usr/share/qemu -device virtio-serial-device
		-device virtconsole,chardev=ctd -chardev testdev,id=ctd -device pci-testdev"
	KVMTOOL_MACHINE="--nodefaults --network mode=none --loglevel=warning --cpus $cpus $8"
	# kvm-unit-tests' PMU tests need the PMU; elsewhere keep it out (the lab's
	# emulated host has been seen to oops scheduling PMU-owning vCPUs).
	if has_word pmu "$6"; then
		MACHINE="$MACHINE --pmu on" QEMU_MACHINE="$QEMU_MACHINE -cpu host"
	else
		MACHINE="$MACHINE --pmu off" QEMU_MACHINE="$QEMU_MACHINE -cpu host,pmu=off"
	fi
	secs=$(timeout_s "$7")
	MOVE_TIMEOUT=$(timeout_s 120s)
	deadline=$(($(date +%s) + secs))
	cur=0 moves=0 vm_pids=''
	start=$(date +%s)
	vm_boot "$2" "$4${KUT_EXTRA_ARGS:+ $KUT_EXTRA_ARGS}"
	if has_word migration "$6"; then
		drive_migrations
	else
		wait_pid "$cur_pid" "$secs"
	fi
	stop_all
	took=$(($(date +%s) - start))
	cat "$T"/out.* >"$T/all.log" 2>/dev/null
	status=$(sed -n 's/.*EXIT: STATUS=\([0-9][0-9]*\).*/\1/p' "$T/all.log" | head -n 1)
	summary=$(sed -n 's/^SUMMARY: //p' "$T/all.log" | tail -n 1 | tr -d '\r')
	extra="${took}s"
	if [ $moves != 0 ]; then
		if [ "$MODE" = snapshot ]; then extra="$extra, snapshot+restore x$moves"
		else extra="$extra, live migration x$moves"; fi
	fi
	if [ -n "$move_err" ]; then
		result FAIL "$name" "move $((moves + 1)) failed: $(echo "$move_err" | tr '\n' ' ')"
	elif [ "$st" = 124 ]; then
		result FAIL "$name" "timeout after ${secs}s"
	elif [ "$status" = 1 ]; then
		result PASS "$name" "${summary:+$summary; }$extra"
	elif [ "$status" = 77 ]; then
		result SKIP "$name" "${summary:-$(tail -n 1 "$T/all.log")}; $extra"
	elif [ -n "$status" ]; then
		result FAIL "$name" "STATUS=$status${summary:+, $summary}; $extra"
	else
		result FAIL "$name" "no EXIT line; $VMM exited $st: $(grep -v '^$' "$T/all.log" | tail -n 1)"
	fi
	if [ "$verdict" = FAIL ]; then
		# The failed checks, then how the output ended.
		{ grep '^FAIL: ' "$T/all.log" | head -n 5; grep -v '^$' "$T/all.log" | tail -n 4; } |
			sed 's/^/    | /'
	fi
}

# ---------------------------------------------------------------- main

[ -f "$KUT_DIR/unittests.cfg" ] || { echo "kut.sh: no unittests.cfg in $KUT_DIR" >&2; exit 2; }
case $VMM in
tern) [ -x "${TERN:-}" ] || { echo "kut.sh: TERN=${TERN:-} is not an executable tern" >&2; exit 2; } ;;
qemu) [ -x "${QEMU:-}" ] || { echo "kut.sh: QEMU=${QEMU:-} is not an executable QEMU" >&2; exit 2; }
	[ "$MODE" = migrate ] || { echo "kut.sh: KUT_MODE=$MODE is tern's only" >&2; exit 2; } ;;
kvmtool) [ -x "${KVMTOOL:-}" ] || { echo "kut.sh: KVMTOOL=${KVMTOOL:-} is not an executable lkvm" >&2; exit 2; } ;;
*) echo "kut.sh: KUT_VMM=$VMM: tern, qemu or kvmtool" >&2; exit 2 ;;
esac
SELECT="$*"
kut_records >"$WORK/records"
make_env
# An empty environment is no initrd (QEMU refuses an empty file).
ENV_INITRD=''
[ ! -s "$WORK/env" ] || ENV_INITRD="--initrd $WORK/env"
while IFS="$US" read -r name file smp args qparams groups accel arch tmo disabled kparams; do
	if [ -n "$SELECT" ] && ! selected "$name" "$groups"; then
		continue
	fi
	why=$(why_skip "$file" "$qparams" "$groups" "$accel" "$arch" "$disabled" "$name" "$kparams")
	if [ -n "$why" ]; then
		result SKIP "$name" "$why"
		continue
	fi
	move_err='' st=0
	run_test "$name" "$file" "$smp" "$args" "$qparams" "$groups" "$tmo" "$kparams" </dev/null
done <"$WORK/records"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
