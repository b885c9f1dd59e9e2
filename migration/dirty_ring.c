// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dirty ring harvester: see dirty_ring.h. The memory-ordering rules come
 * from Documentation/virt/kvm/api.rst (KVM_CAP_DIRTY_LOG_RING_ACQ_REL) and
 * virt/kvm/dirty_ring.c, the kernel side of the same handshake.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/dirty_ring.h"

/* ---- dirty bitmap ---- */

static uint64_t bitmap_words(uint64_t nr_pages)
{
	return nr_pages / 64 + (nr_pages % 64 != 0);
}

int dirty_bitmap_init(struct dirty_bitmap *bm, uint64_t nr_pages)
{
	uint64_t n = bitmap_words(nr_pages);

	/* At least one word, so that words is never NULL for a valid bitmap. */
	bm->words = calloc(n ? n : 1, sizeof(*bm->words));
	bm->nr_pages = bm->words ? nr_pages : 0;
	return bm->words ? 0 : -ENOMEM;
}

void dirty_bitmap_free(struct dirty_bitmap *bm)
{
	free(bm->words);
	bm->words = NULL;
	bm->nr_pages = 0;
}

int dirty_bitmap_set(struct dirty_bitmap *bm, uint64_t page)
{
	uint64_t bit = 1ULL << (page % 64);
	uint64_t *w;

	if (page >= bm->nr_pages)
		return -ERANGE;
	w = &bm->words[page / 64];
	if (*w & bit)
		return 0;
	*w |= bit;
	return 1;
}

bool dirty_bitmap_test(const struct dirty_bitmap *bm, uint64_t page)
{
	return page < bm->nr_pages && (bm->words[page / 64] >> (page % 64)) & 1;
}

void dirty_bitmap_clear(struct dirty_bitmap *bm, uint64_t page)
{
	if (page < bm->nr_pages)
		bm->words[page / 64] &= ~(1ULL << (page % 64));
}

void dirty_bitmap_clear_all(struct dirty_bitmap *bm)
{
	memset(bm->words, 0, bitmap_words(bm->nr_pages) * sizeof(*bm->words));
}

uint64_t dirty_bitmap_count(const struct dirty_bitmap *bm)
{
	uint64_t n = bitmap_words(bm->nr_pages), count = 0;

	for (uint64_t i = 0; i < n; i++)
		count += (uint64_t)__builtin_popcountll(bm->words[i]);
	return count;
}

/* First set bit at or after @from in the words XORed with @invert (0 finds
 * dirty pages, ~0 clean ones) and cleared where @minus (if not NULL, of
 * the same size) is set; nr_pages if none. */
static uint64_t bitmap_find(const struct dirty_bitmap *bm, const struct dirty_bitmap *minus,
			    uint64_t from, uint64_t invert)
{
	uint64_t n = bitmap_words(bm->nr_pages), i = from / 64, w, page;

	if (from >= bm->nr_pages)
		return bm->nr_pages;
	w = (bm->words[i] ^ invert) & (~0ULL << (from % 64));
	while (!(w &= minus ? ~minus->words[i] : ~0ULL)) {
		if (++i == n)
			return bm->nr_pages;
		w = bm->words[i] ^ invert;
	}
	page = i * 64 + (uint64_t)__builtin_ctzll(w);
	/* Inverted, the zero bits past nr_pages read as clean pages. */
	return page < bm->nr_pages ? page : bm->nr_pages;
}

uint64_t dirty_bitmap_next(const struct dirty_bitmap *bm, uint64_t from)
{
	return bitmap_find(bm, NULL, from, 0);
}

uint64_t dirty_bitmap_next_clean(const struct dirty_bitmap *bm, uint64_t from)
{
	return bitmap_find(bm, NULL, from, ~0ULL);
}

uint64_t dirty_bitmap_next_except(const struct dirty_bitmap *bm, const struct dirty_bitmap *except,
				  uint64_t from)
{
	/* A mismatch ignores @except: a page too many sent is harmless. */
	return bitmap_find(bm, except->nr_pages == bm->nr_pages ? except : NULL, from, 0);
}

int dirty_bitmap_take(struct dirty_bitmap *bm, struct dirty_bitmap *round)
{
	uint64_t *words;

	if (bm->nr_pages != round->nr_pages)
		return -EINVAL;
	words = round->words;
	round->words = bm->words;
	bm->words = words;
	dirty_bitmap_clear_all(bm);
	return 0;
}

/* ---- KVM_CLEAR_DIRTY_LOG ranges ---- */

static uint64_t align_down(uint64_t page)
{
	return page - page % DIRTY_CLEAR_ALIGN;
}

int dirty_bitmap_clear_range(const struct dirty_bitmap *bm, uint64_t from, uint64_t max,
			     struct dirty_range *r)
{
	uint64_t first, limit, w;

