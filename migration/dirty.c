// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM dirty rings wired to the VM: enabling, mapping, logging on and off,
 * harvesting from the migration thread, and the vCPU side of a full ring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/dirty.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define RAM_SLOT	0

static size_t host_page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

void dirty_log_init(struct dirty_log *dl)
{
	memset(dl, 0, sizeof(*dl));
	pthread_mutex_init(&dl->lock, NULL);
	pthread_cond_init(&dl->cond, NULL);
}

static int enable_cap(int vm_fd, uint32_t cap, uint64_t arg)
{
	struct kvm_enable_cap ec = { .cap = cap, .args = { arg } };

	return (int)kvm_ioctl(vm_fd, KVM_ENABLE_CAP, &ec);
}

/* The ring size KVM accepts: a power of two of bytes, at least a page, at
 * most what the capability reports. */
static uint32_t ring_entries_for(uint32_t want, int max_bytes)
{
	uint32_t max = (uint32_t)max_bytes / sizeof(struct kvm_dirty_gfn);
	uint32_t min = (uint32_t)(host_page_size() / sizeof(struct kvm_dirty_gfn));

	if (want > max)
		want = max;
	return want < min ? min : want;
}

int dirty_log_enable(struct vm *vm, uint32_t entries)
{
	struct dirty_log *dl = &vm->dirty;
	int max_bytes, ret;

	if (!entries) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "dirty rings are off (--dirty-ring 0)");
		return 0;
	}
	/* On a VM fd the capability reports the largest ring in bytes. */
	max_bytes = kvm_check_extension(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	if (max_bytes <= 0) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "KVM_CAP_DIRTY_LOG_RING_ACQ_REL missing: host kernel 6.x needed "
			 "for live migration");
		vm_trace(vm, "dirty rings: %s", dl->unavailable);
		return 0;
	}
	entries = ring_entries_for(entries, max_bytes);
	ret = enable_cap(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
			 (uint64_t)entries * sizeof(struct kvm_dirty_gfn));
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_ENABLE_CAP(DIRTY_LOG_RING_ACQ_REL)", ret);
	/* Without the bitmap, what KVM writes with no vCPU running (ITS and
	 * GIC tables) is recorded nowhere. It must precede any memslot. */
	if (!kvm_check_extension(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP)) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP missing: host kernel 6.x needed "
			 "for live migration");
		return 0;
	}
	ret = enable_cap(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0);
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_ENABLE_CAP(DIRTY_LOG_RING_WITH_BITMAP)", ret);
	dl->with_bitmap = true;
	dl->ring_entries = entries;
	dl->ring_bytes = (size_t)entries * sizeof(struct kvm_dirty_gfn);
	vm_trace(vm, "dirty rings: %u entries per vCPU, with bitmap", entries);
	return 0;
}

int dirty_log_map_rings(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;

	if (!dl->ring_entries)
		return 0;
	dl->rings = calloc(vm->nr_vcpus, sizeof(*dl->rings));
	if (!dl->rings)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		void *p = mmap(NULL, dl->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			       vm->vcpus[i].fd, KVM_DIRTY_LOG_PAGE_OFFSET * host_page_size());

		if (p == MAP_FAILED) {
			pr_err("%s: cannot map its dirty ring: %m", vm->vcpus[i].name);
			return -errno;
		}
		dirty_ring_init(&dl->rings[i], p, dl->ring_entries);
	}
	dl->slot = (struct dirty_slot){ .as_id = 0, .id = RAM_SLOT,
					.npages = vm->ram.size / host_page_size() };
	return dirty_bitmap_init(&dl->collected, dl->slot.npages);
}

void dirty_log_destroy(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;

	for (unsigned int i = 0; dl->rings && i < vm->nr_vcpus; i++)
		if (dl->rings[i].gfns)
			munmap(dl->rings[i].gfns, dl->ring_bytes);
	free(dl->rings);
	dl->rings = NULL;
	dirty_bitmap_free(&dl->collected);
}

