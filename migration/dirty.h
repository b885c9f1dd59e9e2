/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DIRTY_H
#define TERN_DIRTY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/dirty_ring.h"

struct vm;
struct vcpu;

#define DIRTY_RING_DEFAULT_ENTRIES	4096

/*
 * Dirty page tracking of the VM's RAM slot through KVM's per-vCPU dirty
 * rings (shared/notes/kvm-arm64.md, "Dirty ring"). The rings are enabled
 * when the VM is built (KVM only allows it before the first vCPU); logging
 * itself is switched on for a migration only.
 *
 * One thread, the migration thread, harvests and resets (dirty_ring.h says
 * why). A vCPU whose ring is full waits in dirty_log_wait_harvest() until
 * that thread has recycled the entries.
 */
struct dirty_log {
	uint32_t ring_entries;		/* per vCPU; 0: no rings on this VM */
	char unavailable[160];		/* why not, when ring_entries is 0 */
	bool with_bitmap;		/* KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP on */
	struct dirty_ring *rings;	/* one per vCPU, in vCPU order */
	size_t ring_bytes;
	struct dirty_slot slot;		/* the RAM memslot */
	struct dirty_bitmap collected;	/* harvested, not yet taken by a round */
	_Atomic uint64_t ring_full_exits; /* KVM_EXIT_DIRTY_RING_FULL, for status */

	pthread_mutex_t lock;		/* protects what follows */
	pthread_cond_t cond;		/* reset_gen, logging, waiters change */
	bool logging;			/* KVM_MEM_LOG_DIRTY_PAGES is on */
	unsigned int waiters;		/* vCPUs waiting for a reset */
	uint64_t reset_gen;		/* bumped after each KVM_RESET_DIRTY_RINGS */
};

void dirty_log_init(struct dirty_log *dl);
/* Right after KVM_CREATE_VM, before any vCPU and memslot: the rings, then
 * the backup bitmap. A host without them leaves ring_entries at 0 and the
 * reason in dl->unavailable: the VM runs, only migration is refused. */
int dirty_log_enable(struct vm *vm, uint32_t entries);
/* After vcpus_create: maps each vCPU's ring. */
int dirty_log_map_rings(struct vm *vm);
void dirty_log_destroy(struct vm *vm);

/* Logging on (re-registers the RAM slot with KVM_MEM_LOG_DIRTY_PAGES) and
 * off again; off also drops whatever was collected. -errno. */
int dirty_log_start(struct vm *vm);
void dirty_log_stop(struct vm *vm);

/* Harvests every ring into dl->collected, then has KVM recycle the entries
 * (re-protecting the pages) and wakes vCPUs waiting on a full ring. Adds
 * the number of entries to *@entries. Migration thread only. -errno. */
int dirty_log_harvest(struct vm *vm, uint64_t *entries);
/* KVM_GET_DIRTY_LOG of the slot, or'ed into dl->collected: the pages KVM
 * itself wrote with no vCPU running (ITS and GIC tables). -errno. */
int dirty_log_collect_bitmap(struct vm *vm);
/* True while a vCPU waits for a harvest. */
bool dirty_log_has_waiters(struct vm *vm);

/* vCPU thread, on KVM_EXIT_DIRTY_RING_FULL: waits until the harvester has
 * reset the rings, logging is off, a pause is requested or the VM stops. */
void dirty_log_wait_harvest(struct vcpu *vcpu);
/* Wakes vCPUs in dirty_log_wait_harvest() to look at the VM's state again
 * (a pause or a stop was requested). */
void dirty_log_wake(struct vm *vm);

#endif
