#!/bin/sh
# Checks the hardening meson.build asks for on the built tern binary:
#   check-binary.sh TERN READELF OBJDUMP static-pie|pie
# - static-pie: an ELF of type DYN (position-independent, so its load address
#   is randomised) with no program interpreter (nothing loaded at run time);
#   pie: type DYN;
# - stack canaries: __stack_chk_fail is linked in and called from tern's code;
# - _FORTIFY_SOURCE: checked variants (__*_chk) of libc calls are called;
# - -mbranch-protection=standard: tern's own functions sign their return
#   address (paciasp/autiasp) and start with BTI landing pads (bti c, or
#   paciasp, which is one).
# The GNU property note that turns BTI enforcement on for the whole binary is
# reported, not required: the linker sets it only when every object has it,
# and Debian's static libc.a (and liburing.a, libz.a...) is not built with
# branch protection.
set -eu
tern=$1 readelf=$2 objdump=$3 kind=$4
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

[ -f "$tern" ] || { echo "FAIL: no binary at $tern"; exit 1; }

type=$("$readelf" -h "$tern" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
[ "$type" = DYN ] || fail "ELF type is '$type', not DYN: not position-independent"
if [ "$kind" = static-pie ]; then
	! "$readelf" -l "$tern" | grep -q INTERP || fail "has a program interpreter: not static"
	"$readelf" -d "$tern" | grep -q NEEDED && fail "needs shared libraries: not static"
fi
echo "ELF type $type ($kind)"

syms=$("$readelf" -Ws "$tern")
echo "$syms" | grep -q ' __stack_chk_fail$' || fail "no __stack_chk_fail: no stack protector"
chk=$(echo "$syms" | grep -Eo ' __[a-z_]+_chk$' | sort -u | tr -d ' ' | tr '\n' ' ')
nchk=$(echo "$chk" | wc -w)
[ "$nchk" -ge 5 ] || fail "only $nchk fortified libc functions linked ($chk): _FORTIFY_SOURCE off?"
echo "fortified libc functions linked: $nchk ($chk)"

# tern's own code: the text of a few of its functions.
disasm=$("$objdump" -d --no-show-raw-insn "$tern")
for fn in main vm_pause console_open snapshot_save log_ratelimited; do
	body=$(echo "$disasm" | awk -v f="<$fn>:" '$2 == f { on = 1; next } on && /^$/ { exit } on')
	[ -n "$body" ] || { fail "function $fn not found"; continue; }
	# paciasp is itself a landing pad for BTI (Arm ARM: PACIASP is compatible
	# with BTYPE 01/10/11); a function that signs nothing starts with bti c.
	echo "$body" | head -n 1 | grep -qE 'bti|paciasp|pacibsp' ||
		fail "$fn does not start with a BTI landing pad"
	echo "$body" | grep -qE 'paciasp|pacibsp' || fail "$fn does not sign its return address (PAC)"
done
# snapshot_save keeps a path buffer on its stack: -fstack-protector-strong
# guards it (libc.a's own calls alone do not pass this).
echo "$disasm" | awk '$2 == "<snapshot_save>:" { on = 1; next } on && /^$/ { exit } on' |
	grep -q '__stack_chk_fail' || fail "snapshot_save has no stack canary check"
calls=$(echo "$disasm" | grep -c 'bl.*<__stack_chk_fail' || :)
[ "$calls" -ge 10 ] || fail "__stack_chk_fail called from $calls places only"
pac=$(echo "$disasm" | grep -cE '\s(paciasp|pacibsp)$' || :)
echo "stack-protector checks: $calls; functions signing their return address: $pac"

note=$("$readelf" -n "$tern" | grep -i 'AArch64 feature' || :)
echo "GNU property note: ${note:-none (not every linked object has BTI/PAC; see the header)}"

[ "$fails" -eq 0 ] || exit 1
echo "hardening: all checks passed"
