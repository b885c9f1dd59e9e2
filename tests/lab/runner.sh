# The scenario loop shared by the emulated host's init (tests/lab/host-init) and
# by tests/lab/run on a real arm64 host. POSIX sh (busybox sh or dash).
#
#   lab_run_scenarios NAME...
# with TERN, KERNEL, INITRD, LAB (see lib.sh), LAB_SCALE, LAB_WORK (scratch and
# logs) and LAB_DEMO (1 = output straight to the console) in the environment;
# LAB_SCENARIOS is where the scripts are (default $LAB/scenarios), and with
# LAB_BENCH=1 (benchmarks) each script's "BENCH: " lines are printed too.
# Prints, per scenario, the LAB: lines that tests/lab/run parses:
#   LAB: BEGIN name
#   LAB: PASS name (12.3s) | LAB: SKIP name: reason | LAB: FAIL name (exit N[, timed out after Ts])
#   LAB: LOG name BEGIN ... LAB: LOG name END        (after FAIL)
#   LAB: EXIT status                                 (demo mode, instead of the above)
#   BENCH: ...                                       (LAB_BENCH=1, before the verdict)
#   LAB: REPORT name text                            (the scenario's "REPORT: text"
#                                                    lines, before the verdict)
#   LAB: TIME name seconds                           (its wall time, whatever the
#                                                    verdict, before it; not in demo mode)
# In the two-host phase (LAB_ROLE=source|dest, see lib.sh) each of the two
# hosts runs the same names with this same loop; tests/lab/run combines them.

lab_now() { cut -d' ' -f1 /proc/uptime; }

# "# timeout: N" from the scenario's header, scaled; 180 s when absent.
lab_timeout_of() {
	_t=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
	awk -v t="${_t:-180}" -v s="${LAB_SCALE:-1}" 'BEGIN { v = t * s; i = int(v); if (i < v) i++; print (i < 1 ? 1 : i) }'
}

lab_run_one() {
	name=$1
	script=${LAB_SCENARIOS:-$LAB/scenarios}/$name.sh
	echo "LAB: BEGIN $name"
	if [ ! -f "$script" ]; then
		echo "LAB: FAIL $name (exit 127)"
		echo "LAB: LOG $name BEGIN"
		echo "no such scenario: $script"
		echo "LAB: LOG $name END"
		return
	fi
	secs=$(lab_timeout_of "$script")
	dir=$LAB_WORK/$name
	log=$LAB_WORK/$name.log
	rm -rf "$dir" "$log" "$dir.timedout"
	mkdir -p "$dir"
	start=$(lab_now)

	# The scenario gets its own session, so that on timeout (and after it ends)
	# everything it started can be killed as one process group: busybox timeout
	# would only kill the script itself and leave a running tern behind.
	if [ "${LAB_DEMO:-0}" = 1 ]; then
		(cd "$dir" && exec setsid sh "$script") </dev/null &
	else
		(cd "$dir" && exec setsid sh "$script") </dev/null >"$log" 2>&1 &
	fi
	pid=$!
	setsid sh -c "sleep $secs; : >'$dir.timedout'; kill -TERM -$pid; sleep 5; kill -KILL -$pid" \
		</dev/null >/dev/null 2>&1 &
	watchdog=$!
	wait "$pid"
	status=$?
	kill -KILL -"$watchdog" 2>/dev/null
	kill -KILL -"$pid" 2>/dev/null # leftovers of a scenario that ended
	wait "$watchdog" 2>/dev/null
	took=$(awk -v a="$start" -v b="$(lab_now)" 'BEGIN { printf "%.1f", b - a }')

	# A benchmark's results are its "BENCH: " lines; they must reach the caller
	# whatever the verdict, while logs are otherwise shown only on failure.
	if [ "${LAB_BENCH:-0}" = 1 ] && [ "${LAB_DEMO:-0}" != 1 ]; then
		grep '^BENCH: ' "$log"
	fi

	# Numbers worth seeing when a scenario passes (migration times, rates).
	if [ "${LAB_DEMO:-0}" != 1 ]; then
		sed -n "s/^REPORT: /LAB: REPORT $name /p" "$log"
		echo "LAB: TIME $name $took"
	fi

	if [ "${LAB_DEMO:-0}" = 1 ]; then
		echo "LAB: EXIT $status"
	elif [ -e "$dir.timedout" ]; then
		echo "LAB: FAIL $name (exit $status, timed out after ${secs}s)"
		lab_print_log "$name" "$log"
	elif [ "$status" = 0 ]; then
		echo "LAB: PASS $name (${took}s)"
	elif [ "$status" = 77 ]; then
		# The last "SKIP:" line (skip in lib.sh), else the last line.
		_why=$(sed -n 's/^SKIP: //p' "$log" | tail -n 1)
		echo "LAB: SKIP $name: ${_why:-$(tail -n 1 "$log")}"
	else
		echo "LAB: FAIL $name (exit $status)"
		lab_print_log "$name" "$log"
	fi
}

lab_print_log() {
	echo "LAB: LOG $1 BEGIN"
	awk 1 "$2" # awk ends an unterminated last line, keeping END at column 0
	# KVM reports what it refused, or why it marked a VM dead, only here.
	echo "--- host kernel messages (last 30):"
	dmesg 2>/dev/null | tail -n 30
	echo "LAB: LOG $1 END"
}

lab_run_scenarios() {
	for _s in "$@"; do lab_run_one "$_s"; done
}
