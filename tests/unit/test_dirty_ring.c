// SPDX-License-Identifier: GPL-2.0-only
/*
 * The dirty ring harvester over rings in ordinary memory: entries become
 * bits in the right slot's bitmap and are handed back as RESET; the harvest
 * stops at the first entry KVM has not published, survives wrap-around
 * (including the free-running index overflowing), refuses entries naming a
 * slot, page or address space that does not exist without writing out of
 * bounds, and never collects an entry twice; the bitmap's operations; and a
 * producer thread playing KVM against the harvester with the real
 * acquire/release handshake, to be run under ThreadSanitizer as well.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "migration/dirty_ring.h"

#define KVM_SLOT(as_id, id)	((uint32_t)(as_id) << 16 | (id))
#define F_DIRTY			KVM_DIRTY_GFN_F_DIRTY
#define F_RESET			KVM_DIRTY_GFN_F_RESET

/* ---- playing KVM's side of an entry ---- */

static _Atomic uint32_t *flags_of(struct kvm_dirty_gfn *e)
{
	return (_Atomic uint32_t *)&e->flags;
}

static uint32_t load_flags(struct kvm_dirty_gfn *e)
{
	return atomic_load_explicit(flags_of(e), memory_order_acquire);
}

/* What KVM does when a vCPU dirties a page: fill the entry, then publish
 * it with a store-release of DIRTY. */
static void kvm_push(struct kvm_dirty_gfn *e, uint32_t slot, uint64_t offset)
{
	e->slot = slot;
	e->offset = offset;
	atomic_store_explicit(flags_of(e), F_DIRTY, memory_order_release);
}

/* KVM_RESET_DIRTY_RINGS on one ring, as the kernel does it: from its own
 * reset index, recycle entries while they read RESET (load-acquire),
 * clearing each with a store-release. */
struct kvm_model {
	struct kvm_dirty_gfn *gfns;
	uint32_t nr_entries;
	uint32_t reset_index;
	_Atomic uint32_t recycled;	/* reset_index, published to the producer */
};

static int kvm_model_reset(void *opaque)
{
	struct kvm_model *m = opaque;
	int n = 0;

	for (;;) {
		struct kvm_dirty_gfn *e = &m->gfns[m->reset_index & (m->nr_entries - 1)];

		if (!(load_flags(e) & F_RESET))
			break;
		atomic_store_explicit(flags_of(e), 0, memory_order_release);
		m->reset_index++;
		n++;
	}
	atomic_store_explicit(&m->recycled, m->reset_index, memory_order_release);
	return n;
}

/* ---- a machine of three slots and one ring ---- */

static const struct dirty_slot slot_table[] = {
	{ .as_id = 0, .id = 0, .npages = 100 },
	{ .as_id = 0, .id = 3, .npages = 50 },
	{ .as_id = 1, .id = 0, .npages = 70 },
};
#define NR_SLOTS	3

struct fixture {
	struct kvm_dirty_gfn *gfns;	/* heap: ASan sees any overrun */
	struct dirty_ring ring;
	struct kvm_model kvm;
	struct dirty_slots slots;
	struct dirty_bitmap maps[NR_SLOTS];
};

static struct fixture *fixture_new(uint32_t nr_entries)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->gfns = calloc(nr_entries, sizeof(*f->gfns));
	assert_non_null(f->gfns);
	assert_int_equal(dirty_ring_init(&f->ring, f->gfns, nr_entries), 0);
	f->kvm.gfns = f->gfns;
	f->kvm.nr_entries = nr_entries;
	f->slots = (struct dirty_slots){ slot_table, NR_SLOTS };
	for (int i = 0; i < NR_SLOTS; i++)
		assert_int_equal(dirty_bitmap_init(&f->maps[i], slot_table[i].npages), 0);
	return f;
}

static int setup16(void **state)
{
	*state = fixture_new(16);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < NR_SLOTS; i++)
		dirty_bitmap_free(&f->maps[i]);
	free(f->gfns);
	free(f);
	return 0;
}

static struct kvm_dirty_gfn *entry(struct fixture *f, uint32_t index)
{
	return &f->gfns[index & (f->ring.nr_entries - 1)];
}

static int harvest(struct fixture *f, uint32_t *n)
{
	return dirty_ring_harvest(&f->ring, &f->slots, f->maps, n);
}

static uint64_t dirty_pages(struct fixture *f)
{
	uint64_t n = 0;

	for (int i = 0; i < NR_SLOTS; i++)
		n += dirty_bitmap_count(&f->maps[i]);
	return n;
}

static void assert_err_mentions(const struct dirty_ring *ring, const char *word)
{
	if (!strstr(ring->err, word))
		fail_msg("message \"%s\" lacks \"%s\"", ring->err, word);
}

/* ---- single thread ---- */

static void test_init_rejects_bad_sizes(void **state)
{
	struct kvm_dirty_gfn g[4];
	struct dirty_ring ring;

	assert_int_equal(dirty_ring_init(&ring, g, 0), -EINVAL);
	assert_int_equal(dirty_ring_init(&ring, g, 3), -EINVAL);
	assert_int_equal(dirty_ring_init(&ring, g, 12), -EINVAL);
	assert_int_equal(dirty_ring_init(&ring, NULL, 4), -EINVAL);
	assert_int_equal(dirty_ring_init(&ring, g, DIRTY_RING_MAX_ENTRIES << 1), -EINVAL);
	assert_int_equal(dirty_ring_init(&ring, g, 1), 0);
	assert_int_equal(dirty_ring_init(&ring, g, 4), 0);
	assert_int_equal(ring.fetch, 0);
	assert_int_equal(ring.harvested, 0);
}

