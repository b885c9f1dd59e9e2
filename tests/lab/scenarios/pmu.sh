#!/bin/sh
# --pmu on gives the guest a PMUv3 (KVM_ARM_VCPU_PMU_V3, its PPI, the DT
# node): the guest's perf finds armv8_pmuv3. --pmu off leaves it out. (The
# other scenarios run with --pmu off: see TERN_LAB_OPTS in guest.sh.)
# timeout: 420
. "$LAB/lib.sh"
. "$LAB/guest.sh"
need_tern
trap guest_dump_logs EXIT

COUNT_PMUS='printf "PMU=%s\n" "$(ls /sys/bus/event_source/devices | grep -c armv8_pmuv3)"'

guest_serve --cpus 2 --memory 256M --pmu on
guest_run "$COUNT_PMUS" 60
[ "$(guest_value PMU)" -ge 1 ] || fail "--pmu on: the guest has no armv8_pmuv3 PMU"
guest_poweroff 60
mv tern.log tern-on.log

guest_serve --cpus 1 --memory 256M --pmu off
guest_run "$COUNT_PMUS" 60
[ "$(guest_value PMU)" = 0 ] || fail "--pmu off: the guest still has a PMU ($(guest_value PMU))"
guest_poweroff 60
