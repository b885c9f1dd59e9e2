#!/bin/sh
# Several disks and nics at once: the guest finds each disk with its own size
# and mode and each nic with its own MAC; a bad device option is refused with
# a message before any guest runs.
# timeout: 300
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
need_tun
trap 'guest_dump_logs; del_tap tap1; del_tap tap2' EXIT

# A disk that does not exist: tern names it and stops before booting.
"$TERN" run --kernel "$KERNEL" --initrd "$INITRD" --disk path=missing.img </dev/null >bad.log 2>&1
_rc=$?
cat bad.log
[ "$_rc" != 0 ] || fail "tern accepted a missing disk"
grep -q "missing.img" bad.log || fail "the error does not name the missing disk"

dd if=/dev/zero of=a.img bs=1M count=8 2>/dev/null
dd if=/dev/zero of=b.img bs=1M count=24 2>/dev/null
make_tap tap1 198.18.1.1/24
make_tap tap2 198.18.2.1/24

guest_serve --cpus 2 --memory 256M --disk path=a.img --disk path=b.img,readonly=on \
	--net tap=tap1 --net tap=tap2,mac=52:54:00:aa:bb:cc
guest_run 'for d in vda vdb; do echo "$d=$(cat /sys/block/$d/size):$(cat /sys/block/$d/ro)"; done' 60
[ "$(guest_value vda)" = "16384:0" ] || fail "vda is '$(guest_value vda)', expected 16384 sectors, rw"
[ "$(guest_value vdb)" = "49152:1" ] || fail "vdb is '$(guest_value vdb)', expected 49152 sectors, ro"
guest_run 'for n in /sys/class/net/eth*; do echo "$(basename $n)=$(cat $n/address)"; done' 60
macs=$(guest_log | grep -E '^eth[0-9]+=' | cut -d= -f2 | sort | tr '\n' ' ')
[ "$macs" = "52:54:00:12:34:56 52:54:00:aa:bb:cc " ] ||
	fail "the guest's nics have MACs '$macs', expected 52:54:00:12:34:56 and 52:54:00:aa:bb:cc"
guest_poweroff 60