static int reset_rings(void *opaque)
{
	struct vm *vm = opaque;

	return (int)kvm_ioctl_val(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
}

static void set_logging(struct dirty_log *dl, bool on)
{
	pthread_mutex_lock(&dl->lock);
	dl->logging = on;
	pthread_cond_broadcast(&dl->cond);
	pthread_mutex_unlock(&dl->lock);
}

int dirty_log_start(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;
	int ret;

	if (!dl->ring_entries)
		return -ENOTSUP;
	dirty_bitmap_clear_all(&dl->collected);
	ret = guest_memory_set_dirty_log(&vm->ram, vm->vm_fd, RAM_SLOT, true);
	if (!ret)
		set_logging(dl, true);
	return ret;
}

void dirty_log_stop(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;
	uint64_t n = 0;

	if (!dl->logging)
		return;
	guest_memory_set_dirty_log(&vm->ram, vm->vm_fd, RAM_SLOT, false);
	/* Recycle what KVM pushed before logging went off, so that no vCPU is
	 * left with a full ring; then nothing more is pushed. */
	dirty_log_harvest(vm, &n);
	set_logging(dl, false);
	dirty_bitmap_clear_all(&dl->collected);
}

int dirty_log_harvest(struct vm *vm, uint64_t *entries)
{
	struct dirty_log *dl = &vm->dirty;
	struct dirty_slots slots = { &dl->slot, 1 };
	uint64_t n = 0;
	int ret;

	ret = dirty_rings_harvest(dl->rings, vm->nr_vcpus, &slots, &dl->collected, &n);
	*entries += n;
	if (ret) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			if (dl->rings[i].err[0])
				pr_err("%s: dirty ring: %s", vm->vcpus[i].name, dl->rings[i].err);
		return ret;
	}
	/* Same thread as the harvest: the RESET stores above are ordered
	 * before the ioctl that relies on them. */
	ret = dirty_rings_reset(dl->rings, vm->nr_vcpus, reset_rings, vm);
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_RESET_DIRTY_RINGS", ret);
	pthread_mutex_lock(&dl->lock);
	dl->reset_gen++;
	pthread_cond_broadcast(&dl->cond);
	pthread_mutex_unlock(&dl->lock);
	return 0;
}

int dirty_log_collect_bitmap(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;
	size_t words = (dl->slot.npages + 63) / 64;
	uint64_t *bits = calloc(words, sizeof(*bits));
	struct kvm_dirty_log log = { .slot = RAM_SLOT, .dirty_bitmap = bits };
	long ret;

	if (!bits)
		return -ENOMEM;
	ret = kvm_ioctl_checked("vm", vm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	for (size_t i = 0; !ret && i < words; i++)
		dl->collected.words[i] |= bits[i];
	free(bits);
	return (int)ret;
}

bool dirty_log_has_waiters(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;
	bool waiting;

	pthread_mutex_lock(&dl->lock);
	waiting = dl->waiters > 0;
	pthread_mutex_unlock(&dl->lock);
	return waiting;
}

void dirty_log_wait_harvest(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct dirty_log *dl = &vm->dirty;
	uint64_t gen;

	pthread_mutex_lock(&dl->lock);
	gen = dl->reset_gen;
	dl->waiters++;
	pthread_cond_broadcast(&dl->cond);
	/* A pause must not wait for a harvest that the pausing thread (the
	 * migration thread, in its final stage) would do only after it. */
	while (dl->reset_gen == gen && dl->logging && vm_stop_reason(vm) == VM_RUNNING &&
	       !atomic_load(&vm->pause_requested))
		pthread_cond_wait(&dl->cond, &dl->lock);
	dl->waiters--;
	pthread_mutex_unlock(&dl->lock);
}

void dirty_log_wake(struct vm *vm)
{
	struct dirty_log *dl = &vm->dirty;

	pthread_mutex_lock(&dl->lock);
	pthread_cond_broadcast(&dl->cond);
	pthread_mutex_unlock(&dl->lock);
}
