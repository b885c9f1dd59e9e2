/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DIRTY_RING_H
#define TERN_DIRTY_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

/*
 * Harvesting KVM's per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
 * Documentation/virt/kvm/api.rst 8.29) into one dirty bitmap per memslot,
 * for live migration. Pure logic over memory: the caller maps each vCPU's
 * ring (KVM_DIRTY_LOG_PAGE_OFFSET) and issues KVM_RESET_DIRTY_RINGS through
 * a callback, so everything here is unit-testable without KVM.
 *
 * An entry's life: 00 (free) -> 01 (DIRTY, written by KVM) -> RESET (we
 * harvested it) -> 00 (KVM recycled it in KVM_RESET_DIRTY_RINGS).
 *
 * Threads: one harvester thread owns every struct dirty_ring and every
 * bitmap, and is the one that calls dirty_rings_reset() (see there). A vCPU
 * thread that exits with KVM_EXIT_DIRTY_RING_FULL asks the harvester; it
 * never harvests its own ring behind the harvester's back.
 */

/* Entries KVM keeps free before it makes a vCPU exit with
 * KVM_EXIT_DIRTY_RING_FULL (the kernel's KVM_DIRTY_RING_RSVD_ENTRIES; arm64
 * adds nothing to it). */
#define DIRTY_RING_RSVD_ENTRIES	64
/* Largest ring accepted, so that a harvest count always fits in an int. */
#define DIRTY_RING_MAX_ENTRIES	(1u << 30)

#define DIRTY_RING_ERR_MAX	160

/* ---- dirty bitmap: one bit per page of one memslot ---- */

struct dirty_bitmap {
	uint64_t *words;	/* bit p of words[p / 64] = page p; bits past
				 * nr_pages stay zero */
	uint64_t nr_pages;
};

/* All pages clean. -ENOMEM. */
int dirty_bitmap_init(struct dirty_bitmap *bm, uint64_t nr_pages);
void dirty_bitmap_free(struct dirty_bitmap *bm);
/* 1 if @page was clean, 0 if already dirty, -ERANGE past the end. */
int dirty_bitmap_set(struct dirty_bitmap *bm, uint64_t page);
/* False past the end. */
bool dirty_bitmap_test(const struct dirty_bitmap *bm, uint64_t page);
/* Ignored past the end. */
void dirty_bitmap_clear(struct dirty_bitmap *bm, uint64_t page);
void dirty_bitmap_clear_all(struct dirty_bitmap *bm);
uint64_t dirty_bitmap_count(const struct dirty_bitmap *bm);
/* First dirty (clean) page at or after @from; nr_pages if there is none.
 * A run of dirty pages is [next(from), next_clean(next(from))). */
uint64_t dirty_bitmap_next(const struct dirty_bitmap *bm, uint64_t from);
uint64_t dirty_bitmap_next_clean(const struct dirty_bitmap *bm, uint64_t from);
/* First page at or after @from dirty in @bm and clean in @except (ignored
 * unless of the same size); nr_pages if there is none. */
uint64_t dirty_bitmap_next_except(const struct dirty_bitmap *bm, const struct dirty_bitmap *except,
				  uint64_t from);

#define dirty_bitmap_for_each(page, bm)					\
	for ((page) = dirty_bitmap_next((bm), 0); (page) < (bm)->nr_pages;	\
	     (page) = dirty_bitmap_next((bm), (page) + 1))

/*
 * Starts a migration round: @round receives everything @bm has collected
 * (its old contents are dropped) and @bm starts again from clean. Swaps the
 * words instead of copying them. Both must have the same nr_pages (-EINVAL).
 */
int dirty_bitmap_take(struct dirty_bitmap *bm, struct dirty_bitmap *round);

/* ---- KVM_CLEAR_DIRTY_LOG ranges ---- */

/* KVM_CLEAR_DIRTY_LOG takes ranges whose first page is a multiple of 64,
 * and so is their length, unless they end at the end of the slot
 * (Documentation/virt/kvm/api.rst, KVM_CLEAR_DIRTY_LOG). */
#define DIRTY_CLEAR_ALIGN	64

struct dirty_range {
	uint64_t first;		/* a multiple of DIRTY_CLEAR_ALIGN */
	uint64_t count;		/* one too, unless first + count == nr_pages */
};

