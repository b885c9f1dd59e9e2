/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_WRITTEN_LOG_H
#define TERN_WRITTEN_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The guest pages tern itself writes while a migration runs. KVM's dirty
 * log (rings or bitmap) records only writes through the guest's stage 2;
 * what the device models write through the host mapping - data for a read
 * request, a received frame, the used ring - KVM never sees. Without this
 * log, a page sent before such a write would reach the destination stale.
 *
 * Device threads mark pages after writing them; the migration thread takes
 * the marks into its dirty set each round. One bit per page.
 */
struct written_log {
	_Atomic uint64_t *words;
	uint64_t npages;
	unsigned int page_shift;
	_Atomic bool on;
};

/* For @npages pages of 1 << @page_shift bytes, logging off. -ENOMEM. */
int written_log_init(struct written_log *wl, uint64_t npages, unsigned int page_shift);
void written_log_free(struct written_log *wl);

/* Logging on (before the first round reads any page) or off. */
void written_log_set(struct written_log *wl, bool on);

/* Marks the pages of [@offset, @offset + @len) of RAM written, if logging
 * is on. Call it after the write. Any thread. */
void written_log_mark(struct written_log *wl, uint64_t offset, uint64_t len);

/* ORs the marks into @words (one bit per page, as many words as the log
 * has) and clears them; returns how many pages were marked. Migration
 * thread, before it reads the pages. */
uint64_t written_log_take(struct written_log *wl, uint64_t *words);

#endif
