// SPDX-License-Identifier: GPL-2.0-only
/* The pages tern writes while a migration runs (written_log.h). */
#include <errno.h>
#include <stdlib.h>

#include "written_log.h"

static size_t nr_words(const struct written_log *wl)
{
	return (size_t)((wl->npages + 63) / 64);
}

int written_log_init(struct written_log *wl, uint64_t npages, unsigned int page_shift)
{
	wl->npages = npages;
	wl->page_shift = page_shift;
	atomic_init(&wl->on, false);
	wl->words = calloc(nr_words(wl) ? nr_words(wl) : 1, sizeof(*wl->words));
	return wl->words ? 0 : -ENOMEM;
}

void written_log_free(struct written_log *wl)
{
	free((void *)wl->words);
	wl->words = NULL;
}

/*
 * The migration thread turns logging on and then reads pages; a device
 * thread writes a page and then checks whether logging is on. The two
 * seq_cst fences (here and in written_log_mark) make this Dekker-like pair
 * safe on a weakly ordered CPU: either the device sees "on" and marks the
 * page, or its write precedes the flag, so the page is read after it.
 */
void written_log_set(struct written_log *wl, bool on)
{
	atomic_store(&wl->on, on);
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * The mark is a release after the write it covers: the harvester's acquire
 * exchange that sees it also sees the data. A mark it misses (made after
 * its exchange) is taken in the next round; the final round runs with the
 * devices paused, so by then every mark is in.
 */
void written_log_mark(struct written_log *wl, uint64_t offset, uint64_t len)
{
	uint64_t first, last;

	atomic_thread_fence(memory_order_seq_cst);
	if (!len || !wl->words || !atomic_load_explicit(&wl->on, memory_order_relaxed))
		return;
	first = offset >> wl->page_shift;
	last = (offset + len - 1) >> wl->page_shift;
	if (first >= wl->npages)
		return;
	if (last >= wl->npages)
		last = wl->npages - 1;
	for (uint64_t p = first; p <= last; p++)
		atomic_fetch_or_explicit(&wl->words[p / 64], 1ULL << (p % 64),
					 memory_order_release);
}

uint64_t written_log_take(struct written_log *wl, uint64_t *words)
{
	uint64_t n = 0;

	for (size_t i = 0; wl->words && i < nr_words(wl); i++) {
		uint64_t w = atomic_exchange_explicit(&wl->words[i], 0, memory_order_acquire);

		words[i] |= w;
		n += (uint64_t)__builtin_popcountll(w);
	}
	return n;
}
