// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "migration/state.h"
#include "migration/vcpu_state.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"

/* Largest register KVM has: an SVE Z register at the maximum vector length. */
#define REG_MAX_BYTES	256
/* Far above the ~500 registers of an arm64 vCPU; bounds what a stream may claim. */
#define REG_LIST_MAX	4096

static size_t reg_size(uint64_t id)
{
	return (size_t)1 << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
}

/* KVM_GET_REG_LIST, twice: the first call says how many. */
static int reg_list_get(struct vcpu *vcpu, struct kvm_reg_list **out)
{
	struct kvm_reg_list probe = { .n = 0 }, *list;
	long ret = kvm_ioctl(vcpu->fd, KVM_GET_REG_LIST, &probe);

	if (ret != -E2BIG)
		return (int)kvm_report(vcpu->name, "KVM_GET_REG_LIST", ret ? ret : -EINVAL);
	if (probe.n > REG_LIST_MAX) {
		pr_err("%s: KVM lists %llu registers, more than tern handles (%d)", vcpu->name,
		       (unsigned long long)probe.n, REG_LIST_MAX);
		return -E2BIG;
	}
	list = calloc(1, sizeof(*list) + probe.n * sizeof(list->reg[0]));
	if (!list)
		return -ENOMEM;
	list->n = probe.n;
	ret = kvm_ioctl(vcpu->fd, KVM_GET_REG_LIST, list);
	if (ret < 0) {
		free(list);
		return (int)kvm_report(vcpu->name, "KVM_GET_REG_LIST", ret);
	}
	*out = list;
	return 0;
}

static int one_reg(struct vcpu *vcpu, unsigned long req, uint64_t id, void *val)
{
	struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(unsigned long)val };

	return (int)__kvm_ioctl(vcpu->fd, req, (unsigned long)&reg);
}

static void events_encode(const struct kvm_vcpu_events *ev, struct state_writer *w)
{
	sw_u8(w, ev->exception.serror_pending);
	sw_u8(w, ev->exception.serror_has_esr);
	sw_u8(w, ev->exception.ext_dabt_pending);
	sw_u64(w, ev->exception.serror_esr);
}

static void events_decode(struct kvm_vcpu_events *ev, struct state_reader *r)
{
	memset(ev, 0, sizeof(*ev));
	ev->exception.serror_pending = sr_u8(r);
	ev->exception.serror_has_esr = sr_u8(r);
	ev->exception.ext_dabt_pending = sr_u8(r);
	ev->exception.serror_esr = sr_u64(r);
	if (ev->exception.serror_pending > 1 || ev->exception.serror_has_esr > 1 ||
	    ev->exception.ext_dabt_pending > 1)
		sr_fail(r, "vcpu events: flags must be 0 or 1");
}

int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w)
{
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;
	struct kvm_reg_list *list;
	uint8_t val[REG_MAX_BYTES];
	int ret;

	ret = (int)kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_GET_MP_STATE, &mp);
	if (!ret)
		ret = (int)kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_GET_VCPU_EVENTS, &ev);
	if (!ret)
		ret = reg_list_get(vcpu, &list);
	if (ret)
		return ret;
	sw_u32(w, mp.mp_state);
	events_encode(&ev, w);
	sw_u32(w, (uint32_t)list->n);
	for (uint64_t i = 0; i < list->n; i++) {
		uint64_t id = list->reg[i];

		if (reg_size(id) > sizeof(val)) {
			pr_err("%s: register %#" PRIx64 " is %zu bytes, more than tern handles",
			       vcpu->name, id, reg_size(id));
			ret = -E2BIG;
			break;
		}
		ret = one_reg(vcpu, KVM_GET_ONE_REG, id, val);
		if (ret < 0) {
			pr_err("%s: reading register %#" PRIx64 ": %s", vcpu->name, id, strerror(-ret));
			break;
		}
		sw_u64(w, id);
		sw_bytes(w, val, reg_size(id));
	}
	free(list);
	return ret ? ret : w->err;
}

/* The snapshot's register ids must be this host's list, in its order. */
static int check_reg_id(struct vcpu *vcpu, const struct kvm_reg_list *list, uint64_t i,
			uint64_t id, struct state_reader *r)
{
	if (!sr_ok(r))
		return r->err;
	if (list->reg[i] != id)
		return sr_fail(r, "register %#" PRIx64 " (entry %" PRIu64 ") is not the one this "
			       "host's KVM lists there (%#" PRIx64 "): a different CPU or kernel",
			       id, i, (uint64_t)list->reg[i]);
	return 0;
}

static int load_regs(struct vcpu *vcpu, const struct kvm_reg_list *list, struct state_reader *r)
{
	uint32_t n = sr_u32(r);
	uint8_t val[REG_MAX_BYTES];

	if (sr_ok(r) && n != list->n)
		return sr_fail(r, "%u registers in the snapshot, this host's KVM has %llu", n,
			       (unsigned long long)list->n);
	for (uint64_t i = 0; i < n && sr_ok(r); i++) {
		uint64_t id = sr_u64(r);
		int ret;

		if (check_reg_id(vcpu, list, i, id, r))
			break;
		if (reg_size(id) > sizeof(val))
			return sr_fail(r, "register %#" PRIx64 ": size %zu too large", id, reg_size(id));
		sr_bytes(r, val, reg_size(id));
		if (!sr_ok(r))
			break;
		ret = one_reg(vcpu, KVM_SET_ONE_REG, id, val);
		if (ret < 0)
			return sr_fail(r, "KVM_SET_ONE_REG(%#" PRIx64 "): %s", id, strerror(-ret));
	}
	return r->err;
}

int vcpu_state_load(struct vcpu *vcpu, struct state_reader *r)
{
	struct kvm_mp_state mp = { .mp_state = sr_u32(r) };
	struct kvm_vcpu_events ev;
	struct kvm_reg_list *list;
	int ret;

	events_decode(&ev, r);
	if (sr_ok(r) && mp.mp_state != KVM_MP_STATE_RUNNABLE && mp.mp_state != KVM_MP_STATE_STOPPED &&
	    mp.mp_state != KVM_MP_STATE_SUSPENDED)
		sr_fail(r, "mp_state %u is not one arm64 KVM has", mp.mp_state);
	ret = reg_list_get(vcpu, &list);
	if (ret)
		return ret;
	ret = load_regs(vcpu, list, r);
	free(list);
	if (!ret)
		ret = sr_finish(r);
	if (ret) {
		pr_err("%s: cannot restore its state: %s", vcpu->name, r->msg);
		return ret;
	}
	/* After the registers: KVM_SET_MP_STATE decides whether it runs. */
	ret = (int)kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_SET_MP_STATE, &mp);
	if (!ret)
		ret = (int)kvm_ioctl_checked(vcpu->name, vcpu->fd, KVM_SET_VCPU_EVENTS, &ev);
	return ret;
}
