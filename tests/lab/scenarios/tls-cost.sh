#!/bin/sh
# What a TLS migration channel costs on this host, apart from tern: the
# kernel's gcm(aes) drivers through AF_ALG (the cipher alone), then TCP on
# 127.0.0.1 plain and in kernel TLS between two processes, with large sends
# (a live round's 1 MiB runs), one-page sends (a dirty round's sparse
# pages, a section each) and tiny ones (zero-run markers), each with and
# without MSG_MORE. Prints MiB/s and CPU per MiB (ktlsbench,
# guest-images/tools); fails only when a measurement could not be made.
# timeout: 900
# by-name-only: a measurement (README, "Migration security"), not a check
. "$LAB/lib.sh"
ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || fail "cannot bring up lo"
grep -q '^tls ' /proc/modules || [ -d /sys/module/tls ] || insmod "$LAB/modules/tls.ko" 2>/dev/null ||
	fail "no kernel TLS: the tls module did not load"
B=$LAB_BIN/ktlsbench
echo "REPORT: host: $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '/^name/ { n = $3 } /^driver/ { d = $3 } /^priority/ && n == "gcm(aes)" { print "REPORT: gcm(aes) driver " d " priority " $3 }' /proc/crypto
run() {
	_out=$("$B" "$@" 2>&1) || fail "ktlsbench $*: $_out"
	echo "REPORT: $_out"
}
# The cipher alone (AF_ALG), where the host has algif_aead (the lab's has
# not: the gap between plain and TLS below is then the whole channel's).
if grep -q '^algif_aead ' /proc/modules 2>/dev/null || [ -d /sys/module/algif_aead ]; then
	run alg "gcm(aes)" 16384 4
fi
run plain 1048608 0 64
run tls 1048608 0 16
run plain 4128 0 32
run tls 4128 0 8
run tls 4128 0 8 more
run plain 48 0 1
run tls 48 0 1
run tls 48 0 1 more
echo "REPORT: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