	if (from >= bm->nr_pages)
		return 0;
	if (from % DIRTY_CLEAR_ALIGN || !max || max % DIRTY_CLEAR_ALIGN)
		return -EINVAL;
	first = dirty_bitmap_next(bm, from);
	if (first == bm->nr_pages)
		return 0;
	first = align_down(first);
	limit = max < bm->nr_pages - first ? first + max : bm->nr_pages;
	/* Back from the limit to the last word with a dirty page; the word of
	 * @first has one, so this stops there at the latest. */
	for (w = (limit - 1) / 64; !bm->words[w]; w--)
		;
	r->first = first;
	r->count = ((w + 1) * 64 < bm->nr_pages ? (w + 1) * 64 : bm->nr_pages) - first;
	return 1;
}

/* ---- slots ---- */

int dirty_slots_find(const struct dirty_slots *slots, uint32_t kvm_slot)
{
	uint16_t as_id = kvm_slot >> 16, id = kvm_slot & 0xffff;

	/* A handful of slots (RAM, perhaps flash): a linear scan is enough. */
	for (unsigned int i = 0; i < slots->nr; i++)
		if (slots->slot[i].as_id == as_id && slots->slot[i].id == id)
			return (int)i;
	return -ENOENT;
}

/* ---- ring ---- */

int dirty_ring_init(struct dirty_ring *ring, struct kvm_dirty_gfn *gfns, uint32_t nr_entries)
{
	memset(ring, 0, sizeof(*ring));
	if (!gfns || !nr_entries || nr_entries > DIRTY_RING_MAX_ENTRIES ||
	    (nr_entries & (nr_entries - 1)))
		return -EINVAL;
	ring->gfns = gfns;
	ring->nr_entries = nr_entries;
	return 0;
}

/* The flags word is shared with KVM (or another thread) and accessed only
 * atomically; slot and offset are plain data it guards. */
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t) &&
	       _Alignof(_Atomic uint32_t) == _Alignof(uint32_t),
	       "kvm_dirty_gfn.flags must be usable as an _Atomic uint32_t");

static _Atomic uint32_t *gfn_flags(struct kvm_dirty_gfn *e)
{
	return (_Atomic uint32_t *)&e->flags;
}

/* One load of a plain field of shared memory, never repeated or torn up by
 * the compiler. */
#define read_once(x)	(*(const volatile __typeof__(x) *)&(x))

static struct kvm_dirty_gfn *ring_entry(const struct dirty_ring *ring, uint32_t index)
{
	return &ring->gfns[index & (ring->nr_entries - 1)];
}

/*
 * Load-acquire: KVM writes slot and offset, then sets DIRTY with a
 * store-release. Acquiring the flags orders our later reads of slot and
 * offset after that store, so once we see DIRTY we see the values KVM
 * wrote for this entry, not stale ones from its previous lap. On arm64 a
 * plain load would let those reads be satisfied early.
 */
static uint32_t entry_flags(struct kvm_dirty_gfn *e)
{
	return atomic_load_explicit(gfn_flags(e), memory_order_acquire);
}

/*
 * Store-release of exactly RESET: our reads of slot and offset complete
 * before KVM (whose reset reads the flags with load-acquire) can see the
 * entry as harvested and recycle it for a new page. Clearing DIRTY at the
 * same time means that, should the fetch index come round again before KVM
 * recycles the entry, we stop at it instead of harvesting it twice.
 */
static void hand_back(struct kvm_dirty_gfn *e)
{
	atomic_store_explicit(gfn_flags(e), KVM_DIRTY_GFN_F_RESET, memory_order_release);
}

static int check_maps(struct dirty_ring *ring, const struct dirty_slots *slots,
		      const struct dirty_bitmap *maps)
{
	for (unsigned int i = 0; i < slots->nr; i++) {
		if (maps[i].nr_pages == slots->slot[i].npages)
			continue;
		snprintf(ring->err, sizeof(ring->err),
			 "memslot %u (as_id %u): bitmap of %llu pages for a slot of %llu",
			 slots->slot[i].id, slots->slot[i].as_id,
			 (unsigned long long)maps[i].nr_pages,
			 (unsigned long long)slots->slot[i].npages);
		return -EINVAL;
	}
	return 0;
}

