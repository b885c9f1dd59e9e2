#!/bin/sh
# --kernel-format raw (issue 15): a flat arm64 binary with no Image header
# (guest-images/raw/hello.S, linked at RAM base + 0x80000) is loaded there and
# entered like an Image: it finds itself at its link address and x0 pointing
# at the device tree, prints that over the UART and powers off through PSCI
# SYSTEM_OFF (exit 0). Without the option the same file is refused as no
# arm64 Image (exit 2): a raw load is only ever explicit.
# timeout: 60
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
RAW=$LAB_BIN/raw-hello
[ -f "$RAW" ] || fail "$RAW missing (guest-images/build makes it)"

# shellcheck disable=SC2086
"$TERN" run $TERN_LAB_OPTS --kernel-format raw --kernel "$RAW" --memory 128M --cmdline "" \
	</dev/null >raw.log 2>&1
status=$?
cat raw.log
expect_status "$status" 0 "the raw binary did not power off through PSCI"
grep -q "tern raw: hello from a flat binary" raw.log || fail "the raw binary printed nothing"
grep -q "running at its link address" raw.log || fail "the raw binary was not loaded at RAM base + 0x80000"
grep -q "x0 points at a device tree" raw.log || fail "x0 did not point at the device tree"
grep -q "EXIT: STATUS=1" raw.log || fail "no EXIT: STATUS=1 line"

# shellcheck disable=SC2086
"$TERN" run $TERN_LAB_OPTS --kernel "$RAW" --memory 128M </dev/null >image.log 2>&1
status=$?
cat image.log
expect_status "$status" 2 "a raw binary without --kernel-format raw must be refused"
grep -q "not an arm64 Linux Image" image.log || fail "the refusal does not say the file is no arm64 Image"
echo "raw-load scenario passed"