static void test_harvest_sets_bits_and_hands_back(void **state)
{
	struct fixture *f = *state;
	static const struct { uint32_t slot; uint64_t offset; int map; } pushed[] = {
		{ KVM_SLOT(0, 0), 0, 0 },  { KVM_SLOT(0, 0), 99, 0 }, { KVM_SLOT(0, 3), 7, 1 },
		{ KVM_SLOT(1, 0), 69, 2 }, { KVM_SLOT(0, 0), 64, 0 }, { KVM_SLOT(0, 3), 49, 1 },
		{ KVM_SLOT(0, 0), 0, 0 },  { KVM_SLOT(1, 0), 0, 2 },  { KVM_SLOT(0, 0), 63, 0 },
		{ KVM_SLOT(0, 3), 7, 1 },
	};
	uint32_t n = 0;

	for (uint32_t i = 0; i < 10; i++)
		kvm_push(entry(f, i), pushed[i].slot, pushed[i].offset);

	assert_int_equal(harvest(f, &n), 10);
	assert_int_equal(n, 10);
	for (int i = 0; i < 10; i++) {
		assert_true(dirty_bitmap_test(&f->maps[pushed[i].map], pushed[i].offset));
		assert_int_equal(load_flags(entry(f, (uint32_t)i)), F_RESET);
	}
	assert_int_equal(dirty_pages(f), 8);	/* two pages pushed twice */
	assert_false(dirty_bitmap_test(&f->maps[0], 1));
	assert_false(dirty_bitmap_test(&f->maps[1], 0));
	assert_int_equal(load_flags(entry(f, 10)), 0);
	assert_int_equal(f->ring.fetch, 10);
	assert_int_equal(f->ring.harvested, 10);
	assert_int_equal(f->ring.total, 10);
	assert_string_equal(f->ring.err, "");
}

static void test_stops_at_first_not_dirty(void **state)
{
	struct fixture *f = *state;
	uint32_t n;

	for (uint32_t i = 0; i < 9; i++)
		if (i != 5)
			kvm_push(entry(f, i), KVM_SLOT(0, 0), i);

	assert_int_equal(harvest(f, &n), 5);
	assert_int_equal(f->ring.fetch, 5);
	for (uint32_t i = 6; i < 9; i++) {
		assert_int_equal(load_flags(entry(f, i)), F_DIRTY);
		assert_false(dirty_bitmap_test(&f->maps[0], i));
	}
	/* Nothing new: nothing more. */
	assert_int_equal(harvest(f, &n), 0);
	assert_int_equal(n, 0);

	kvm_push(entry(f, 5), KVM_SLOT(0, 0), 5);
	assert_int_equal(harvest(f, &n), 4);
	assert_int_equal(f->ring.fetch, 9);
	assert_int_equal(dirty_bitmap_count(&f->maps[0]), 9);
	assert_int_equal(f->ring.total, 9);
}

/* Pushes @count entries from KVM's dirty index @*next, the pages following
 * on from @*page in slot 0; each lands in a free (recycled) entry. */
static void push_batch(struct fixture *f, uint32_t *next, uint64_t *page, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++, (*next)++, *page = (*page + 1) % 100) {
		assert_int_equal(load_flags(entry(f, *next)), 0);
		kvm_push(entry(f, *next), KVM_SLOT(0, 0), *page);
	}
}

static void test_wraps_around_many_laps(void **state)
{
	struct fixture *f = *state;
	static const uint32_t batches[] = { 5, 16, 3, 11, 16, 1, 15, 9, 16, 7, 13, 16 };
	uint32_t next = 0, n, total = 0;
	uint64_t page = 0, first;

	for (unsigned int b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		dirty_bitmap_clear_all(&f->maps[0]);
		first = page;
		push_batch(f, &next, &page, batches[b]);
		assert_int_equal(harvest(f, &n), (int)batches[b]);
		total += batches[b];
		assert_int_equal(f->ring.fetch, total);
		assert_int_equal(dirty_bitmap_count(&f->maps[0]), batches[b]);
		for (uint32_t i = 0; i < batches[b]; i++)
			assert_true(dirty_bitmap_test(&f->maps[0], (first + i) % 100));
		assert_int_equal(dirty_rings_reset(&f->ring, 1, kvm_model_reset, &f->kvm),
				 (int)batches[b]);
		assert_int_equal(f->ring.harvested, 0);
	}
	assert_int_equal(total, 8 * 16);	/* eight laps */
	assert_int_equal(f->ring.total, total);
}

/* The free-running index passes UINT32_MAX: masking still finds the entry
 * after it, as long as the ring size divides 2^32. */
static void test_fetch_index_overflows(void **state)
{
	struct fixture *f = *state;
	uint32_t next = UINT32_MAX - 20, n;
	uint64_t page = 0;

	f->ring.fetch = next;
	f->kvm.reset_index = next;
	for (int lap = 0; lap < 4; lap++) {
		push_batch(f, &next, &page, 12);
		assert_int_equal(harvest(f, &n), 12);
		assert_int_equal(f->ring.fetch, next);
		assert_int_equal(dirty_rings_reset(&f->ring, 1, kvm_model_reset, &f->kvm), 12);
	}
	assert_true(f->ring.fetch < 100);	/* it did wrap */
	assert_int_equal(dirty_bitmap_count(&f->maps[0]), 48);
}