__attribute__((format(printf, 4, 5)))
static int refuse_entry(struct dirty_ring *ring, uint32_t slot, uint64_t offset,
			const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ring->err, sizeof(ring->err),
		     "dirty ring entry %u (fetch index %u): slot %#x (as_id %u, id %u) offset %llu: ",
		     ring->fetch & (ring->nr_entries - 1), ring->fetch, slot, slot >> 16,
		     slot & 0xffff, (unsigned long long)offset);
	if (n > 0 && (size_t)n < sizeof(ring->err)) {
		va_start(ap, fmt);
		vsnprintf(ring->err + n, sizeof(ring->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* Records one DIRTY entry in its slot's bitmap, or refuses it untouched. */
static int collect_entry(struct dirty_ring *ring, struct kvm_dirty_gfn *e, uint32_t flags,
			 const struct dirty_slots *slots, struct dirty_bitmap *maps)
{
	/*
	 * Read each field once: the bounds check and the bitmap write must
	 * use the same value, and a compiler may otherwise reload a plain
	 * field from shared memory after the check.
	 */
	uint32_t slot = read_once(e->slot);
	uint64_t offset = read_once(e->offset);
	int i;

	if (flags & KVM_DIRTY_GFN_F_RESET)
		return refuse_entry(ring, slot, offset, "flags %#x: DIRTY and RESET together", flags);
	i = dirty_slots_find(slots, slot);
	if (i < 0)
		return refuse_entry(ring, slot, offset, "no such memslot");
	if (dirty_bitmap_set(&maps[i], offset) < 0)
		return refuse_entry(ring, slot, offset, "past the slot's %llu pages",
				    (unsigned long long)maps[i].nr_pages);
	return 0;
}

int dirty_ring_harvest(struct dirty_ring *ring, const struct dirty_slots *slots,
		       struct dirty_bitmap *maps, uint32_t *harvested)
{
	uint32_t n = 0;
	int ret;

	ring->err[0] = '\0';
	ret = check_maps(ring, slots, maps);
	/*
	 * One lap at most: KVM cannot refill an entry until our own reset
	 * recycles it, so a lap is all there can be, and the bound keeps a
	 * misbehaving producer from holding us here forever.
	 */
	while (!ret && n < ring->nr_entries) {
		struct kvm_dirty_gfn *e = ring_entry(ring, ring->fetch);
		uint32_t flags = entry_flags(e);

		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		ret = collect_entry(ring, e, flags, slots, maps);
		if (ret)
			break;
		hand_back(e);
		ring->fetch++;
		n++;
	}
	ring->harvested += n;
	ring->total += n;
	if (harvested)
		*harvested = n;
	return ret ? ret : (int)n;
}

bool dirty_ring_soft_full(const struct dirty_ring *ring)
{
	return (uint64_t)ring->harvested + DIRTY_RING_RSVD_ENTRIES >= ring->nr_entries;
}

int dirty_rings_harvest(struct dirty_ring *rings, unsigned int nr,
			const struct dirty_slots *slots, struct dirty_bitmap *maps,
			uint64_t *harvested)
{
	int ret = 0;

	*harvested = 0;
	for (unsigned int i = 0; i < nr && ret >= 0; i++) {
		ret = dirty_ring_harvest(&rings[i], slots, maps, NULL);
		if (ret >= 0)
			*harvested += (uint64_t)ret;
	}
	return ret < 0 ? ret : 0;
}

static bool rings_hold_harvested(const struct dirty_ring *rings, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++)
		if (rings[i].harvested)
			return true;
	return false;
}

/*
 * KVM walks the vCPUs in index order and each ring from its reset index, so
 * a reset that stopped early (a signal) recycled the oldest entries of the
 * first rings: take the count off in that order.
 */
static void count_recycled(struct dirty_ring *rings, unsigned int nr, uint32_t recycled)
{
	for (unsigned int i = 0; i < nr; i++) {
		uint32_t done = rings[i].harvested < recycled ? rings[i].harvested : recycled;

		rings[i].harvested -= done;
		recycled -= done;
	}
}

int dirty_rings_reset(struct dirty_ring *rings, unsigned int nr, dirty_rings_reset_fn reset,
		      void *opaque)
{
	int ret;

	if (!rings_hold_harvested(rings, nr))
		return 0;
	/*
	 * Why the harvesting thread itself makes this call: KVM recycles an
	 * entry only once its reset (kvm_dirty_ring_reset) reads RESET in the
	 * flags with a load-acquire. Our RESET stores were store-releases made
	 * by this thread, and the ioctl is a syscall later in the same
	 * thread's program order, so every one of them is visible to the
	 * kernel when it looks, and the reads of slot/offset they release are
	 * complete. Issued from another thread, the ioctl would first need to
	 * synchronize-with the harvester (a lock, or an acquire of something
	 * the harvester released after its last RESET); without that, on a
	 * weakly ordered CPU like arm64 the kernel could miss RESET on entries
	 * we count as handed back, and leave them waiting for a later reset
	 * while their vCPU keeps exiting with KVM_EXIT_DIRTY_RING_FULL.
	 */
	ret = reset(opaque);
	if (ret < 0)
		return ret;
	count_recycled(rings, nr, (uint32_t)ret);
	return ret;
}
