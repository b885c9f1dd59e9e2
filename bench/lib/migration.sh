# Helpers shared by the migration benchmarks (bench/migrate.sh,
# bench/postcopy.sh), sourced after common.sh. POSIX sh (busybox).
#
# It sets the machine both VMMs get (CPUS, MEM_MIB: BENCH_MEM_MIB, default
# 1024), the time limits and the guests' command lines; a benchmark sets
# WSET_MIB (the memory verifier's working set) and defines session CONFIG.
# The VMs are tracked in cur/cur_pid/next/next_pid (below).
#
#   tern_exec TRACKING NAME ARGS...  exec tern with the shared machine
#   qemu_exec TRACKING NAME ARGS...  exec QEMU with the shared machine, QMP on NAME-qmp
#   spawn NAME FD CMD...             start CMD: console on FD, QMP on FD + 2
#   kill_vm PID / cleanup            stop one VM / every VM and QMP reader
#   scan_key FILE KEY / wait_ready   read the console / wait for the guest
#   guest_get KEY CMD                run CMD in the current guest, value=KEY's
#   start_writer RATE / check_writer RATE   memverify at RATE MiB/s / its check
#   qmp FD LOG ID COMMAND [ARGS]     one QMP command, qmp_line = its reply
#   json_num JSON KEY                the first numeric "KEY": N in JSON
#   run_sessions CONFIG...           session CONFIG for each, from no VM to none

CPUS=2
MEM_MIB=${BENCH_MEM_MIB:-1024}
BOOT_TIMEOUT_S=$(lab_scaled 300)
RUN_TIMEOUT_S=$(lab_scaled 240)
MIGRATE_TIMEOUT_S=$(lab_scaled 600)
TERN_CMDLINE="console=ttyS0 quiet panic=-1 tern.action=serve"
QEMU_CMDLINE="console=ttyAMA0 quiet panic=-1 tern.action=serve"
CR=$(printf '\r')

# The VM being driven ("cur": console on fd 5, QMP on fd 7) and the incoming
# one ("next": fd 6 and 8). A move makes next the current one.
cur='' cur_pid='' next='' next_pid='' qmp_cats=''

# ---------------------------------------------------------------- processes

# tern_exec TRACKING NAME ARGS...
tern_exec() {
	_t=$1 _c=$2
	shift 2
	exec "$TERN" run --pmu off --cpus "$CPUS" --memory "${MEM_MIB}M" --dirty-tracking "$_t" \
		--control "$_c.sock" "$@"
}

# qemu_exec TRACKING NAME ARGS...
qemu_exec() {
	_accel=kvm _q=$2
	[ "$1" = ring ] && _accel=kvm,dirty-ring-size=4096
	shift 2
	exec "$QEMU" -L "$QEMU_DATA" -accel "$_accel" -M virt,gic-version=3 -cpu host,pmu=off \
		-smp "$CPUS" -m "$MEM_MIB" -nographic -nic none \
		-chardev "pipe,id=qmp,path=$_q-qmp" -mon chardev=qmp,mode=control "$@"
}

# spawn NAME FD CMD...: CMD with stdin NAME.in (held open on FD), console in
# NAME.log, stderr in NAME-stderr.log; for QEMU, its QMP replies in NAME-qmp.log.
# Sets spawned_pid.
spawn() {
	_n=$1 _fd=$2
	shift 2
	rm -f "$_n.in" "$_n.log" "$_n-stderr.log" "$_n-qmp.in" "$_n-qmp.out" "$_n-qmp.log"
	mkfifo "$_n.in" "$_n-qmp.in" "$_n-qmp.out" || fail "mkfifo for $_n"
	"$@" <"$_n.in" >"$_n.log" 2>"$_n-stderr.log" &
	spawned_pid=$!
	eval "exec $_fd>\"\$_n.in\""
	eval "exec $((_fd + 2))<>\"\$_n-qmp.in\""
	cat <>"$_n-qmp.out" >"$_n-qmp.log" &
	qmp_cats="$qmp_cats $!"
}

kill_vm() {
	[ -n "$1" ] || return 0
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	kill_vm "$cur_pid"
	kill_vm "$next_pid"
	for _p in $qmp_cats; do kill "$_p" 2>/dev/null; done
	exec 5>&- 6>&- 7>&- 8>&-
}

# ---------------------------------------------------------------- the guest