/* Entries 0 and 1 good, entry 2 bad: 0 and 1 collected, 2 left as it was,
 * and the same answer again on the next try. */
static void assert_refused_third(struct fixture *f, uint32_t slot, uint64_t offset,
				 const char *why)
{
	uint32_t n = 99;

	kvm_push(entry(f, 0), KVM_SLOT(0, 0), 1);
	kvm_push(entry(f, 1), KVM_SLOT(0, 3), 2);
	kvm_push(entry(f, 2), slot, offset);
	kvm_push(entry(f, 3), KVM_SLOT(0, 0), 3);

	for (int attempt = 0; attempt < 2; attempt++) {
		assert_int_equal(harvest(f, &n), -EBADMSG);
		assert_int_equal(n, attempt ? 0 : 2);
		assert_int_equal(f->ring.fetch, 2);
		assert_int_equal(f->ring.total, 2);
		assert_int_equal(load_flags(entry(f, 0)), F_RESET);
		assert_int_equal(load_flags(entry(f, 1)), F_RESET);
		assert_int_equal(load_flags(entry(f, 2)), F_DIRTY);
		assert_int_equal(load_flags(entry(f, 3)), F_DIRTY);
		assert_int_equal(dirty_pages(f), 2);
		assert_true(dirty_bitmap_test(&f->maps[0], 1));
		assert_true(dirty_bitmap_test(&f->maps[1], 2));
		assert_err_mentions(&f->ring, "entry 2 ");
		assert_err_mentions(&f->ring, why);
	}
}

static void test_bad_slot_refused(void **state)
{
	struct fixture *f = *state;

	assert_refused_third(f, KVM_SLOT(0, 7), 5, "no such memslot");
	assert_err_mentions(&f->ring, "slot 0x7 ");
	assert_err_mentions(&f->ring, "offset 5");
}

static void test_bad_offset_refused(void **state)
{
	struct fixture *f = *state;

	/* The first page past the end... */
	assert_refused_third(f, KVM_SLOT(0, 3), 50, "past the slot's 50 pages");
	assert_err_mentions(&f->ring, "id 3");
	assert_err_mentions(&f->ring, "offset 50");

	/* ...and one a bitmap index would wrap on. */
	kvm_push(entry(f, 2), KVM_SLOT(0, 0), UINT64_MAX);
	assert_int_equal(harvest(f, NULL), -EBADMSG);
	assert_err_mentions(&f->ring, "offset 18446744073709551615");
	assert_int_equal(dirty_pages(f), 2);

	/* The last page is fine; the harvest then goes on past it. */
	kvm_push(entry(f, 2), KVM_SLOT(0, 3), 49);
	assert_int_equal(harvest(f, NULL), 2);
	assert_true(dirty_bitmap_test(&f->maps[1], 49));
	assert_true(dirty_bitmap_test(&f->maps[0], 3));
	assert_string_equal(f->ring.err, "");
}

static void test_bad_as_id_refused(void **state)
{
	struct fixture *f = *state;

	/* Slot id 0 exists in address spaces 0 and 1, not 2. */
	assert_refused_third(f, KVM_SLOT(2, 0), 4, "no such memslot");
	assert_err_mentions(&f->ring, "as_id 2");
}

static void test_dirty_with_reset_refused(void **state)
{
	struct fixture *f = *state;

	kvm_push(entry(f, 0), KVM_SLOT(0, 0), 1);
	kvm_push(entry(f, 1), KVM_SLOT(0, 0), 2);
	atomic_store_explicit(flags_of(entry(f, 1)), F_DIRTY | F_RESET, memory_order_release);

	assert_int_equal(harvest(f, NULL), -EBADMSG);
	assert_int_equal(f->ring.fetch, 1);
	assert_err_mentions(&f->ring, "DIRTY and RESET");
	assert_false(dirty_bitmap_test(&f->maps[0], 2));
}

/* A full lap harvested and not yet recycled: going round again finds
 * RESET entries, not DIRTY ones, and collects nothing. */
static void test_never_harvests_twice(void **state)
{
	struct fixture *f = *state;
	uint32_t n;

	for (uint32_t i = 0; i < 16; i++)
		kvm_push(entry(f, i), KVM_SLOT(0, 0), i);
	assert_int_equal(harvest(f, &n), 16);
	assert_int_equal(f->ring.fetch, 16);

	dirty_bitmap_clear_all(&f->maps[0]);
	for (int again = 0; again < 3; again++)
		assert_int_equal(harvest(f, &n), 0);
	assert_int_equal(f->ring.fetch, 16);
	assert_int_equal(f->ring.total, 16);
	assert_int_equal(dirty_pages(f), 0);

	/* After recycling, only what KVM publishes anew. */
	assert_int_equal(dirty_rings_reset(&f->ring, 1, kvm_model_reset, &f->kvm), 16);
	assert_int_equal(harvest(f, &n), 0);
	kvm_push(entry(f, 16), KVM_SLOT(0, 0), 42);
	assert_int_equal(harvest(f, &n), 1);
	assert_int_equal(dirty_pages(f), 1);
}

