// SPDX-License-Identifier: GPL-2.0-only
/* Zero pages of guest RAM: see ram_pages.h. */
#include <string.h>

#include "migration/ram_pages.h"

/* Eight words a step: half the instructions of one word a step (which
 * counts under an emulator too), and a page with data mostly shows it in
 * its first bytes. */
bool ram_page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i += 8)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3] | q[i + 4] | q[i + 5] | q[i + 6] |
		    q[i + 7])
			return false;
	return true;
}

void ram_pages_mark(struct dirty_bitmap *loaded, uint64_t first, uint64_t npages)
{
	for (uint64_t p = first; p < first + npages && p < loaded->nr_pages; p++)
		dirty_bitmap_set(loaded, p);
}

/* Only a page that is not zero already is written: a destination's
 * untouched RAM stays unbacked. */
static void clear_page(uint8_t *hva, size_t page)
{
	if (!ram_page_is_zero(hva, page))
		memset(hva, 0, page);
}

void ram_pages_clear(uint8_t *ram, size_t page, struct dirty_bitmap *loaded, uint64_t first,
		     uint64_t npages)
{
	uint64_t p, end = first + npages;

	if (!loaded) {
		for (p = first; p < end; p++)
			clear_page(ram + p * page, page);
		return;
	}
	for (p = dirty_bitmap_next(loaded, first); p < end; p = dirty_bitmap_next(loaded, p + 1)) {
		clear_page(ram + p * page, page);
		dirty_bitmap_clear(loaded, p);
	}
}