# scan_key FILE KEY: key_n = "KEY=value" lines in FILE, key_val the last value;
# ready_n = "TERN-GUEST: ready" lines. Builtins only.
scan_key() {
	key_n=0 key_val='' ready_n=0
	[ -e "$1" ] || return 0
	while IFS= read -r _l; do
		_l=${_l%"$CR"}
		case $_l in
		*"TERN-GUEST: ready") ready_n=$((ready_n + 1)) ;;
		"$2="*) key_n=$((key_n + 1)) key_val=${_l#*=} ;;
		esac
	done <"$1"
}

wait_ready() {
	now_ms
	_limit=$((NOW + BOOT_TIMEOUT_S * 1000))
	while :; do
		scan_key "$cur.log" /
		[ "$ready_n" -eq 0 ] || return 0
		kill -0 "$cur_pid" 2>/dev/null || { run_failed "$cur exited before its guest was ready"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no guest within ${BOOT_TIMEOUT_S}s"; return 1; }
		sleep 0.5
	done
}

# guest_get KEY CMD: runs CMD (printing KEY=value) in the current guest; sets value.
guest_get() {
	scan_key "$cur.log" "$1"
	_n0=$key_n value=''
	printf 'run %s\n' "$2" >&5
	now_ms
	_limit=$((NOW + RUN_TIMEOUT_S * 1000))
	while :; do
		sleep 0.5
		scan_key "$cur.log" "$1"
		if [ "$key_n" -gt "$_n0" ]; then
			value=$key_val
			return 0
		fi
		kill -0 "$cur_pid" 2>/dev/null || { run_failed "$cur exited while its guest ran: $2"; return 1; }
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "$cur: no $1= within ${RUN_TIMEOUT_S}s: $2"; return 1; }
	done
}

# The writer for a point: none at 0 MiB/s, else memverify at that rate, up
# (its first pass over the working set done, its pid file written) and
# dirtying for 3 s before the move starts.
start_writer() {
	guest_get WRITER "if [ -s /tmp/memverify.pid ]; then kill \$(cat /tmp/memverify.pid); rm -f /tmp/memverify.pid; sleep 1; fi; if [ $1 -gt 0 ]; then memverify run $WSET_MIB $1 >/tmp/memverify.err 2>&1 & for i in \$(seq 240); do [ -s /tmp/memverify.pid ] && break; sleep 0.5; done; sleep 3; fi; if [ $1 = 0 ] || [ -s /tmp/memverify.pid ]; then echo WRITER=$1; else cat /tmp/memverify.err; echo WRITER=none; fi" ||
		return 1
	[ "$value" = "$1" ] || { run_failed "$cur: memverify did not start: $(tail -n 3 "$cur.log" | tr -d '\r')"; return 1; }
}

check_writer() {
	[ "$1" -gt 0 ] || return 0
	guest_get VERIFY "memverify check; echo VERIFY=\$?" || return 1
	[ "$value" = 0 ] || { run_failed "$cur: memverify found a stale page after the move: $(grep -a 'memverify: ' "$cur.log" | tail -n 1)"; return 1; }
}

# ---------------------------------------------------------------- QMP

# qmp FD LOG ID COMMAND [ARGS]: one command; qmp_line = its reply.
qmp() {
	if [ -n "${5:-}" ]; then
		printf '{"execute": "%s", "arguments": %s, "id": "%s"}\n' "$4" "$5" "$3" >&"$1"
	else
		printf '{"execute": "%s", "id": "%s"}\n' "$4" "$3" >&"$1"
	fi
	now_ms
	_limit=$((NOW + $(lab_scaled 60) * 1000))
	while :; do
		qmp_line=$(grep -a "\"$3\"" "$2" 2>/dev/null | tail -n 1)
		case $qmp_line in
		*'"return"'*) return 0 ;;
		?*) run_failed "QMP $4: $qmp_line"; return 1 ;;
		esac
		now_ms
		[ "$NOW" -le "$_limit" ] || { run_failed "no reply to QMP $4 in $2"; return 1; }
		sleep 0.1
	done
}

# json_num JSON KEY: the first numeric "KEY": N in JSON.
json_num() { echo "$1" | sed -n "s/.*\"$2\": *\([0-9][0-9]*\).*/\1/p" | head -n 1; }

# ---------------------------------------------------------------- runs

run_sessions() {
	peer_qemu_check
	echo "host: $(nproc) CPUs, $(awk '/MemAvailable/ { print int($2 / 1024) }' /proc/meminfo) MiB available"
	trap cleanup EXIT
	for _c in "$@"; do
		session "$_c" || run_failed "$_c did not complete its migrations"
		cleanup
		cur='' cur_pid='' next='' next_pid='' qmp_cats=''
	done
}
