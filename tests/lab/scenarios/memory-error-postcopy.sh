#!/bin/sh
# A memory error on the destination of a post-copy migration, while it still
# fetches pages (issue 18). There guest RAM is registered with userfaultfd,
# and replacing the poisoned page must neither leave a hole that faults to a
# source which no longer has anything for it, nor let a late page from the
# source land on it. With anon RAM the page is mapped anew (MAP_FIXED), a
# mapping userfaultfd does not watch; the source's copy of that page arrived
# already (the guest read it), so nothing is placed there after.
# memvictim (guest-images/tools/memvictim.c) takes a page on the source, the
# VM moves with postcopy=true and a post-copy bandwidth cap that keeps the
# destination fetching for tens of seconds, the page is poisoned on the
# destination and touched there before post-copy completes; memvictim dies
# of SIGBUS, the guest takes the freed page again and finds it healthy,
# post-copy completes, the memory verifier passes.
# Then the same again, onward to a destination whose RAM is a memfd (the
# guest's second memory error): there the poisoned page is punched out of the
# file and out of tern's mapping, which userfaultfd still watches, so the
# guest's next use of it is a userfaultfd fault on a page that arrived
# already, answered with a zero page (migration/postcopy_incoming.c).
# timeout: 900
# poisons-host-memory: runs after the other scenarios (tests/lab/run)
. "$LAB/lib.sh"
. "$LAB/guest.sh"
. "$LAB/migrate.sh"
need_tern
need_root
trap 'guest_dump_logs' EXIT

guest_serve --cpus 1 --memory 256M --control ctl.sock
memverify_start 64 16
verifier_passes "before any migration"

# One move to a destination with RAM backend $2, named $1; memvictim's page
# poisoned and touched there during post-copy.
move_and_poison() {
	memvictim_start
	uri="unix:$PWD/$1.mig"
	dest_listen "$1" "$uri" --cpus 1 --memory "256M,backend=$2" --control "$1.sock" \
		--allow-fault-injection
	migrate "$uri" postcopy=true max_postcopy_bandwidth=1
	# The source exits only once post-copy completes: poison and touch
	# the page while the destination still fetches.
	wait_for "$1-stderr.log" "RAM registered with userfaultfd" 300
	src_pid=$tern_pid
	switch_to_dest "$1"
	grep -q "post-copy completed" tern-stderr.log &&
		fail "post-copy completed before the page was poisoned; nothing tested ($1)"
	poison_page ctl.sock "$victim_pa"
	memvictim_touch
	memory_error_contained "$2" "memory error: external data abort injected"
	# Replaced while RAM was still registered with userfaultfd.
	awk '/is replaced by a zeroed one/ && !r { r = NR } /post-copy completed/ && !c { c = NR }
		END { exit !(r && (!c || r < c)) }' tern-stderr.log ||
		fail "the page was not replaced before post-copy completed; nothing tested ($1)"
	tern_pid=$src_pid
	wait_source_exit 300
	tern_pid=$dest_pid
	expect_status "$status" 0 "the source did not exit 0 after post-copy $1"
	grep "completed: total" "tern-src-$1-stderr.log" ||
		fail "no final report from the source of post-copy $1"
	wait_for tern-stderr.log "post-copy completed" 300
	grep "post-copy completed" tern-stderr.log
	echo "REPORT: $1: the page at $victim_pa poisoned, delivered and replaced on the $2 destination during post-copy; $(grep -o "post-copy completed.*" tern-stderr.log | head -n 1)"
	# The replaced page's zeros and the guest's later pattern there stand:
	# no page from the source landed on it after.
	verifier_passes "after post-copy $1 with a replaced page"
	guest_answers "$1"
}

move_and_poison pcpoison-anon anon
move_and_poison pcpoison-memfd memfd
guest_poweroff 120
echo "memory-error-postcopy passed"
