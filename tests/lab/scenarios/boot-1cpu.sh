#!/bin/sh
# One vCPU, 256 MiB: the guest sees exactly that, powers off, tern exits 0.
# timeout: 240
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
boot_and_check 1 256
