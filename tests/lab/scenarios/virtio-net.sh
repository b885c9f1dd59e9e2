#!/bin/sh
# virtio-net on a tap: the host's tap0 is 198.18.0.1/24, the guest's card
# 198.18.0.2/24 with the MAC given on the command line. Pings both ways, then
# the guest sends an 8 MiB deterministic stream (blkpattern stream) over TCP to
# busybox nc on the host, which checks every byte.
# timeout: 600
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_tun
BP=$LAB_BIN/blkpattern
[ -x "$BP" ] || fail "no host-side blkpattern at $BP"
TAP=tap0 HOST_IP=198.18.0.1 GUEST_IP=198.18.0.2 MAC=52:54:00:12:34:56 PORT=5001
SIZE=8388608

del_tap "$TAP"
make_tap "$TAP" "$HOST_IP/24"
trap 'del_tap "$TAP"; guest_dump_logs' EXIT

guest_serve --cpus 2 --memory 256M --net "tap=$TAP,mac=$MAC"
guest_run 'dev=$(ls /sys/class/net | grep -v "^lo$" | head -n 1); printf "NET-DEV=%s\n" "$dev"; printf "NET-MAC=%s\n" "$(cat /sys/class/net/$dev/address)"' 60
dev=$(guest_value NET-DEV)
[ -n "$dev" ] || fail "the guest has no network interface"
[ "$(guest_value NET-MAC)" = "$MAC" ] || fail "the guest's $dev has MAC $(guest_value NET-MAC), expected $MAC"
# Checksum and TSO offloads both ways were negotiated (virtio-net feature bits
# 0 CSUM, 1 GUEST_CSUM, 7 GUEST_TSO4, 11 HOST_TSO4), so the transfer below
# runs through GSO frames in both directions of the tap.
guest_run 'printf "NET-FEATURES=%s\n" "$(cat /sys/class/net/'"$dev"'/device/features)"' 60
feat=$(guest_value NET-FEATURES)
for bit in 0 1 7 11; do
	[ "$(printf '%s' "$feat" | cut -c$((bit + 1)))" = 1 ] ||
		fail "virtio-net feature bit $bit not negotiated (features $feat)"
done
guest_run "ip link set $dev up && ip addr add $GUEST_IP/24 dev $dev" 60
expect_status "$run_rc" 0 "cannot configure $dev in the guest"
guest_run "ping -c 3 -W 5 $HOST_IP" 120
expect_status "$run_rc" 0 "the guest cannot ping the host"
ping -c 3 -W 5 "$GUEST_IP"
expect_status "$?" 0 "the host cannot ping the guest"

# Bulk: nc's stdin is a FIFO held open, else it would shut the connection's
# sending side at once (stdin EOF) and the guest's nc would stop.
mkfifo nc.in
nc -l -p "$PORT" <nc.in >recv.bin &
nc_pid=$!
exec 5>nc.in
sleep 1
guest_run "blkpattern stream 11 $SIZE | nc $HOST_IP $PORT" 300
expect_status "$run_rc" 0 "the guest's nc failed"
guest_sum=$(pattern_sum tern.log "stream stdout")
_end=$(($(date +%s) + $(lab_scaled 60)))
while kill -0 "$nc_pid" 2>/dev/null; do
	[ "$(date +%s)" -lt "$_end" ] || fail "the host's nc did not see the end of the stream"
	sleep 0.2
done
exec 5>&-
"$BP" verify recv.bin 11 "$SIZE" >recv.txt
_rc=$?
cat recv.txt
expect_status "$_rc" 0 "the host did not receive the guest's stream intact ($(wc -c <recv.bin) bytes)"
host_sum=$(pattern_sum recv.txt "verify recv.bin")
[ -n "$guest_sum" ] && [ "$guest_sum" = "$host_sum" ] ||
	fail "checksums differ: guest sent ${guest_sum:-none}, host got ${host_sum:-none}"
guest_poweroff 60
