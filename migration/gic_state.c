// SPDX-License-Identifier: GPL-2.0-only
/*
 * vGICv3 register state through KVM's device attributes
 * (Documentation/virt/kvm/devices/arm-vgic-v3.rst). Save and restore walk
 * one list of registers, built from the VM's shape, in restore order; the
 * stream must carry exactly that list, so a snapshot of a different GIC
 * (more SPIs, other vCPUs) is refused instead of half-applied.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/gic_state.h"
#include "migration/its.h"
#include "migration/state.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* Distributor (GICD_*) and redistributor SGI-frame (GICR_*) offsets. */
#define GICD_CTLR		0x0000
#define GICD_IIDR		0x0008
#define GICD_IGROUPR		0x0080
#define GICD_ISENABLER		0x0100
#define GICD_ISPENDR		0x0200
#define GICD_ISACTIVER		0x0300
#define GICD_IPRIORITYR		0x0400
#define GICD_ICFGR		0x0c00
#define GICD_IROUTER		0x6000
#define GICR_CTLR		0x0000
#define GICR_PROPBASER		0x0070
#define GICR_PENDBASER		0x0078
#define GICR_SGI		0x10000	/* the SGI frame: same layout as GICD for INTIDs 0-31 */

/* ICC_* system registers: op0, op1, CRn, CRm, op2 as KVM's attr encodes them. */
#define ICC(op1, crn, crm, op2)	((3u << 14) | ((op1) << 11) | ((crn) << 7) | ((crm) << 3) | (op2))
#define ICC_PMR_EL1		ICC(0, 4, 6, 0)
#define ICC_BPR0_EL1		ICC(0, 12, 8, 3)
#define ICC_AP0R_EL1(n)		ICC(0, 12, 8, 4 + (n))
#define ICC_AP1R_EL1(n)		ICC(0, 12, 9, (n))
#define ICC_BPR1_EL1		ICC(0, 12, 12, 3)
#define ICC_CTLR_EL1		ICC(0, 12, 12, 4)
#define ICC_SRE_EL1		ICC(0, 12, 12, 5)
#define ICC_IGRPEN0_EL1		ICC(0, 12, 12, 6)
#define ICC_IGRPEN1_EL1		ICC(0, 12, 12, 7)
#define ICC_CTLR_PRIBITS(v)	((((v) >> 8) & 7) + 1)

struct gic_reg {
	uint32_t group;		/* KVM_DEV_ARM_VGIC_GRP_* */
	uint64_t attr;
};

struct gic_plan {
	struct gic_reg *regs;
	size_t nr;
	size_t cap;
	int err;
};

static void plan_add(struct gic_plan *p, uint32_t group, uint64_t attr)
{
	if (p->err)
		return;
	if (p->nr == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		struct gic_reg *r = realloc(p->regs, cap * sizeof(*r));

		if (!r) {
			p->err = -ENOMEM;
			return;
		}
		p->regs = r;
		p->cap = cap;
	}
	p->regs[p->nr++] = (struct gic_reg){ group, attr };
}

