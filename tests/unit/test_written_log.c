// SPDX-License-Identifier: GPL-2.0-only
/*
 * The log of pages tern itself writes during a migration: which pages a
 * mark covers, that nothing is logged while off, that a take clears, and -
 * with a device thread writing while a "migration" thread copies what it
 * takes - that the copy ends identical to the source.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/written_log.h"

#define SHIFT	12
#define PAGE	(1u << SHIFT)

static void test_marks(void **state)
{
	struct written_log wl;
	uint64_t words[2] = { 0 };

	assert_int_equal(written_log_init(&wl, 100, SHIFT), 0);
	written_log_mark(&wl, 0, PAGE);			/* off: nothing */
	assert_int_equal(written_log_take(&wl, words), 0);
	assert_int_equal(words[0], 0);

	written_log_set(&wl, true);
	written_log_mark(&wl, 5, 1);			/* page 0 */
	written_log_mark(&wl, 2 * PAGE - 1, 2);		/* pages 1 and 2 */
	written_log_mark(&wl, 70 * PAGE, 0);		/* empty: nothing */
	written_log_mark(&wl, 64 * PAGE, PAGE);		/* page 64, second word */
	written_log_mark(&wl, 99 * PAGE, 10 * PAGE);	/* clipped at page 99 */
	written_log_mark(&wl, 100 * PAGE, PAGE);	/* past the end: nothing */
	assert_int_equal(written_log_take(&wl, words), 5);
	assert_int_equal(words[0], 0x7);
	assert_int_equal(words[1], 1ULL << 0 | 1ULL << 35);
	/* Taken means cleared; a take ORs into what the caller has. */
	assert_int_equal(written_log_take(&wl, words), 0);
	written_log_mark(&wl, 3 * PAGE, 1);
	assert_int_equal(written_log_take(&wl, words), 1);
	assert_int_equal(words[0], 0xf);

	written_log_set(&wl, false);
	written_log_mark(&wl, 10 * PAGE, 1);
	assert_int_equal(written_log_take(&wl, words), 0);
	written_log_free(&wl);
}

/* ---- a device thread against a migration thread */

#define NPAGES		256
#define WRITES		200000

struct race {
	struct written_log wl;
	_Atomic uint64_t *src;		/* one word of "data" per page */
	uint64_t dst[NPAGES];
	_Atomic int done;
};

static void *device(void *arg)
{
	struct race *r = arg;
	uint64_t x = 88172645463325252ULL;

	for (uint64_t i = 1; i <= WRITES; i++) {
		unsigned int p;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p = (unsigned int)(x % NPAGES);
		atomic_store_explicit(&r->src[p], i, memory_order_relaxed);
		written_log_mark(&r->wl, (uint64_t)p * PAGE, 8);
	}
	atomic_store(&r->done, 1);
	return NULL;
}

static void copy_taken(struct race *r)
{
	uint64_t words[NPAGES / 64] = { 0 };

	written_log_take(&r->wl, words);
	for (unsigned int p = 0; p < NPAGES; p++)
		if (words[p / 64] >> (p % 64) & 1)
			r->dst[p] = atomic_load_explicit(&r->src[p], memory_order_relaxed);
}

static void test_concurrent_writer(void **state)
{
	struct race *r = calloc(1, sizeof(*r));
	pthread_t t;

	assert_non_null(r);
	r->src = calloc(NPAGES, sizeof(*r->src));
	assert_non_null(r->src);
	assert_int_equal(written_log_init(&r->wl, NPAGES, SHIFT), 0);
	/* Logging on, then "round 0" copies every page while the device runs. */
	written_log_set(&r->wl, true);
	assert_int_equal(pthread_create(&t, NULL, device, r), 0);
	for (unsigned int p = 0; p < NPAGES; p++)
		r->dst[p] = atomic_load_explicit(&r->src[p], memory_order_relaxed);
	while (!atomic_load(&r->done))
		copy_taken(r);
	/* The final round: the device is stopped ("paused"). */
	pthread_join(t, NULL);
	copy_taken(r);
	for (unsigned int p = 0; p < NPAGES; p++)
		if (r->dst[p] != atomic_load(&r->src[p]))
			fail_msg("page %u: copied %llu, source %llu", p,
				 (unsigned long long)r->dst[p],
				 (unsigned long long)atomic_load(&r->src[p]));
	written_log_free(&r->wl);
	free((void *)r->src);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marks),
		cmocka_unit_test(test_concurrent_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
