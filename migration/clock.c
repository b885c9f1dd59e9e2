// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's view of time across a snapshot. The arm64 generic timer's
 * counter is the guest's clock source: a guest restored with a counter that
 * jumped backwards or forwards sees time do so too (timers fire early or
 * late, sched_clock jumps). KVM_ARM_SET_COUNTER_OFFSET sets one VM-wide
 * offset: guest counter = host physical counter - offset, for the virtual
 * and physical views alike (Documentation/virt/kvm/api.rst).
 */
#include <errno.h>
#include <inttypes.h>
#include <time.h>

#include "migration/clock.h"
#include "migration/state.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

static uint64_t host_counter(void)
{
	uint64_t cnt;

	/* Host EL0 reads the physical count here (CNTVOFF is 0 for the host). */
	asm volatile("isb; mrs %0, cntvct_el0" : "=r"(cnt) :: "memory");
	return cnt;
}

static uint64_t counter_freq(void)
{
	uint64_t f;

	asm volatile("mrs %0, cntfrq_el0" : "=r"(f));
	return f;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int clock_save(struct vm *vm, struct state_writer *w)
{
	uint64_t cnt;
	int ret = kvm_get_reg(vm->vcpus[0].fd, KVM_REG_ARM_TIMER_CNT, &cnt);

	if (ret < 0)
		return (int)kvm_report(vm->vcpus[0].name, "KVM_GET_ONE_REG(TIMER_CNT)", ret);
	sw_u64(w, cnt);
	sw_u64(w, realtime_ns());
	sw_u64(w, counter_freq());
	return w->err;
}

static uint64_t target_count(uint64_t cnt, uint64_t saved_ns, uint64_t freq, bool catch_up)
{
	uint64_t now = realtime_ns();
	__uint128_t ticks;

	if (!catch_up || now <= saved_ns)
		return cnt;
	ticks = (__uint128_t)(now - saved_ns) * freq / 1000000000ULL;
	return cnt + (uint64_t)ticks;
}

int clock_restore(struct vm *vm, struct state_reader *r, bool catch_up)
{
	uint64_t cnt = sr_u64(r), saved_ns = sr_u64(r), freq = sr_u64(r);
	struct kvm_arm_counter_offset off = { 0 };
	int ret;

	if (sr_finish(r))
		return r->err;
	if (freq != counter_freq())
		return sr_fail(r, "the snapshot's counter runs at %" PRIu64 " Hz, this host's at "
			       "%" PRIu64 " Hz: the guest's timers would be wrong", freq, counter_freq());
	vm->restore_count = target_count(cnt, saved_ns, freq, catch_up);
	if (!kvm_check_extension(vm->vm_fd, KVM_CAP_COUNTER_OFFSET)) {
		pr_warn("KVM_CAP_COUNTER_OFFSET missing (host kernel 6.4+ has it): the guest "
			"counter is restored by per-vCPU CNT writes and may skew slightly");
		return 0;
	}
	/* Wraps when the guest's counter is ahead of the host's: the offset is
	 * modular, as the hardware's CNTVOFF is. */
	off.counter_offset = host_counter() - vm->restore_count;
	ret = (int)kvm_ioctl_checked("vm", vm->vm_fd, KVM_ARM_SET_COUNTER_OFFSET, &off);
	if (ret < 0)
		return ret;
	vm->counter_offset_set = true;
	vm_trace(vm, "clock: guest counter set to %#" PRIx64 " (%s), VM offset %#llx",
		 vm->restore_count, catch_up ? "wall clock" : "continued",
		 (unsigned long long)off.counter_offset);
	return 0;
}

int clock_restore_fallback(struct vm *vm)
{
	if (vm->counter_offset_set)
		return 0;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int ret = kvm_set_reg(vm->vcpus[i].fd, KVM_REG_ARM_TIMER_CNT, vm->restore_count);

		if (ret < 0)
			return (int)kvm_report(vm->vcpus[i].name, "KVM_SET_ONE_REG(TIMER_CNT)", ret);
	}
	return 0;
}
