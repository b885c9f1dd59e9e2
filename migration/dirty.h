/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DIRTY_H
#define TERN_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include "migration/dirty_ring.h"
#include "vmm/written_log.h"
#include "vmm/config.h"

struct vm;

/*
 * Dirty page tracking of the VM's RAM slot, for live migration, in one of
 * two ways (--dirty-tracking):
 *
 * ring: KVM's per-vCPU dirty rings (Documentation/virt/kvm/api.rst,
 * KVM_CAP_DIRTY_LOG_RING), with the ring's backup bitmap (KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP)
 * for what KVM writes with no vCPU running. The rings are enabled when the
 * VM is built (KVM only allows it before the first vCPU). One thread, the
 * migration thread, harvests and resets (dirty_ring.h says why). A vCPU
 * whose ring is full waits in the run state (runstate_wait_harvest) until
 * that thread has recycled the entries.
 *
 * bitmap: the slot's dirty bitmap with manual re-protection
 * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): KVM_GET_DIRTY_LOG reads it,
 * KVM_CLEAR_DIRTY_LOG clears and write-protects exactly the pages read.
 * No rings, so no vCPU ever waits for a harvest. This is not the ring
 * mode's backup bitmap: that one is only read at the very end.
 *
 * Either way logging itself is switched on for a migration only, and the
 * migration code sees the same calls below.
 */
struct dirty_log {
	enum dirty_tracking mode;
	bool available;			/* tracking is set up: migration possible */
	char unavailable[160];		/* why not, when !available */
	struct dirty_slot slot;		/* the RAM memslot */
	struct dirty_bitmap collected;	/* harvested, not yet taken by a round */
	struct written_log written;	/* pages tern's devices wrote (KVM cannot see) */

	/* ring tracking */
	uint32_t ring_entries;		/* per vCPU */
	bool with_bitmap;		/* KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP on */
	struct dirty_ring *rings;	/* one per vCPU, in vCPU order */
	size_t ring_bytes;

	/* bitmap tracking */
	uint64_t manual_flags;		/* KVM_DIRTY_LOG_* enabled */
	struct dirty_bitmap fetched;	/* the last KVM_GET_DIRTY_LOG */

	bool logging;			/* KVM_MEM_LOG_DIRTY_PAGES is on; migration thread */
};

/* Right after KVM_CREATE_VM, before any vCPU and memslot: for @mode ring,
 * the rings of @ring_entries (0: none) and their backup bitmap; for bitmap,
 * manual re-protection. A host without them leaves dl->available false and
 * the reason in dl->unavailable: the VM runs, only migration is refused. */
int dirty_log_enable(struct vm *vm, enum dirty_tracking mode, uint32_t ring_entries);
/* After vcpus_create: maps each vCPU's ring, sizes the bitmaps to the RAM
 * slot. */
int dirty_log_attach(struct vm *vm);
void dirty_log_destroy(struct vm *vm);
/* "ring" or "bitmap". */
const char *dirty_log_mode_name(const struct dirty_log *dl);

/* Logging on (re-registers the RAM slot with KVM_MEM_LOG_DIRTY_PAGES) and
 * off again; off also drops whatever was collected. -errno. */
int dirty_log_start(struct vm *vm);
void dirty_log_stop(struct vm *vm);

/* Collects what was dirtied since the last harvest into dl->collected and
 * has KVM re-protect those pages, so that a later write is logged again.
 * ring: every ring is harvested, its entries recycled, and vCPUs waiting on
 * a full ring woken (runstate_harvested); bitmap: KVM_GET_DIRTY_LOG, then KVM_CLEAR_DIRTY_LOG of
 * exactly what it returned. Adds the ring entries or dirty pages seen to
 * *@entries. Migration thread only, before the pages are read. -errno. */
int dirty_log_harvest(struct vm *vm, uint64_t *entries);
/* The last collection, VM paused, after KVM wrote the ITS and GIC tables,
 * or'ed into dl->collected. ring: KVM_GET_DIRTY_LOG of the backup bitmap
 * (the pages KVM itself wrote with no vCPU running); bitmap: one more
 * harvest. -errno. */
int dirty_log_collect_bitmap(struct vm *vm);

#endif
