/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_RAM_PAGES_H
#define TERN_RAM_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/dirty_ring.h"

/*
 * Zero pages of guest RAM, for the snapshot and migration streams' writer
 * (which sends runs of them as RAM_ZERO or leaves them out) and reader
 * (which clears what a RAM_ZERO run names). No KVM: unit-tested.
 */

/* @len a multiple of 64. */
bool ram_page_is_zero(const uint8_t *p, size_t len);

/*
 * A reader whose RAM was all zero when the load began keeps @loaded, the
 * pages a RAM section wrote since: ram_pages_mark adds pages [first,
 * first + npages) (those past its end are ignored).
 *
 * ram_pages_clear makes pages [first, first + npages) of @ram zero. With
 * @loaded, only the pages set in it are read (and cleared unless zero
 * already, then dropped from it): the others are zero and stay unread, so
 * untouched RAM is not faulted in. Without (NULL), every page is read.
 */
void ram_pages_mark(struct dirty_bitmap *loaded, uint64_t first, uint64_t npages);
void ram_pages_clear(uint8_t *ram, size_t page, struct dirty_bitmap *loaded, uint64_t first,
		     uint64_t npages);

#endif
