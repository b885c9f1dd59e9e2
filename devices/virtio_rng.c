// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-rng (VIRTIO 1.2, 5.4): every writable buffer the driver queues is
 * filled from getrandom(2), at most RNG_MAX_REQ bytes per request so the I/O
 * thread never spends long on one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "virtio.h"
#include "virtio_devices.h"
#include "vmm/log.h"

#define RNG_QUEUE_SIZE	256
#define RNG_MAX_REQ	(64U << 10)

struct virtio_rng {
	struct virtio_device vdev;
	struct virtqueue vq;
	bool active;
	bool broken;
	struct vq_elem elem;
};

/* Fills @buf; returns the bytes obtained, less on an error (errno set). */
static size_t rng_get(void *buf, size_t len)
{
	size_t done = 0;

	errno = 0;

	while (done < len) {
		ssize_t r = getrandom((uint8_t *)buf + done, len - done, GRND_NONBLOCK);

		/* EAGAIN: the kernel's pool is not initialised yet; that is
		 * early in the host's boot and short: wait for it. */
		if (r < 0 && errno == EAGAIN)
			r = getrandom((uint8_t *)buf + done, len - done, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return done;
}

static uint32_t rng_fill(const struct vq_elem *e)
{
	size_t total = 0;

	for (unsigned int i = 0; i < e->in_num && total < RNG_MAX_REQ; i++) {
		size_t chunk = e->in[i].iov_len;
		size_t got;

		if (chunk > RNG_MAX_REQ - total)
			chunk = RNG_MAX_REQ - total;
		got = rng_get(e->in[i].iov_base, chunk);
		total += got;
		if (got < chunk && errno == EFAULT) {
			/* A poisoned page: replaced now, and the request ends
			 * with what was written before it, never on the new
			 * page (what the guest had there is gone). */
			iov_touch(&e->in[i], 1);
			break;
		}
		if (got < chunk)
			break;
	}
	return (uint32_t)total;
}

static void rng_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	struct virtio_rng *r = (struct virtio_rng *)vdev;
	int ret;

	pthread_mutex_lock(&vdev->lock);
	if (q || !r->active || r->broken || !r->vq.ready)
		goto out;
	do {
		while ((ret = vq_pop(&r->vq, &r->elem)) > 0)
			virtio_complete(vdev, 0, &r->elem, rng_fill(&r->elem));
		if (ret < 0) {
			r->broken = true;
			virtio_queue_error(vdev, 0, ret);
			goto out;
		}
	} while (vq_enable_notify(&r->vq));
out:
	pthread_mutex_unlock(&vdev->lock);
}

static void rng_config_read(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len)
{
	memset(data, 0, len);		/* no configuration space */
}

static int rng_activate(struct virtio_device *vdev)
{
	((struct virtio_rng *)vdev)->active = true;
	return 0;
}

static void rng_reset(struct virtio_device *vdev)
{
	struct virtio_rng *r = (struct virtio_rng *)vdev;

	r->active = false;
	r->broken = false;
}

static void rng_destroy(struct virtio_device *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
	free(vdev);
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.config_size = 0,
	.config_read = rng_config_read,
	.activate = rng_activate,
	.reset = rng_reset,
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(const struct guest_memory *mem, struct iothread *io)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r) {
		pr_err("virtio-rng: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ret = virtio_device_init(&r->vdev, &rng_ops, &r->vq, 1, RNG_QUEUE_SIZE,
				 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1));
	if (ret < 0) {
		pr_err("virtio-rng: cannot initialise the device: %s", strerror(-ret));
		free(r);
		errno = -ret;
		return NULL;
	}
	r->vdev.mem = mem;
	r->vdev.io = io;
	r->vq.mem = mem;
	return &r->vdev;
}