/*
 * The next range of @bm to hand to one KVM_CLEAR_DIRTY_LOG, looking at pages
 * @from on: it starts at the aligned group of 64 pages that holds the first
 * dirty page, spans at most @max pages, and ends with the last group within
 * them that holds a dirty page (or at the end of the slot). Clean stretches
 * before and after are left out, so a sparse bitmap costs few pages of
 * ioctl, and @max bounds how long KVM holds its MMU lock in one call.
 * Returns 1 with the range in *@r, 0 when no page from @from on is dirty
 * (@from >= nr_pages included), -EINVAL if @from or @max (non-zero) is not
 * a multiple of DIRTY_CLEAR_ALIGN. The next call starts at r->first +
 * r->count.
 */
int dirty_bitmap_clear_range(const struct dirty_bitmap *bm, uint64_t from, uint64_t max,
			     struct dirty_range *r);

/* ---- the memslots a ring entry may name ---- */

struct dirty_slot {
	uint16_t as_id;		/* address space (arm64 has only 0) */
	uint16_t id;		/* memslot id */
	uint64_t npages;
};

/* slot[i] is recorded in maps[i] of dirty_ring_harvest(). */
struct dirty_slots {
	const struct dirty_slot *slot;
	unsigned int nr;
};

/* Index of the slot named by a kvm_dirty_gfn's slot field (as_id << 16 |
 * id), or -ENOENT. */
int dirty_slots_find(const struct dirty_slots *slots, uint32_t kvm_slot);

/* ---- one vCPU's ring ---- */

struct dirty_ring {
	struct kvm_dirty_gfn *gfns;	/* the vCPU's mmap'd ring */
	uint32_t nr_entries;		/* power of two */
	uint32_t fetch;			/* next entry to harvest, free-running
					 * (entry fetch & (nr_entries - 1)) */
	uint32_t harvested;		/* since the last KVM_RESET_DIRTY_RINGS */
	uint64_t total;			/* harvested since init */
	char err[DIRTY_RING_ERR_MAX];	/* why the last call failed */
};

/* -EINVAL unless @nr_entries is a power of two <= DIRTY_RING_MAX_ENTRIES. */
int dirty_ring_init(struct dirty_ring *ring, struct kvm_dirty_gfn *gfns, uint32_t nr_entries);

/*
 * Collects, from the ring's own fetch index, every entry KVM has published
 * as DIRTY, in order, up to the first one that is not: sets the page's bit
 * in maps[i] for the slot slots->slot[i] it names, and hands the entry back
 * marked RESET. At most one lap of the ring per call.
 *
 * Returns how many entries it harvested (also in *@harvested, if not NULL).
 * An entry that names no known slot, a page past its slot's end, or carries
 * RESET already is not touched: the harvest stops there with -EBADMSG (the
 * entries before it are harvested and counted in *@harvested; ring->err
 * names the entry). -EINVAL if a bitmap's size differs from its slot's.
 */
int dirty_ring_harvest(struct dirty_ring *ring, const struct dirty_slots *slots,
		       struct dirty_bitmap *maps, uint32_t *harvested);

/*
 * True when the entries harvested but not yet recycled alone reach KVM's
 * soft limit: the vCPU keeps exiting with KVM_EXIT_DIRTY_RING_FULL until
 * dirty_rings_reset() runs. (A lower bound: KVM also counts entries it has
 * pushed that we have not harvested yet.)
 */
bool dirty_ring_soft_full(const struct dirty_ring *ring);

/* ---- handing harvested entries back ---- */

/* KVM_RESET_DIRTY_RINGS on the VM in tern: the number of entries recycled
 * over all rings, or -errno. */
typedef int (*dirty_rings_reset_fn)(void *opaque);

/* dirty_ring_harvest() over @rings[0..nr) in order, adding up in
 * *@harvested; stops at the first failure (which rings[i].err explains).
 * 0 or that failure. */
int dirty_rings_harvest(struct dirty_ring *rings, unsigned int nr,
			const struct dirty_slots *slots, struct dirty_bitmap *maps,
			uint64_t *harvested);

/*
 * Has KVM recycle what dirty_rings_harvest() collected: calls @reset once if
 * any ring holds harvested entries. Must run on the harvesting thread, after
 * the harvest, and before the harvested pages are read (KVM re-protects them
 * in the reset). @rings must be every ring of the VM in vCPU index order:
 * KVM resets them all, in that order.
 * Returns @reset's count (0 without a call), which is taken off the rings'
 * harvested counts, or its -errno, leaving them as they were. Either way,
 * entries still counted as harvested (a signal can stop KVM part way) get
 * recycled by calling again.
 */
int dirty_rings_reset(struct dirty_ring *rings, unsigned int nr, dirty_rings_reset_fn reset,
		      void *opaque);

#endif
