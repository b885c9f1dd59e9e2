#!/bin/sh
# Four vCPUs, 1 GiB: every secondary comes up through PSCI CPU_ON, the guest
# sees 4 CPUs and about 1 GiB, powers off, tern exits 0.
# timeout: 360
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
boot_and_check 4 1024