static void test_bitmap_size_must_match_slot(void **state)
{
	struct fixture *f = *state;

	dirty_bitmap_free(&f->maps[1]);
	assert_int_equal(dirty_bitmap_init(&f->maps[1], 49), 0);
	kvm_push(entry(f, 0), KVM_SLOT(0, 0), 1);

	assert_int_equal(harvest(f, NULL), -EINVAL);
	assert_err_mentions(&f->ring, "memslot 3");
	assert_int_equal(f->ring.fetch, 0);
	assert_int_equal(load_flags(entry(f, 0)), F_DIRTY);
}

static void test_slots_find(void **state)
{
	const struct dirty_slots slots = { slot_table, NR_SLOTS };

	assert_int_equal(dirty_slots_find(&slots, KVM_SLOT(0, 0)), 0);
	assert_int_equal(dirty_slots_find(&slots, KVM_SLOT(0, 3)), 1);
	assert_int_equal(dirty_slots_find(&slots, KVM_SLOT(1, 0)), 2);
	assert_int_equal(dirty_slots_find(&slots, KVM_SLOT(1, 3)), -ENOENT);
	assert_int_equal(dirty_slots_find(&slots, KVM_SLOT(0x10000 >> 16, 0x1234)), -ENOENT);
	assert_int_equal(dirty_slots_find(&slots, UINT32_MAX), -ENOENT);
}

/* ---- several rings, one reset ---- */

/* KVM_RESET_DIRTY_RINGS over several vCPUs' rings, in index order. */
struct vm_model {
	struct kvm_model *vcpu;
	int nr;
	int calls;
	int fail_with;		/* a -errno to return instead, once */
};

static int vm_model_reset(void *opaque)
{
	struct vm_model *vm = opaque;
	int n = 0;

	vm->calls++;
	if (vm->fail_with) {
		n = vm->fail_with;
		vm->fail_with = 0;
		return n;
	}
	for (int i = 0; i < vm->nr; i++)
		n += kvm_model_reset(&vm->vcpu[i]);
	return n;
}

/* A KVM_RESET_DIRTY_RINGS that reports whatever count it is told. */
static int fixed_count_reset(void *opaque)
{
	return *(int *)opaque;
}

static void test_reset_once_for_all_rings(void **state)
{
	struct kvm_dirty_gfn *g[2];
	struct dirty_ring rings[2];
	struct kvm_model kvm[2] = { 0 };
	struct vm_model vm = { .vcpu = kvm, .nr = 2 };
	struct dirty_bitmap maps[NR_SLOTS];
	const struct dirty_slots slots = { slot_table, NR_SLOTS };
	uint64_t n;
	int reset_returns;

	for (int r = 0; r < 2; r++) {
		g[r] = calloc(8, sizeof(*g[r]));
		assert_non_null(g[r]);
		assert_int_equal(dirty_ring_init(&rings[r], g[r], 8), 0);
		kvm[r] = (struct kvm_model){ .gfns = g[r], .nr_entries = 8 };
	}
	for (int i = 0; i < NR_SLOTS; i++)
		assert_int_equal(dirty_bitmap_init(&maps[i], slot_table[i].npages), 0);

	/* Nothing harvested: no ioctl. */
	assert_int_equal(dirty_rings_reset(rings, 2, vm_model_reset, &vm), 0);
	assert_int_equal(vm.calls, 0);

	for (uint32_t i = 0; i < 3; i++)
		kvm_push(&g[0][i], KVM_SLOT(0, 0), i);
	for (uint32_t i = 0; i < 5; i++)
		kvm_push(&g[1][i], KVM_SLOT(1, 0), 10 + i);
	assert_int_equal(dirty_rings_harvest(rings, 2, &slots, maps, &n), 0);
	assert_int_equal(n, 8);
	assert_int_equal(dirty_bitmap_count(&maps[0]), 3);
	assert_int_equal(dirty_bitmap_count(&maps[2]), 5);

	/* A failed reset keeps the count; the retry recycles both rings. */
	vm.fail_with = -EINTR;
	assert_int_equal(dirty_rings_reset(rings, 2, vm_model_reset, &vm), -EINTR);
	assert_int_equal(rings[0].harvested, 3);
	assert_int_equal(rings[1].harvested, 5);
	assert_int_equal(dirty_rings_reset(rings, 2, vm_model_reset, &vm), 8);
	assert_int_equal(vm.calls, 2);
	assert_int_equal(kvm[0].reset_index, 3);
	assert_int_equal(kvm[1].reset_index, 5);
	assert_int_equal(rings[0].harvested, 0);
	assert_int_equal(rings[1].harvested, 0);
	assert_int_equal(rings[1].total, 5);

	/* A reset that stops part way recycled the oldest entries of the
	 * first rings; the rest stay counted until a later reset. */
	for (uint32_t i = 3; i < 6; i++)
		kvm_push(&g[0][i], KVM_SLOT(0, 0), 20 + i);
	for (uint32_t i = 5; i < 8; i++)
		kvm_push(&g[1][i], KVM_SLOT(0, 3), i);
	assert_int_equal(dirty_rings_harvest(rings, 2, &slots, maps, &n), 0);
	assert_int_equal(n, 6);
	reset_returns = 4;
	assert_int_equal(dirty_rings_reset(rings, 2, fixed_count_reset, &reset_returns), 4);
	assert_int_equal(rings[0].harvested, 0);
	assert_int_equal(rings[1].harvested, 2);
	reset_returns = 2;
	assert_int_equal(dirty_rings_reset(rings, 2, fixed_count_reset, &reset_returns), 2);
	assert_int_equal(rings[1].harvested, 0);
	assert_int_equal(dirty_rings_reset(rings, 2, fixed_count_reset, &reset_returns), 0);
	for (int r = 0; r < 2; r++) {
		memset(g[r], 0, 8 * sizeof(*g[r]));
		kvm[r].reset_index = rings[r].fetch;
	}

	/* A bad entry in the second ring stops the walk with its message. */
	kvm_push(&g[0][6], KVM_SLOT(0, 0), 50);
	kvm_push(&g[1][0], KVM_SLOT(0, 9), 0);
	assert_int_equal(dirty_rings_harvest(rings, 2, &slots, maps, &n), -EBADMSG);
	assert_int_equal(n, 1);
	assert_true(strstr(rings[1].err, "entry 0 (fetch index 8)") != NULL);

	for (int i = 0; i < NR_SLOTS; i++)
		dirty_bitmap_free(&maps[i]);
	free(g[0]);
	free(g[1]);
}

