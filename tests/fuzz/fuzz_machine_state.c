// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the loaders of a snapshot's or a migration's VCPU and
 * GIC sections (migration/vcpu_state.c, migration/gic_state.c): the payload
 * a peer sends, applied to a VM whose KVM is faked at the vmm/kvm.h seam.
 *
 * Input: a control block, then the payload.
 *   byte 0  bit 0: 0 VCPU, 1 GIC;
 *           bit 1 (VCPU): the fake KVM lists the payload's own register ids
 *           (so that loads get past the id checks), else a fixed short list
 *   byte 1  the Nth KVM call fails with EINVAL (0: none)
 *   byte 2  GIC: vCPUs, 1 + (b & 7)
 *   byte 3  GIC: interrupts, 32 * (1 + b % 32)
 *   byte 4  GIC: priority bits, 1 + (b & 7) (ICC_CTLR_EL1.PRIbits)
 * Besides the sanitizers it checks what reaches KVM: a register is set only
 * if KVM listed it; a VCPU's MP state and events only after all its
 * registers, of a load that succeeds, and only an MP state arm64 KVM has;
 * of the GIC's registers GICD_IIDR is the first written and, when the load
 * succeeds, a GICR_CTLR the last; every refusal has a message.
 *
 * Seeds: tests/fuzz/corpus/machine_state/, the VCPU and GIC sections of the
 * lab snapshot in corpus/stream (make-machine-state-seeds).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/gic_state.h"
#include "migration/state.h"
#include "migration/vcpu_state.h"
#include "vmm/kvm.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONTROL_BYTES	5
#define MAX_VCPUS	8
#define MAX_LISTED	4096

#define GICD_IIDR	0x0008
#define GICR_CTLR	0x0000

/* ---- the fake KVM ---- */

static struct {
	uint64_t listed[MAX_LISTED];	/* KVM_GET_REG_LIST's answer */
	uint64_t nr_listed;
	unsigned int calls, fail_at;
	uint64_t icc_ctlr;
	bool regs_set, state_set;	/* VCPU: registers, then MP state/events */
	unsigned int writes;		/* GIC: registers written */
	uint32_t last_group;
	uint64_t last_attr;
} fake;

static bool fails(void)
{
	return ++fake.calls == fake.fail_at;
}

static bool listed(uint64_t id)
{
	for (uint64_t i = 0; i < fake.nr_listed; i++)
		if (fake.listed[i] == id)
			return true;
	return false;
}

static long reg_list(struct kvm_reg_list *list)
{
	uint64_t room = list->n;

	list->n = fake.nr_listed;
	if (room < fake.nr_listed)
		return -E2BIG;
	memcpy(list->reg, fake.listed, fake.nr_listed * sizeof(list->reg[0]));
	return 0;
}

static void gic_written(const struct kvm_device_attr *a)
{
	if (!fake.writes++)
		check(a->group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS && a->attr == GICD_IIDR);
	fake.last_group = a->group;
	fake.last_attr = a->attr;
}

long __kvm_ioctl(int fd, unsigned long req, unsigned long arg)
{
	if (fails())
		return -EINVAL;
	switch (req) {
	case KVM_GET_REG_LIST:
		return reg_list((struct kvm_reg_list *)arg);
	case KVM_SET_ONE_REG:
		check(!fake.state_set && listed(((struct kvm_one_reg *)arg)->id));
		fake.regs_set = true;
		return 0;
	case KVM_SET_MP_STATE: {
		uint32_t mp = ((struct kvm_mp_state *)arg)->mp_state;

		check(mp == KVM_MP_STATE_RUNNABLE || mp == KVM_MP_STATE_STOPPED ||
		      mp == KVM_MP_STATE_SUSPENDED);
		fake.state_set = true;
		return 0;
	}
	case KVM_SET_VCPU_EVENTS:
		check(fake.state_set);
		return 0;
	case KVM_SET_DEVICE_ATTR:
		gic_written((const struct kvm_device_attr *)arg);
		return 0;
	default:
		return 0;
	}
}

long kvm_report(const char *obj, const char *req, long ret)
{
	return ret;
}

int kvm_device_get_attr(int fd, uint32_t group, uint64_t attr, void *val)
{
	if (fails())
		return -EINVAL;
	*(uint64_t *)val = group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS ? fake.icc_ctlr : 0;
	return 0;
}

/* The ITS's registers (gic_its_restore): not reached from here. */
int kvm_device_set_attr(int fd, uint32_t group, uint64_t attr, void *val)
{
	return fails() ? -EINVAL : 0;
}

void vm_trace(const struct vm *vm, const char *fmt, ...)
{
}

/* ---- the target ---- */

/* The payload's register ids, as far as it has them: what KVM lists. */
static void list_payload_ids(const uint8_t *p, size_t len)
{
	struct state_reader r;
	uint32_t n;

	sr_init(&r, p, len);
	sr_u32(&r);				/* mp_state */
	sr_u8(&r), sr_u8(&r), sr_u8(&r);	/* events */
	sr_u64(&r);
	n = sr_u32(&r);
	for (uint32_t i = 0; i < n && sr_ok(&r) && fake.nr_listed < MAX_LISTED; i++) {
		uint64_t id = sr_u64(&r);
		size_t size = (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);

		if (!sr_ok(&r) || size > 256)
			break;
		fake.listed[fake.nr_listed++] = id;
		sr_view(&r, size);
	}
}

static void load_vcpu(const uint8_t *ctl, const uint8_t *p, size_t len)
{
	static const uint64_t fixed[] = {
		KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | 0,
		KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE | 0x44,
		KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_CORE | 0x84,
	};
	struct vcpu vcpu = { .name = "vcpu 0", .fd = -1 };
	struct state_reader r;
	int ret;

	if (ctl[0] & 2) {
		list_payload_ids(p, len);
	} else {
		memcpy(fake.listed, fixed, sizeof(fixed));
		fake.nr_listed = sizeof(fixed) / sizeof(fixed[0]);
	}
	sr_init(&r, p, len);
	ret = vcpu_state_load(&vcpu, &r);
	check(ret <= 0);
	check(!r.err || r.msg[0]);
	/* The state goes in only after every register, and only if all did. */
	check(!fake.state_set || !r.err);
}

static void load_gic(const uint8_t *ctl, const uint8_t *p, size_t len)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	struct state_reader r;
	int ret;

	if (!vm)
		return;
	vm->nr_vcpus = 1 + (ctl[2] & 7);
	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(vm);
		return;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].mpidr = 0x80000000u | i;
	}
	vm->gic.vgic_fd = vm->gic.its_fd = -1;
	vm->gic.nr_irqs = 32 * (1 + ctl[3] % 32);
	fake.icc_ctlr = (uint64_t)(ctl[4] & 7) << 8;
	sr_init(&r, p, len);
	ret = gic_state_restore(vm, &r);
	check(ret <= 0);
	check(!r.err || r.msg[0]);
	/* Redistributors' control registers last: after them, nothing. */
	if (!ret)
		check(fake.last_group == KVM_DEV_ARM_VGIC_GRP_REDIST_REGS &&
		      (fake.last_attr & 0xffffffff) == GICR_CTLR);
	free(vm->vcpus);
	free(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < CONTROL_BYTES)
		return 0;
	memset(&fake, 0, sizeof(fake));
	fake.fail_at = data[1];
	if (data[0] & 1)
		load_gic(data, data + CONTROL_BYTES, size - CONTROL_BYTES);
	else
		load_vcpu(data, data + CONTROL_BYTES, size - CONTROL_BYTES);
	return 0;
}
