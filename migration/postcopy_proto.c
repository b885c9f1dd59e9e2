// SPDX-License-Identifier: GPL-2.0-only
/* Post-copy's pure half: messages, missing-page book, percentiles. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/le.h"
#include "migration/postcopy_proto.h"

void pc_msg_encode(uint8_t out[PC_MSG_BYTES], const struct pc_msg *msg)
{
	put_le(out, msg->type, 4);
	put_le(out + 4, msg->npages, 4);
	put_le(out + 8, msg->offset, 8);
}

static int refuse(char *err, size_t errlen, const char *what, const struct pc_msg *m)
{
	snprintf(err, errlen, "post-copy message type %" PRIu32 " (offset %#" PRIx64 ", %" PRIu32
		 " pages): %s", m->type, m->offset, m->npages, what);
	return -EBADMSG;
}

static int check_request(const struct pc_msg *m, uint64_t ram_size, uint32_t page_size,
			 char *err, size_t errlen)
{
	if (!page_size || m->offset % page_size)
		return refuse(err, errlen, "offset not page-aligned", m);
	if (!m->npages)
		return refuse(err, errlen, "no pages", m);
	/* offset + npages * page_size <= ram_size, without overflowing. */
	if (m->offset > ram_size || (ram_size - m->offset) / page_size < m->npages)
		return refuse(err, errlen, "outside RAM", m);
	return 0;
}

int pc_msg_decode(const uint8_t in[PC_MSG_BYTES], uint64_t ram_size, uint32_t page_size,
		  struct pc_msg *msg, char *err, size_t errlen)
{
	msg->type = (uint32_t)get_le(in, 4);
	msg->npages = (uint32_t)get_le(in + 4, 4);
	msg->offset = get_le(in + 8, 8);
	switch (msg->type) {
	case PC_MSG_REQUEST:
		return check_request(msg, ram_size, page_size, err, errlen);
	case PC_MSG_DONE:
		if (msg->npages || msg->offset)
			return refuse(err, errlen, "'done' carries no pages", msg);
		return 0;
	}
	return refuse(err, errlen, "unknown type", msg);
}

void pc_params_encode(uint8_t out[PC_PARAMS_BYTES], const struct pc_params *p)
{
	put_le(out, p->recovery_s, 4);
	put_le(out + 4, 0, 4);
}

int pc_params_decode(const uint8_t in[PC_PARAMS_BYTES], struct pc_params *p, char *err,
		     size_t errlen)
{
	uint32_t reserved = (uint32_t)get_le(in + 4, 4);

	p->recovery_s = (uint32_t)get_le(in, 4);
	if (!p->recovery_s || p->recovery_s > POSTCOPY_MAX_RECOVERY_S) {
		snprintf(err, errlen, "post-copy recovery timeout of %" PRIu32 " s; it must be "
			 "from 1 to %u s", p->recovery_s, POSTCOPY_MAX_RECOVERY_S);
		return -EBADMSG;
	}
	if (reserved) {
		snprintf(err, errlen, "post-copy parameters with reserved word %#" PRIx32
			 ", not 0: a newer source?", reserved);
		return -EBADMSG;
	}
	return 0;
}

uint64_t pc_push_due_ns(uint64_t t0_ns, uint64_t bytes, uint64_t cap)
{
	unsigned __int128 due;

	if (!cap)
		return t0_ns;
	due = (unsigned __int128)bytes * 1000000000u / cap + t0_ns;
	return due > UINT64_MAX ? UINT64_MAX : (uint64_t)due;
}

int pc_missing_init(struct pc_missing *pm, uint64_t nr_pages)
{
	memset(pm, 0, sizeof(*pm));
	if (dirty_bitmap_init(&pm->missing, nr_pages))
		return -ENOMEM;
	pm->requested_ns = calloc(nr_pages ? nr_pages : 1, sizeof(*pm->requested_ns));
	if (!pm->requested_ns) {
		dirty_bitmap_free(&pm->missing);
		return -ENOMEM;
	}
	return 0;
}

void pc_missing_free(struct pc_missing *pm)
{
	dirty_bitmap_free(&pm->missing);
	free(pm->requested_ns);
	pm->requested_ns = NULL;
}

int pc_missing_mark(struct pc_missing *pm, uint64_t page)
{
	if (page >= pm->missing.nr_pages)
		return -ERANGE;
	if (dirty_bitmap_test(&pm->missing, page))
		return 0;
	dirty_bitmap_set(&pm->missing, page);
	pm->left++;
	pm->total++;
	return 0;
}

bool pc_missing_test(const struct pc_missing *pm, uint64_t page)
{
	return page < pm->missing.nr_pages && dirty_bitmap_test(&pm->missing, page);
}

enum pc_fault_action pc_missing_fault(struct pc_missing *pm, uint64_t page, uint64_t now_ns)
{
	if (!pc_missing_test(pm, page))
		return PC_FAULT_ZERO;
	if (pm->requested_ns[page])
		return PC_FAULT_WAIT;
	/* 0 means "not asked": a clock reading of 0 still counts as asked. */
	pm->requested_ns[page] = now_ns ? now_ns : 1;
	return PC_FAULT_REQUEST;
}

bool pc_missing_arrived(struct pc_missing *pm, uint64_t page, uint64_t now_ns,
			uint64_t *latency_ns)
{
	uint64_t asked;

	*latency_ns = 0;
	if (!pc_missing_test(pm, page))
		return false;
	dirty_bitmap_clear(&pm->missing, page);
	pm->left--;
	asked = pm->requested_ns[page];
	if (asked)
		*latency_ns = now_ns > asked ? now_ns - asked : 0;
	pm->requested_ns[page] = 0;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

uint64_t pc_percentile(uint64_t *samples, size_t n, unsigned int pct)
{
	size_t rank;

	if (!n)
		return 0;
	if (pct > 100)
		pct = 100;
	qsort(samples, n, sizeof(*samples), cmp_u64);
	/* Nearest rank: the smallest value with at least pct% of samples <= it. */
	rank = (n * pct + 99) / 100;
	return samples[rank ? rank - 1 : 0];
}