static void test_soft_full(void **state)
{
	struct kvm_dirty_gfn g[1];
	struct dirty_ring ring;

	assert_int_equal(dirty_ring_init(&ring, g, 256), 0);
	assert_false(dirty_ring_soft_full(&ring));
	ring.harvested = 191;
	assert_false(dirty_ring_soft_full(&ring));
	ring.harvested = 192;
	assert_true(dirty_ring_soft_full(&ring));
}

/* ---- bitmap ---- */

static void test_bitmap_set_test_clear_count(void **state)
{
	struct dirty_bitmap bm;

	assert_int_equal(dirty_bitmap_init(&bm, 130), 0);
	assert_int_equal(dirty_bitmap_count(&bm), 0);
	assert_int_equal(dirty_bitmap_set(&bm, 0), 1);
	assert_int_equal(dirty_bitmap_set(&bm, 0), 0);
	assert_int_equal(dirty_bitmap_set(&bm, 63), 1);
	assert_int_equal(dirty_bitmap_set(&bm, 64), 1);
	assert_int_equal(dirty_bitmap_set(&bm, 129), 1);
	assert_int_equal(dirty_bitmap_set(&bm, 130), -ERANGE);
	assert_int_equal(dirty_bitmap_set(&bm, UINT64_MAX), -ERANGE);
	assert_int_equal(dirty_bitmap_count(&bm), 4);
	assert_true(dirty_bitmap_test(&bm, 63));
	assert_false(dirty_bitmap_test(&bm, 62));
	assert_false(dirty_bitmap_test(&bm, 130));
	/* Nothing leaks into the tail of the last word. */
	assert_int_equal(bm.words[2], 0x2);

	dirty_bitmap_clear(&bm, 63);
	dirty_bitmap_clear(&bm, 1000);
	assert_false(dirty_bitmap_test(&bm, 63));
	assert_int_equal(dirty_bitmap_count(&bm), 3);
	dirty_bitmap_clear_all(&bm);
	assert_int_equal(dirty_bitmap_count(&bm), 0);
	dirty_bitmap_free(&bm);
	assert_null(bm.words);
}

/* A live round's walk: pages selected and not deferred, across words,
 * up to an odd end; a deferral map of another size is ignored. */
static void test_bitmap_next_except(void **state)
{
	struct dirty_bitmap sel, defer, other;
	uint64_t page, n = 0;

	(void)state;
	assert_int_equal(dirty_bitmap_init(&sel, 200), 0);
	assert_int_equal(dirty_bitmap_init(&defer, 200), 0);
	assert_int_equal(dirty_bitmap_init(&other, 100), 0);
	for (page = 0; page < 200; page += 3)
		dirty_bitmap_set(&sel, page);
	for (page = 60; page < 140; page++)
		dirty_bitmap_set(&defer, page);
	dirty_bitmap_set(&defer, 199);
	dirty_bitmap_set(&sel, 199);

	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 0), 0);
	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 58), 141);
	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 198), 198);
	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 199), 200);
	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 200), 200);
	for (page = dirty_bitmap_next_except(&sel, &defer, 0); page < 200;
	     page = dirty_bitmap_next_except(&sel, &defer, page + 1)) {
		assert_true(dirty_bitmap_test(&sel, page));
		assert_false(dirty_bitmap_test(&defer, page));
		n++;
	}
	/* 67 multiples of 3 below 200, less the 27 in [60,140); 199 deferred. */
	assert_int_equal(n, 40);

	/* Everything deferred: nothing left. */
	for (page = 0; page < 200; page++)
		dirty_bitmap_set(&defer, page);
	assert_int_equal(dirty_bitmap_next_except(&sel, &defer, 0), 200);
	/* A map of another size defers nothing. */
	dirty_bitmap_set(&other, 0);
	assert_int_equal(dirty_bitmap_next_except(&sel, &other, 0), 0);
	dirty_bitmap_free(&sel);
	dirty_bitmap_free(&defer);
	dirty_bitmap_free(&other);
}

