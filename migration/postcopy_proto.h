/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_POSTCOPY_PROTO_H
#define TERN_POSTCOPY_PROTO_H

/*
 * Post-copy's pure half (docs/postcopy.md, docs/stream-format.md "Post-copy
 * page channel"): the destination's messages to the source, the
 * destination's book of missing pages, and latency percentiles. No socket,
 * no userfaultfd: unit-tested natively.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/dirty_ring.h"
#include "migration/stream.h"

/* Source -> destination: RAM and RAM_ZERO sections of at most this many
 * pages (the destination refuses larger ones). */
#define POSTCOPY_SECTION_PAGES	256

/*
 * The POSTCOPY section of the main stream, sent once before the first
 * RAM_MISSING: how the source runs this post-copy, so that both sides wait
 * equally long for a lost page channel (docs/stream-format.md).
 */
#define PC_PARAMS_BYTES			STREAM_POSTCOPY_BYTES
#define POSTCOPY_DEFAULT_RECOVERY_S	60
#define POSTCOPY_MAX_RECOVERY_S		3600

struct pc_params {
	uint32_t recovery_s;	/* wait for a lost page channel, 1..POSTCOPY_MAX_RECOVERY_S */
};

void pc_params_encode(uint8_t out[PC_PARAMS_BYTES], const struct pc_params *p);
/* Decodes and checks (the timeout in range, the reserved word 0);
 * -EBADMSG with a message in @err. */
int pc_params_decode(const uint8_t in[PC_PARAMS_BYTES], struct pc_params *p, char *err,
		     size_t errlen);

/* When the background push may send more (monotonic ns): @bytes pushed
 * since @t0_ns at @cap bytes/s; @t0_ns itself without a cap (0). No
 * overflow for any input. */
uint64_t pc_push_due_ns(uint64_t t0_ns, uint64_t bytes, uint64_t cap);

/* Destination -> source on the page channel: fixed 16-byte messages. */
#define PC_MSG_BYTES	16

enum pc_msg_type {
	PC_MSG_REQUEST = 1,	/* send these pages now: offset, npages */
	PC_MSG_DONE = 2,	/* the destination has every page; offset and npages 0 */
};

struct pc_msg {
	uint32_t type;
	uint32_t npages;
	uint64_t offset;	/* byte offset into RAM */
};

void pc_msg_encode(uint8_t out[PC_MSG_BYTES], const struct pc_msg *msg);
/* Decodes and checks a message from the peer against RAM of @ram_size
 * bytes in @page_size pages: known type; a REQUEST page-aligned, at least
 * one page, inside RAM (no sum that could overflow); a DONE all zero.
 * -EBADMSG with a message in @err. */
int pc_msg_decode(const uint8_t in[PC_MSG_BYTES], uint64_t ram_size, uint32_t page_size,
		  struct pc_msg *msg, char *err, size_t errlen);

/*
 * The destination's pages still missing, and when each was asked for.
 * requested_ns[p] is 0 for a page nobody faulted on yet.
 */
struct pc_missing {
	struct dirty_bitmap missing;
	uint64_t *requested_ns;
	uint64_t left;			/* pages still missing */
	uint64_t total;			/* pages missing at switch-over */
};

int pc_missing_init(struct pc_missing *pm, uint64_t nr_pages);
void pc_missing_free(struct pc_missing *pm);
/* Page @page is missing (switch-over). -ERANGE outside RAM. */
int pc_missing_mark(struct pc_missing *pm, uint64_t page);
bool pc_missing_test(const struct pc_missing *pm, uint64_t page);

enum pc_fault_action {
	PC_FAULT_REQUEST,	/* missing, first fault: ask the source */
	PC_FAULT_WAIT,		/* missing, already asked: its arrival wakes the faulter */
	PC_FAULT_ZERO,		/* not missing yet not mapped: a zero page never written */
};
/* What a fault on @page at @now_ns calls for; records the request time. */
enum pc_fault_action pc_missing_fault(struct pc_missing *pm, uint64_t page, uint64_t now_ns);

/* Page @page arrived at @now_ns. Returns true if it was missing (then the
 * caller installs it), with the fault-to-arrival latency in *@latency_ns if
 * a fault had asked for it (else 0). */
bool pc_missing_arrived(struct pc_missing *pm, uint64_t page, uint64_t now_ns,
			uint64_t *latency_ns);

/* The @pct-th percentile (0..100, nearest rank) of @n samples, sorting
 * them in place; 0 for no samples. */
uint64_t pc_percentile(uint64_t *samples, size_t n, unsigned int pct);

#endif
