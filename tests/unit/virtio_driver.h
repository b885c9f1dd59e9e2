/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A minimal virtio driver for device-model tests: a fake guest RAM with
 * split rings in it, a fake transport that records interrupts, and helpers
 * that queue chains and wait for them to be used. Header-only; each test
 * includes it once.
 */
#ifndef TERN_TEST_VIRTIO_DRIVER_H
#define TERN_TEST_VIRTIO_DRIVER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "devices/virtio.h"
#include "vmm/memory.h"

#define DRV_RAM_GPA	0x40000000ULL
#define DRV_RAM_SIZE	(4ULL << 20)
#define DRV_QSIZE	64
#define DRV_RING_BYTES	0x4000			/* one queue's three rings */
#define DRV_DATA_GPA	(DRV_RAM_GPA + 0x10000)	/* buffers from here */

struct drv_queue {
	struct virtqueue *vq;
	uint64_t base;				/* desc, then avail, then used */
	uint16_t avail_idx;
	uint16_t used_seen;
	uint16_t next_desc;
};

struct drv {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct drv_queue q[2];
	uint64_t brk;				/* next free buffer gpa */
	unsigned int notified[2];
	unsigned int needs_reset;
};

struct drv_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;				/* device-writable */
};

static inline struct drv *drv_of(struct virtio_device *vdev)
{
	return vdev->transport_priv;
}

static inline void drv_notify_queue(struct virtio_device *vdev, unsigned int q)
{
	__atomic_add_fetch(&drv_of(vdev)->notified[q & 1], 1, __ATOMIC_SEQ_CST);
}

static inline void drv_notify_config(struct virtio_device *vdev)
{
}

static inline void drv_needs_reset(struct virtio_device *vdev)
{
	__atomic_add_fetch(&drv_of(vdev)->needs_reset, 1, __ATOMIC_SEQ_CST);
}

static const struct virtio_transport_ops drv_transport = {
	.notify_queue = drv_notify_queue,
	.notify_config = drv_notify_config,
	.needs_reset = drv_needs_reset,
};

static inline int drv_ram_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
	d->mem.gpa = DRV_RAM_GPA;
	d->mem.size = DRV_RAM_SIZE;
	d->mem.hva = aligned_alloc(4096, DRV_RAM_SIZE);
	if (!d->mem.hva)
		return -1;
	memset(d->mem.hva, 0, DRV_RAM_SIZE);
	d->brk = DRV_DATA_GPA;
	return 0;
}

static inline void *drv_hva(struct drv *d, uint64_t gpa)
{
	return d->mem.hva + (gpa - DRV_RAM_GPA);
}

/* A buffer of @len bytes, 512-aligned, filled with @fill. */
static inline uint64_t drv_alloc(struct drv *d, uint32_t len, int fill)
{
	uint64_t gpa = d->brk;

	d->brk += (len + 511) & ~511ULL;
	if (d->brk > DRV_RAM_GPA + DRV_RAM_SIZE)
		abort();
	memset(drv_hva(d, gpa), fill, len);
	return gpa;
}

/* Takes over @vdev as its transport would, sets up @nr queues, accepts all
 * features offered (minus @drop), and sets DRIVER_OK. */
static inline int drv_attach(struct drv *d, struct virtio_device *vdev, unsigned int nr,
		      uint64_t drop)
{
	d->vdev = vdev;
	vdev->transport = &drv_transport;
	vdev->transport_priv = d;
	pthread_mutex_lock(&vdev->lock);
	vdev->guest_features = vdev->host_features & ~drop;
	for (unsigned int i = 0; i < nr; i++) {
		struct drv_queue *q = &d->q[i];

		q->vq = &vdev->vqs[i];
		q->base = DRV_RAM_GPA + i * DRV_RING_BYTES;
		q->vq->size = DRV_QSIZE;
		q->vq->desc_gpa = q->base;
		q->vq->avail_gpa = q->base + 16 * DRV_QSIZE;
		q->vq->used_gpa = q->base + 0x2000;
		q->vq->event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
		if (vq_enable(q->vq) < 0) {
			pthread_mutex_unlock(&vdev->lock);
			return -1;
		}
	}
	vdev->status = 0xf;	/* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
	if (vdev->ops->activate(vdev) < 0) {
		pthread_mutex_unlock(&vdev->lock);
		return -1;
	}
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

static inline struct vring_avail *drv_avail(struct drv *d, unsigned int qi)
{
	return drv_hva(d, d->q[qi].vq->avail_gpa);
}

static inline struct vring_used *drv_used(struct drv *d, unsigned int qi)
{
	return drv_hva(d, d->q[qi].vq->used_gpa);
}

/* Queues a chain of @n segments; returns its head. No kick. */
static inline uint16_t drv_add(struct drv *d, unsigned int qi, const struct drv_seg *segs,
			unsigned int n)
{
	struct drv_queue *q = &d->q[qi];
	struct vring_desc *table = drv_hva(d, q->vq->desc_gpa);
	uint16_t head = q->next_desc;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % DRV_QSIZE);
		struct vring_desc *desc = &table[idx];

		desc->addr = segs[i].gpa;
		desc->len = segs[i].len;
		desc->flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
			      (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		desc->next = (uint16_t)((idx + 1) % DRV_QSIZE);
	}
	q->next_desc = (uint16_t)((head + n) % DRV_QSIZE);
	drv_avail(d, qi)->ring[q->avail_idx % DRV_QSIZE] = head;
	q->avail_idx++;
	__atomic_store_n(&drv_avail(d, qi)->idx, q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static inline void drv_kick(struct drv *d, unsigned int qi)
{
	d->vdev->ops->queue_notify(d->vdev, qi);
}

/* Waits (up to 5 s) for the next used element; returns 0 with its id and
 * length, or -ETIMEDOUT. */
static inline int drv_wait_used(struct drv *d, unsigned int qi, uint16_t *id, uint32_t *len)
{
	struct drv_queue *q = &d->q[qi];
	struct vring_used *u = drv_used(d, qi);

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != q->used_seen) {
			struct vring_used_elem *e = &u->ring[q->used_seen % DRV_QSIZE];

			*id = (uint16_t)e->id;
			*len = e->len;
			q->used_seen++;
			return 0;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* Nothing more used within @ms. */
static inline bool drv_idle(struct drv *d, unsigned int qi, unsigned int ms)
{
	usleep(ms * 1000);
	return __atomic_load_n(&drv_used(d, qi)->idx, __ATOMIC_ACQUIRE) == d->q[qi].used_seen;
}

#endif