static void test_bitmap_iterate(void **state)
{
	static const uint64_t pages[] = { 0, 1, 63, 64, 127, 128, 500, 998, 999 };
	struct dirty_bitmap bm;
	uint64_t page, i = 0;

	assert_int_equal(dirty_bitmap_init(&bm, 1000), 0);
	assert_int_equal(dirty_bitmap_next(&bm, 0), 1000);
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		dirty_bitmap_set(&bm, pages[i]);

	i = 0;
	dirty_bitmap_for_each(page, &bm) {
		assert_true(i < sizeof(pages) / sizeof(pages[0]));
		assert_int_equal(page, pages[i++]);
	}
	assert_int_equal(i, sizeof(pages) / sizeof(pages[0]));
	assert_int_equal(dirty_bitmap_next(&bm, 129), 500);
	assert_int_equal(dirty_bitmap_next(&bm, 1000), 1000);
	assert_int_equal(dirty_bitmap_next(&bm, UINT64_MAX), 1000);

	/* Runs: [0,2) [63,65) [127,129) [500,501) [998,1000). */
	assert_int_equal(dirty_bitmap_next_clean(&bm, 0), 2);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 63), 65);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 127), 129);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 998), 1000);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 2), 2);
	dirty_bitmap_free(&bm);

	/* All dirty up to a word boundary and up to an odd end. */
	assert_int_equal(dirty_bitmap_init(&bm, 128), 0);
	for (page = 0; page < 128; page++)
		dirty_bitmap_set(&bm, page);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 0), 128);
	dirty_bitmap_free(&bm);
	assert_int_equal(dirty_bitmap_init(&bm, 70), 0);
	for (page = 0; page < 70; page++)
		dirty_bitmap_set(&bm, page);
	assert_int_equal(dirty_bitmap_next_clean(&bm, 5), 70);
	assert_int_equal(dirty_bitmap_count(&bm), 70);
	dirty_bitmap_free(&bm);

	/* A slot of no pages has nothing to find. */
	assert_int_equal(dirty_bitmap_init(&bm, 0), 0);
	assert_int_equal(dirty_bitmap_next(&bm, 0), 0);
	assert_int_equal(dirty_bitmap_set(&bm, 0), -ERANGE);
	assert_int_equal(dirty_bitmap_count(&bm), 0);
	dirty_bitmap_free(&bm);
}

static void test_bitmap_take(void **state)
{
	struct dirty_bitmap live, round, other;

	assert_int_equal(dirty_bitmap_init(&live, 200), 0);
	assert_int_equal(dirty_bitmap_init(&round, 200), 0);
	assert_int_equal(dirty_bitmap_init(&other, 100), 0);
	dirty_bitmap_set(&round, 5);		/* stale: dropped by the take */
	dirty_bitmap_set(&live, 7);
	dirty_bitmap_set(&live, 199);

	assert_int_equal(dirty_bitmap_take(&live, &round), 0);
	assert_int_equal(dirty_bitmap_count(&round), 2);
	assert_true(dirty_bitmap_test(&round, 7));
	assert_true(dirty_bitmap_test(&round, 199));
	assert_false(dirty_bitmap_test(&round, 5));
	assert_int_equal(dirty_bitmap_count(&live), 0);

	/* The next round collects into the cleared one. */
	dirty_bitmap_set(&live, 8);
	assert_int_equal(dirty_bitmap_take(&live, &round), 0);
	assert_int_equal(dirty_bitmap_count(&round), 1);
	assert_true(dirty_bitmap_test(&round, 8));

	assert_int_equal(dirty_bitmap_take(&live, &other), -EINVAL);
	dirty_bitmap_free(&live);
	dirty_bitmap_free(&round);
	dirty_bitmap_free(&other);
}

/* ---- KVM_CLEAR_DIRTY_LOG ranges ---- */

static struct dirty_range next_range(const struct dirty_bitmap *bm, const struct dirty_range *prev,
				     uint64_t max, int want)
{
	struct dirty_range r = { UINT64_MAX, UINT64_MAX };

	assert_int_equal(dirty_bitmap_clear_range(bm, prev->first + prev->count, max, &r), want);
	return r;
}

static void assert_range(struct dirty_range r, uint64_t first, uint64_t count)
{
	assert_int_equal(r.first, first);
	assert_int_equal(r.count, count);
}

static void test_clear_range_examples(void **state)
{
	struct dirty_bitmap bm;
	struct dirty_range r = { 0, 0 }, none = { 0, 0 };

	assert_int_equal(dirty_bitmap_init(&bm, 1000), 0);
	/* Clean: nothing to clear. */
	next_range(&bm, &none, 64, 0);
	dirty_bitmap_set(&bm, 5);
	dirty_bitmap_set(&bm, 70);
	dirty_bitmap_set(&bm, 600);
	dirty_bitmap_set(&bm, 999);

	/* No limit to speak of: one call, up to the slot's odd end. */
	r = next_range(&bm, &none, 1u << 20, 1);
	assert_range(r, 0, 1000);
	next_range(&bm, &r, 1u << 20, 0);

	/* 128 pages at most: the clean stretches are skipped, and a range
	 * ends after its last dirty group, not at the limit. */
	r = next_range(&bm, &none, 128, 1);
	assert_range(r, 0, 128);		/* pages 5 and 70 */
	r = next_range(&bm, &r, 128, 1);
	assert_range(r, 576, 64);		/* 600; 640..703 clean */
	r = next_range(&bm, &r, 128, 1);
	assert_range(r, 960, 40);		/* 999, up to the end of the slot */
	next_range(&bm, &r, 128, 0);

	/* A limit that would run past the end of the slot. */
	dirty_bitmap_clear_all(&bm);
	dirty_bitmap_set(&bm, 990);
	r = next_range(&bm, &none, 1u << 20, 1);
	assert_range(r, 960, 40);
	/* UINT64_MAX-ish limits do not wrap. */
	r = next_range(&bm, &none, UINT64_MAX & ~63ULL, 1);
	assert_range(r, 960, 40);
	dirty_bitmap_free(&bm);
}