/* The attr's CPU field: MPIDR's affinity levels packed Aff3.Aff2.Aff1.Aff0. */
static uint64_t cpu_field(const struct vcpu *vcpu)
{
	uint64_t aff = ((vcpu->mpidr >> 8) & 0xff000000) | (vcpu->mpidr & 0xffffff);

	return aff << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

/* One register bank of one bit per interrupt, for INTIDs [first, end). */
static void plan_bits(struct gic_plan *p, uint32_t group, uint64_t cpu, uint32_t base,
		      unsigned int bits, unsigned int first, unsigned int end)
{
	unsigned int per_reg = 32 / bits;

	for (unsigned int intid = first; intid < end; intid += per_reg)
		plan_add(p, group, cpu | (base + intid / per_reg * 4));
}

/* What a bank of private interrupts (SGI frame) or of SPIs holds, in the
 * order KVM wants it back: configuration, then state, enables last. */
static void plan_irq_bank(struct gic_plan *p, uint32_t group, uint64_t cpu, uint32_t base,
			  unsigned int first, unsigned int end)
{
	plan_bits(p, group, cpu, base + GICD_IGROUPR, 1, first, end);
	plan_bits(p, group, cpu, base + GICD_IPRIORITYR, 8, first, end);
	plan_bits(p, group, cpu, base + GICD_ICFGR, 2, first, end);
}

static void plan_irq_state(struct gic_plan *p, uint32_t group, uint64_t cpu, uint32_t base,
			   unsigned int first, unsigned int end)
{
	plan_bits(p, group, cpu, base + GICD_ISPENDR, 1, first, end);
	plan_bits(p, group, cpu, base + GICD_ISACTIVER, 1, first, end);
	plan_bits(p, group, cpu, base + GICD_ISENABLER, 1, first, end);
}

static void plan_spis(struct gic_plan *p, unsigned int nr_irqs)
{
	const uint32_t dist = KVM_DEV_ARM_VGIC_GRP_DIST_REGS;

	plan_irq_bank(p, dist, 0, 0, 32, nr_irqs);
	/* IROUTER is 64 bits; KVM takes it as two 32-bit halves. */
	for (unsigned int intid = 32; intid < nr_irqs; intid++) {
		plan_add(p, dist, GICD_IROUTER + 8 * intid);
		plan_add(p, dist, GICD_IROUTER + 8 * intid + 4);
	}
	/* Line levels before pending state: a level interrupt's pending bit
	 * is its line OR its latch. */
	for (unsigned int intid = 32; intid < nr_irqs; intid += 32)
		plan_add(p, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO,
			 ((uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT) |
			 intid);
	plan_irq_state(p, dist, 0, 0, 32, nr_irqs);
}

static void plan_cpu_interface(struct gic_plan *p, uint64_t cpu, unsigned int pri_bits)
{
	const uint32_t sys = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
	/* Active-priority registers: one per 32 preemption levels. */
	unsigned int nr_apr = pri_bits >= 5 ? 1u << (pri_bits - 5) : 1;

	plan_add(p, sys, cpu | ICC_CTLR_EL1);
	plan_add(p, sys, cpu | ICC_SRE_EL1);
	plan_add(p, sys, cpu | ICC_PMR_EL1);
	plan_add(p, sys, cpu | ICC_BPR0_EL1);
	plan_add(p, sys, cpu | ICC_BPR1_EL1);
	for (unsigned int i = 0; i < nr_apr && i < 4; i++) {
		plan_add(p, sys, cpu | ICC_AP0R_EL1(i));
		plan_add(p, sys, cpu | ICC_AP1R_EL1(i));
	}
	plan_add(p, sys, cpu | ICC_IGRPEN0_EL1);
	plan_add(p, sys, cpu | ICC_IGRPEN1_EL1);
}

static int read_pri_bits(struct vm *vm, unsigned int *pri_bits)
{
	uint64_t ctlr;
	int ret = kvm_device_get_attr(vm->gic.vgic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
				      cpu_field(&vm->vcpus[0]) | ICC_CTLR_EL1, &ctlr);

	if (ret < 0)
		return (int)kvm_report("vGICv3", "KVM_GET_DEVICE_ATTR(ICC_CTLR_EL1)", ret);
	*pri_bits = ICC_CTLR_PRIBITS(ctlr);
	return 0;
}

/* The registers, in restore order. */
static int plan_build(struct vm *vm, struct gic_plan *p)
{
	const uint32_t redist = KVM_DEV_ARM_VGIC_GRP_REDIST_REGS;
	unsigned int pri_bits = 0;
	int ret = read_pri_bits(vm, &pri_bits);

	if (ret)
		return ret;
	*p = (struct gic_plan){ 0 };
	/* IIDR first: the revision it names changes how KVM treats the rest. */
	plan_add(p, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, GICD_IIDR);
	plan_add(p, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, GICD_CTLR);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		uint64_t cpu = cpu_field(&vm->vcpus[i]);

		plan_add(p, redist, cpu | GICR_PROPBASER);
		plan_add(p, redist, cpu | (GICR_PROPBASER + 4));
		plan_add(p, redist, cpu | GICR_PENDBASER);
		plan_add(p, redist, cpu | (GICR_PENDBASER + 4));
		plan_irq_bank(p, redist, cpu, GICR_SGI, 0, 32);
		plan_irq_state(p, redist, cpu, GICR_SGI, 0, 32);
	}
	plan_spis(p, vm->gic.nr_irqs);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		plan_cpu_interface(p, cpu_field(&vm->vcpus[i]), pri_bits);
	/* GICR_CTLR last: EnableLPIs reads the tables PROPBASER/PENDBASER
	 * name, and those registers are fixed once LPIs are on. */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		plan_add(p, redist, cpu_field(&vm->vcpus[i]) | GICR_CTLR);
	if (p->err)
		free(p->regs);
	return p->err;
}

/* CPU system registers are 64 bits wide; everything else here is 32. */
static int reg_access(struct vm *vm, const struct gic_reg *reg, uint64_t *val, bool write)
{
	struct kvm_device_attr a = { .group = reg->group, .attr = reg->attr };
	uint32_t v32 = (uint32_t)*val;
	bool wide = reg->group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS;
	long ret;

	a.addr = wide ? (uint64_t)(unsigned long)val : (uint64_t)(unsigned long)&v32;
	ret = write ? kvm_ioctl(vm->gic.vgic_fd, KVM_SET_DEVICE_ATTR, &a)
		    : kvm_ioctl(vm->gic.vgic_fd, KVM_GET_DEVICE_ATTR, &a);
	if (!write && !wide)
		*val = v32;
	return (int)ret;
}

static void report_reg(const struct gic_reg *reg, const char *what, int ret)
{
	pr_err("vGICv3: %s group %u attr %#" PRIx64 ": %s", what, reg->group, reg->attr,
	       strerror(-ret));
}

int gic_state_save(struct vm *vm, struct state_writer *w)
{
	struct gic_plan p;
	int ret = plan_build(vm, &p);

	if (ret)
		return ret;
	sw_u32(w, (uint32_t)p.nr);
	for (size_t i = 0; i < p.nr; i++) {
		uint64_t val = 0;

		ret = reg_access(vm, &p.regs[i], &val, false);
		if (ret < 0) {
			report_reg(&p.regs[i], "reading", ret);
			break;
		}
		sw_u32(w, p.regs[i].group);
		sw_u64(w, p.regs[i].attr);
		sw_u64(w, val);
	}
	free(p.regs);
	return ret ? ret : w->err;
}

static int restore_regs(struct vm *vm, const struct gic_plan *p, struct state_reader *r)
{
	uint32_t n = sr_u32(r);

	if (sr_ok(r) && n != p->nr)
		return sr_fail(r, "the snapshot's GIC has %u registers, this VM's %zu: "
			       "different vCPUs or interrupt count", n, p->nr);
	for (size_t i = 0; i < p->nr && sr_ok(r); i++) {
		const struct gic_reg *reg = &p->regs[i];
		uint32_t group = sr_u32(r);
		uint64_t attr = sr_u64(r), val = sr_u64(r);
		int ret;

		if (!sr_ok(r))
			break;
		if (group != reg->group || attr != reg->attr)
			return sr_fail(r, "GIC register %zu is group %u attr %#" PRIx64
				       ", expected group %u attr %#" PRIx64, i, group, attr,
				       reg->group, reg->attr);
		if (reg->group != KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS && val > UINT32_MAX)
			return sr_fail(r, "GIC register attr %#" PRIx64 ": value %#" PRIx64
				       " does not fit its 32 bits", attr, val);
		ret = reg_access(vm, reg, &val, true);
		if (ret < 0)
			return sr_fail(r, "restoring group %u attr %#" PRIx64 " = %#" PRIx64 ": %s",
				       group, attr, val, strerror(-ret));
	}
	return sr_finish(r);
}

int gic_state_restore(struct vm *vm, struct state_reader *r)
{
	struct gic_plan p;
	int ret = plan_build(vm, &p);

	if (ret)
		return ret;
	ret = restore_regs(vm, &p, r);
	free(p.regs);
	if (ret)
		pr_err("vGICv3: cannot restore its state: %s", r->msg);
	else
		vm_trace(vm, "gic: %zu registers restored, GICD_IIDR first, GICR_CTLR last", p.nr);
	return ret;
}

/* its_ops over the ITS's KVM device: 64-bit registers, CTRL commands. */
static int its_get(void *ctx, uint32_t off, uint64_t *val)
{
	return kvm_device_get_attr(*(int *)ctx, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, off, val);
}

static int its_set(void *ctx, uint32_t off, uint64_t val)
{
	return kvm_device_set_attr(*(int *)ctx, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, off, &val);
}

static int its_save_tables(void *ctx)
{
	return kvm_device_set_attr(*(int *)ctx, KVM_DEV_ARM_VGIC_GRP_CTRL,
				   KVM_DEV_ARM_ITS_SAVE_TABLES, NULL);
}

static int its_restore_tables(void *ctx)
{
	return kvm_device_set_attr(*(int *)ctx, KVM_DEV_ARM_VGIC_GRP_CTRL,
				   KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL);
}

static struct its_ops its_ops_for(struct vm *vm)
{
	return (struct its_ops){ its_get, its_set, its_save_tables, its_restore_tables,
				 &vm->gic.its_fd };
}

int gic_save_tables(struct vm *vm, struct state_writer *its_out, char *err, size_t errlen)
{
	struct its_ops ops = its_ops_for(vm);
	struct its_state st;
	int ret;

	ret = kvm_device_set_attr(vm->gic.vgic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
				  KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES: %s", strerror(-ret));
		return ret;
	}
	ret = its_save(&ops, &st, err, errlen);
	if (ret)
		return ret;
	its_state_encode(&st, its_out);
	return its_out->err;
}

int gic_its_restore(struct vm *vm, struct state_reader *r)
{
	struct its_ops ops = its_ops_for(vm);
	struct its_state st;
	char err[256];
	int ret = its_state_decode(&st, r);

	if (ret) {
		pr_err("ITS: cannot restore its state: %s", r->msg);
		return ret;
	}
	ret = its_restore(&ops, &st, err, sizeof(err));
	if (ret)
		pr_err("ITS: %s", err);
	else
		vm_trace(vm, "its: restored (IIDR, CBASER, CREADR, CWRITER, BASER0-7, RESTORE_TABLES, CTLR)");
	return ret;
}
