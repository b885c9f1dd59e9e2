/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MACHINE_H
#define TERN_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/dirty_ring.h"
#include "migration/state.h"
#include "migration/stream.h"

struct vm;

/*
 * The pieces of a whole-VM stream (docs/stream-format.md), shared by the
 * snapshot (one pass, VM paused) and live migration (RAM in rounds while
 * the guest runs, the rest once it is paused). The order is always:
 *   header, CONFIG, (RAM | RAM_ZERO)*, CLOCK, VCPU*, GIC, ITS, DEVICE*, END.
 * A post-copy migration adds POSTCOPY, RAM_MISSING* after the last RAM
 * section (docs/postcopy.md); nothing else reads them.
 */

/* ---- writing ---- */

/* Header and CONFIG: what a reader checks before any page. */
int machine_put_prelude(struct vm *vm, struct stream_writer *sw);

struct page_stats {
	uint64_t pages;		/* sent as contents */
	uint64_t zero_pages;	/* sent as RAM_ZERO markers (or skipped) */
	uint64_t bytes;		/* stream bytes of page contents */
	uint64_t deferred;	/* selected, left to a later round (defer) */
};

/* How machine_put_pages() writes. */
struct page_writer {
	bool zero_markers;	/* zero runs as RAM_ZERO; false: left out */
	/* If not NULL, @bounce_len bytes (whole pages): each run is copied
	 * there first, so that a guest still running cannot change the bytes
	 * between the CRC and the write. */
	uint8_t *bounce;
	size_t bounce_len;
	/* If not NULL, selected pages set here when they are reached are
	 * left out: a live round passes what the guest dirtied since it
	 * began, which the next round sends anyway. Sending them now as well
	 * would put them through the channel twice. */
	const struct dirty_bitmap *defer;
	/* If not NULL, called after each section; non-zero stops the writing
	 * with that value (a migration harvests rings and checks for cancel). */
	int (*between)(void *opaque);
	void *opaque;
	struct page_stats stats;	/* added to */
};

/* The pages of RAM that @pages selects (NULL: all of RAM), as RAM sections
 * of non-zero runs and RAM_ZERO sections of zero runs. */
int machine_put_pages(struct vm *vm, struct stream_writer *sw, const struct dirty_bitmap *pages,
		      struct page_writer *pw);

/* The vGIC's pending tables and a quiescent ITS's tables into guest RAM,
 * the ITS registers into @its. The VM is paused (and may be resumed
 * briefly while the ITS drains its command queue). */
int machine_save_gic_tables(struct vm *vm, struct state_writer *its, char *err, size_t errlen);

/* CLOCK, every VCPU, GIC, ITS (from @its), every DEVICE, END. Paused VM. */
int machine_put_state(struct vm *vm, struct stream_writer *sw, const struct state_writer *its);

/* ---- reading ---- */

struct machine_loader {
	struct vm *vm;
	struct stream_reader sr;
	struct stream_section sec;
	int have;			/* 1: sec holds an unread section, 0: at END */
	bool catch_up;			/* CLOCK: catch up with wall time */
	char refusal[STREAM_ERR_MAX];	/* why CONFIG does not fit this VM */
	uint64_t ram_sections;		/* RAM and RAM_ZERO sections read */
	/* Post-copy (migration/postcopy_incoming.c); NULL: POSTCOPY and
	 * RAM_MISSING sections are refused. @params takes the POSTCOPY
	 * payload, @missing each run; @before_state runs after the last RAM
	 * section, before CLOCK is restored. */
	int (*params)(void *opaque, const uint8_t *payload);
	int (*missing)(void *opaque, uint64_t offset, uint64_t npages);
	int (*before_state)(void *opaque);
	void *hook_opaque;
	/* A live migration's destination (migration/incoming.c); NULL: SYNC
	 * sections are refused. Runs when a SYNC is read among the RAM
	 * sections: everything sent before it is in. */
	int (*sync)(void *opaque);
	void *sync_opaque;
	unsigned int syncs;		/* SYNC sections answered */
	/* machine_loader_fresh_ram: the pages a RAM section wrote; no words:
	 * every page of a RAM_ZERO run is checked. */
	struct dirty_bitmap loaded;
};

void machine_loader_init(struct machine_loader *ld, struct vm *vm, stream_read_fn fn,
			 void *opaque, bool catch_up);
/* The VM's RAM is all zero and nothing but this load writes it until the
 * load ends (a VM built to be restored or to receive a migration): RAM_ZERO
 * runs then leave the pages no RAM section wrote unread. -ENOMEM (logged).
 * machine_loader_release frees what it takes. */
int machine_loader_fresh_ram(struct machine_loader *ld);
void machine_loader_release(struct machine_loader *ld);
/* Header and CONFIG, reading nothing past CONFIG (a migration source
 * waits for the answer before it sends more). -EPROTO if the machine
 * differs, with the difference in ld->refusal; other -errno for a bad
 * stream (logged). Both loaders mark what they refuse in the stream as bad
 * input (vm_refuse_input: exit status 2); a failed read or KVM call is not.
 * The post-copy hooks refuse a payload with -EBADMSG. */
int machine_load_prelude(struct machine_loader *ld);
/* Everything after CONFIG, in the documented order, up to END. The
 * devices must be paused. -errno (logged). */
int machine_load_rest(struct machine_loader *ld);

#endif