static void test_clear_range_bad_arguments(void **state)
{
	struct dirty_bitmap bm;
	struct dirty_range r = { 7, 7 };

	assert_int_equal(dirty_bitmap_init(&bm, 256), 0);
	dirty_bitmap_set(&bm, 100);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 1, 64, &r), -EINVAL);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 63, 64, &r), -EINVAL);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 0, 0, &r), -EINVAL);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 0, 100, &r), -EINVAL);
	assert_int_equal(r.first, 7);		/* untouched on failure */
	assert_int_equal(r.count, 7);
	/* At or past the end there is nothing left, aligned or not. */
	assert_int_equal(dirty_bitmap_clear_range(&bm, 256, 64, &r), 0);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 1001, 64, &r), 0);
	dirty_bitmap_free(&bm);

	/* A slot of no pages. */
	assert_int_equal(dirty_bitmap_init(&bm, 0), 0);
	assert_int_equal(dirty_bitmap_clear_range(&bm, 0, 64, &r), 0);
	dirty_bitmap_free(&bm);
}

/*
 * Random bitmaps and limits: the ranges follow KVM's alignment rule, stay
 * within the limit, come in order without overlap, start and end on a group
 * with a dirty page, and together hold every dirty page.
 */
static void check_ranges(const struct dirty_bitmap *bm, uint64_t max)
{
	struct dirty_bitmap seen;
	struct dirty_range r = { 0, 0 };
	uint64_t end = 0, page;
	int ret;

	assert_int_equal(dirty_bitmap_init(&seen, bm->nr_pages), 0);
	while ((ret = dirty_bitmap_clear_range(bm, r.first + r.count, max, &r)) > 0) {
		assert_true(r.first >= end);
		assert_int_equal(r.first % DIRTY_CLEAR_ALIGN, 0);
		assert_true(r.count > 0 && r.count <= max);
		assert_true(r.first + r.count <= bm->nr_pages);
		assert_true(r.count % DIRTY_CLEAR_ALIGN == 0 || r.first + r.count == bm->nr_pages);
		assert_true(bm->words[r.first / 64] != 0);
		assert_true(bm->words[(r.first + r.count - 1) / 64] != 0);
		for (page = r.first; page < r.first + r.count; page++)
			if (dirty_bitmap_test(bm, page))
				dirty_bitmap_set(&seen, page);
		end = r.first + r.count;
	}
	assert_int_equal(ret, 0);
	for (uint64_t w = 0; w < (bm->nr_pages + 63) / 64; w++)
		assert_int_equal(seen.words[w], bm->words[w]);
	dirty_bitmap_free(&seen);
}

static void test_clear_range_random(void **state)
{
	static const uint64_t sizes[] = { 1, 63, 64, 65, 640, 1000, 4096, 70001 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int trial = 0; trial < 40; trial++) {
			struct dirty_bitmap bm;
			/* From nearly clean to nearly all dirty, in clusters. */
			uint64_t density = seed % 5, n, max;

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			assert_int_equal(dirty_bitmap_init(&bm, sizes[i]), 0);
			n = sizes[i] * density / 8;
			for (uint64_t k = 0; k < n; k++) {
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				dirty_bitmap_set(&bm, (seed >> 33) % sizes[i]);
			}
			max = 64 * (1 + (seed >> 40) % 20);
			check_ranges(&bm, max);
			check_ranges(&bm, 1u << 18);
			dirty_bitmap_free(&bm);
		}
	}
}

/* ---- a producer thread playing KVM ---- */

#define CC_RING		64
#define CC_ENTRIES	200000
#define CC_BATCH	16	/* reset once this many are harvested */
#define CC_TIMEOUT_S	120

static const struct dirty_slot cc_slots[] = {
	{ .as_id = 0, .id = 0, .npages = 1u << 20 },
	{ .as_id = 1, .id = 5, .npages = 100003 },
};

