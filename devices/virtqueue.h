/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VIRTQUEUE_H
#define TERN_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/memory.h"

struct state_writer;
struct state_reader;

/*
 * A split virtqueue (VIRTIO 1.x, 2.7), device side. Everything in guest
 * memory is written by a guest that is not trusted: every address, length,
 * index and chain is validated before use, and a violation is reported as an
 * error for the device to act on (fail the request or set NEEDS_RESET) —
 * never a crash and never an access outside guest RAM.
 *
 * Memory ordering follows the spec's driver/device protocol: avail->idx is
 * read with acquire semantics before the ring entries it covers; the used
 * element is written before used->idx is published with release semantics;
 * the event-index check is ordered after the used->idx store (full fence).
 *
 * One thread at a time per queue (the device's I/O thread).
 */
#define VQ_MAX_SIZE	1024		/* queue size: a power of two, 1..VQ_MAX_SIZE */
#define VQ_MAX_SEGS	VQ_MAX_SIZE	/* descriptors in one chain, indirect ones included */

struct virtqueue {
	const struct guest_memory *mem;
	uint16_t size;			/* set by the driver through the transport */
	bool ready;
	bool event_idx;			/* VIRTIO_F_RING_EVENT_IDX negotiated */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	uint16_t last_avail_idx;	/* next avail entry to take */
	uint16_t used_idx;		/* next used entry to fill */
	uint16_t signalled_used;	/* used_idx at the last interrupt */
	bool signalled_used_valid;
};

/* One request: the chain's device-readable segments, then its
 * device-writable ones, as host addresses inside guest RAM. */
struct vq_elem {
	uint16_t head;
	unsigned int out_num;		/* readable (driver -> device) */
	unsigned int in_num;		/* writable (device -> driver) */
	uint64_t out_len;		/* total bytes of out[] */
	uint64_t in_len;		/* total bytes of in[] */
	struct iovec out[VQ_MAX_SEGS];
	struct iovec in[VQ_MAX_SEGS];
};

/* Checks the ring addresses the driver programmed (alignment, inside guest
 * RAM for the whole ring size) and arms the queue. -EINVAL if not valid. */
int vq_enable(struct virtqueue *vq);
void vq_reset(struct virtqueue *vq);

/*
 * Takes the next available chain. Returns 1 with @elem filled, 0 when the
 * ring is empty, or a negative errno when the guest wrote something invalid:
 *   -EINVAL  avail->idx moved by more than the queue size; descriptor index
 *            out of range; a loop or a chain longer than the queue; a
 *            zero-length indirect table, one not a multiple of 16 bytes,
 *            larger than VQ_MAX_SIZE entries, nested indirect, or NEXT set
 *            together with INDIRECT; a readable descriptor after a writable one
 *   -EFAULT  a buffer or indirect table not entirely inside guest RAM
 * After an error the queue is not usable until reset.
 */
int vq_pop(struct virtqueue *vq, struct vq_elem *elem);

/* Returns a chain to the driver with @len bytes written into its in[]
 * segments. -EFAULT if the used ring is outside RAM (vq_enable checked it). */
int vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t len);

/* Several chains published at once (e.g. one received packet spread over
 * mergeable buffers): vq_fill writes the @nth used element after the
 * current used index without publishing it; vq_flush publishes @count of
 * them with one release store of used->idx, so the driver sees all or none. */
int vq_fill(struct virtqueue *vq, const struct vq_elem *elem, uint32_t len, unsigned int nth);
int vq_flush(struct virtqueue *vq, unsigned int count);

/* Whether the driver wants an interrupt for what was pushed since the last
 * one (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool vq_should_notify(struct virtqueue *vq);

/* With EVENT_IDX: tell the driver to kick when avail reaches the current
 * last_avail_idx (avail_event), so no kick is missed after the device goes
 * idle. Returns true if more buffers arrived meanwhile (process again). */
bool vq_enable_notify(struct virtqueue *vq);

/*
 * Snapshot state of the queue: its setup, indices and event-index shadow
 * (the rings themselves are guest RAM). vq_save hands back the @held most
 * recent chains popped and not yet used (see virtio_device_ops.held).
 * vq_load refuses what the transport would not have accepted (a size that
 * is not a power of two up to @max_size, an enabled queue whose rings are
 * misaligned or outside vq->mem) and indices that say requests were in
 * flight; messages name queue @q. The queue is unchanged on refusal.
 */
void vq_save(const struct virtqueue *vq, uint16_t held, struct state_writer *w);
int vq_load(struct virtqueue *vq, uint16_t max_size, unsigned int q, struct state_reader *r);

/*
 * The kernel failed a copy into (or out of) guest buffers with EFAULT: a
 * page of them may be poisoned, which a system call reports as EFAULT
 * rather than with SIGBUS. Reads each page from this thread, so a
 * poisoned one raises SIGBUS here and is replaced (vmm/memfault_service.c);
 * the device then fails the request rather than retry onto the new page.
 */
void iov_touch(const struct iovec *iov, unsigned int n);

/* Copies between an element's segments and a flat buffer (for headers that a
 * driver may split across descriptors). Return bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
		    size_t len);

#endif
