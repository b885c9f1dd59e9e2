/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_POSTCOPY_H
#define TERN_POSTCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


#include "migration/channel_sec.h"
#include "migration/dirty_ring.h"
#include "migration/stream.h"

struct vm;
struct postcopy_source;

/* Pre-copy rounds before a post-copy migration switches over (round 0,
 * which sends every page once, is the first). */
#define POSTCOPY_PRECOPY_ROUNDS		1
/* One send on the page channel blocks at most this long. */
#define POSTCOPY_SEND_TIMEOUT_S		10

/*
 * Post-copy switch-over, source side (docs/postcopy.md). The VM is paused
 * and pre-copy has run; @unsent holds the pages dirtied since they were
 * last sent. Sends on @sw the pages KVM wrote itself (GIC and ITS tables:
 * the destination's restore reads them), POSTCOPY with @pp's recovery_s
 * (how long either side waits for a lost page channel, docs/postcopy.md
 * "Losing the connection") and the RAM_MISSING runs, then opens
 * the page channel to @uri and starts serving it, then sends the device
 * state and END. On success *@out serves pages until postcopy_source_wait.
 * -errno with the reason in @err.
 */
struct postcopy_params {
	unsigned int recovery_s;	/* 1..POSTCOPY_MAX_RECOVERY_S */
	uint64_t push_mib_per_s;	/* background push cap; 0: none */
	struct channel_sec sec;		/* as the main stream's */
	uint8_t token[CHANNEL_TOKEN_LEN]; /* from the destination's "accept" */
};

int postcopy_switchover(struct vm *vm, struct stream_writer *sw, const char *uri,
			const struct postcopy_params *pp, const struct dirty_bitmap *unsent,
			struct postcopy_source **out, char *err, size_t errlen);

/* Waits until the destination has every page (0), or the channel was lost
 * for good (-errno, reason in @err). A broken channel is reconnected for
 * up to the recovery timeout first. */
int postcopy_source_wait(struct postcopy_source *ps, char *err, size_t errlen);
/* Stops serving (a migration that failed before the acknowledgement) and
 * frees. NULL is fine. */
void postcopy_source_free(struct postcopy_source *ps);

/* Drops the page channel so that the server opens a new one
 * (migrate-reconnect: a connection stuck on a dead path). -ENOTCONN while
 * there is none. Any thread. */
int postcopy_source_reconnect(struct postcopy_source *ps);

/* For 'status' and the final report: pages left, on demand, pushed. */
struct postcopy_source_stats {
	uint64_t pages_missing;		/* at the switch-over */
	uint64_t pages_on_demand, pages_pushed;
	uint64_t reconnects;
};
void postcopy_source_stats(struct postcopy_source *ps, struct postcopy_source_stats *st);
void postcopy_source_summary(struct postcopy_source *ps, char *buf, size_t len);

#endif