struct concurrent {
	struct kvm_model kvm;			/* reset runs on the consumer */
	struct dirty_bitmap expect[2];		/* the producer's own record */
	atomic_uint overwrites;			/* entries found non-free */
	atomic_bool stop;			/* the consumer gave up */
	uint32_t produced;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * KVM's side: it pushes entry i only when fewer than a ring's worth are in
 * use, i.e. i - reset_index < size, reading the reset index that
 * KVM_RESET_DIRTY_RINGS published (acquire, paired with the model's
 * release). The entry must then read free (flags 0): if it does not, KVM
 * would be overwriting an entry that was never harvested and recycled.
 */
static void *kvm_producer(void *arg)
{
	struct concurrent *c = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (uint32_t i = 0; i < CC_ENTRIES; i++) {
		struct kvm_dirty_gfn *e = &c->kvm.gfns[i & (CC_RING - 1)];
		uint64_t r = xorshift(&seed);
		unsigned int s = r & 1;
		uint64_t page = (r >> 1) % cc_slots[s].npages;

		while (i - atomic_load_explicit(&c->kvm.recycled, memory_order_acquire) >= CC_RING) {
			if (atomic_load_explicit(&c->stop, memory_order_relaxed))
				return NULL;
			sched_yield();
		}
		if (load_flags(e) != 0)
			atomic_fetch_add_explicit(&c->overwrites, 1, memory_order_relaxed);
		kvm_push(e, KVM_SLOT(cc_slots[s].as_id, cc_slots[s].id), page);
		dirty_bitmap_set(&c->expect[s], page);
		c->produced = i + 1;
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The harvesting thread: harvest, and reset from this same thread. Returns
 * 0, or why it stopped. */
static int consume(struct concurrent *c, struct dirty_ring *ring, struct dirty_bitmap *maps,
		   const struct dirty_slots *slots, uint64_t *seen)
{
	double deadline = now_s() + CC_TIMEOUT_S;
	uint32_t n;
	int ret;

	while (*seen < CC_ENTRIES) {
		ret = dirty_ring_harvest(ring, slots, maps, &n);
		if (ret < 0)
			return ret;
		*seen += n;
		if (n == 0 || ring->harvested >= CC_BATCH) {
			ret = dirty_rings_reset(ring, 1, kvm_model_reset, &c->kvm);
			if (ret < 0)
				return ret;
		}
		if (n == 0)
			sched_yield();
		if (now_s() > deadline)
			return -ETIMEDOUT;
	}
	return dirty_rings_reset(ring, 1, kvm_model_reset, &c->kvm) < 0 ? -EIO : 0;
}

static void test_concurrent_producer(void **state)
{
	const struct dirty_slots slots = { cc_slots, 2 };
	struct concurrent *c = calloc(1, sizeof(*c));
	struct dirty_bitmap maps[2];
	struct dirty_ring ring;
	pthread_t producer;
	uint64_t seen = 0;
	int ret;

	assert_non_null(c);
	c->kvm.gfns = calloc(CC_RING, sizeof(*c->kvm.gfns));
	assert_non_null(c->kvm.gfns);
	c->kvm.nr_entries = CC_RING;
	assert_int_equal(dirty_ring_init(&ring, c->kvm.gfns, CC_RING), 0);
	for (int s = 0; s < 2; s++) {
		assert_int_equal(dirty_bitmap_init(&maps[s], cc_slots[s].npages), 0);
		assert_int_equal(dirty_bitmap_init(&c->expect[s], cc_slots[s].npages), 0);
	}

	assert_int_equal(pthread_create(&producer, NULL, kvm_producer, c), 0);
	ret = consume(c, &ring, maps, &slots, &seen);
	atomic_store_explicit(&c->stop, true, memory_order_relaxed);
	assert_int_equal(pthread_join(producer, NULL), 0);

	if (ret)
		fail_msg("consumer stopped: %s after %llu of %u entries (%s)", strerror(-ret),
			 (unsigned long long)seen, CC_ENTRIES, ring.err);
	assert_int_equal(c->produced, CC_ENTRIES);
	assert_int_equal(seen, CC_ENTRIES);
	assert_int_equal(ring.total, CC_ENTRIES);
	assert_int_equal(ring.fetch, CC_ENTRIES);
	assert_int_equal(ring.harvested, 0);
	assert_int_equal(c->kvm.reset_index, CC_ENTRIES);
	assert_int_equal(atomic_load(&c->overwrites), 0);
	for (int s = 0; s < 2; s++) {
		/* Every page the producer dirtied, and no other. */
		assert_int_equal(dirty_bitmap_count(&maps[s]), dirty_bitmap_count(&c->expect[s]));
		assert_memory_equal(maps[s].words, c->expect[s].words,
				    (cc_slots[s].npages + 63) / 64 * sizeof(uint64_t));
		dirty_bitmap_free(&maps[s]);
		dirty_bitmap_free(&c->expect[s]);
	}
	free(c->kvm.gfns);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_sizes),
		cmocka_unit_test_setup_teardown(test_harvest_sets_bits_and_hands_back, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_stops_at_first_not_dirty, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_wraps_around_many_laps, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_index_overflows, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_bad_slot_refused, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_bad_offset_refused, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_bad_as_id_refused, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_with_reset_refused, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_never_harvests_twice, setup16, teardown),
		cmocka_unit_test_setup_teardown(test_bitmap_size_must_match_slot, setup16, teardown),
		cmocka_unit_test(test_slots_find),
		cmocka_unit_test(test_reset_once_for_all_rings),
		cmocka_unit_test(test_soft_full),
		cmocka_unit_test(test_bitmap_set_test_clear_count),
		cmocka_unit_test(test_bitmap_iterate),
		cmocka_unit_test(test_bitmap_take),
		cmocka_unit_test(test_bitmap_next_except),
		cmocka_unit_test(test_clear_range_examples),
		cmocka_unit_test(test_clear_range_bad_arguments),
		cmocka_unit_test(test_clear_range_random),
		cmocka_unit_test(test_concurrent_producer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
