// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "migration/state.h"
#include "device_state.h"
#include "virtio.h"
#include "vmm/log.h"

#define VIRTIO_STATE_VERSION	1
#define VIRTIO_CONFIG_MAX	256	/* largest model config structure saved */

int virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops,
		       struct virtqueue *vqs, unsigned int nr_queues, uint16_t queue_max_size,
		       uint64_t host_features)
{
	if (!nr_queues || queue_max_size > VQ_MAX_SIZE ||
	    (queue_max_size & (queue_max_size - 1)))
		return -EINVAL;
	vdev->ops = ops;
	vdev->vqs = vqs;
	vdev->nr_queues = nr_queues;
	vdev->queue_max_size = queue_max_size;
	vdev->host_features = host_features | (1ULL << VIRTIO_F_VERSION_1);
	vdev->guest_features = 0;
	vdev->status = 0;
	for (unsigned int i = 0; i < nr_queues; i++) {
		memset(&vqs[i], 0, sizeof(vqs[i]));
		vqs[i].size = queue_max_size;
	}
	ratelimit_init(&vdev->queue_error_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&vdev->io_error_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	return -pthread_mutex_init(&vdev->lock, NULL);
}

int virtio_push(struct virtio_device *vdev, unsigned int q, const struct vq_elem *elem,
		uint32_t len)
{
	int ret = vq_push(&vdev->vqs[q], elem, len);

	if (ret < 0)
		virtio_queue_error(vdev, q, -EFAULT);
	return ret;
}

void virtio_notify(struct virtio_device *vdev, unsigned int q)
{
	if (vq_should_notify(&vdev->vqs[q]))
		vdev->transport->notify_queue(vdev, q);
}

void virtio_complete(struct virtio_device *vdev, unsigned int q, const struct vq_elem *elem,
		     uint32_t len)
{
	if (virtio_push(vdev, q, elem, len) == 0)
		virtio_notify(vdev, q);
}

void virtio_queue_error(struct virtio_device *vdev, unsigned int q, int err)
{
	pr_warn_ratelimited(&vdev->queue_error_log,
			    "%s: queue %u: the driver's ring is invalid (%s); device needs reset",
			    vdev->ops->name, q, strerror(-err));
	vdev->transport->needs_reset(vdev);
}

void virtio_config_read_bytes(const void *config, size_t size, uint32_t off, void *data,
			      uint32_t len)
{
	memset(data, 0, len);
	if (off < size && len <= size - off)
		memcpy(data, (const uint8_t *)config + off, len);
}

/* ---- snapshots ------------------------------------------------------------ */

static uint16_t chains_held(struct virtio_device *vdev, unsigned int q)
{
	return vdev->ops->held ? vdev->ops->held(vdev, q) : 0;
}

int virtio_device_save(struct virtio_device *vdev, struct state_writer *w)
{
	int ret = 0;

	pthread_mutex_lock(&vdev->lock);
	dev_state_begin(w, vdev->ops->name, VIRTIO_STATE_VERSION);
	/* NEEDS_RESET may be set from the I/O thread, lock or not. */
	sw_u8(w, __atomic_load_n(&vdev->status, __ATOMIC_ACQUIRE));
	sw_u64(w, vdev->host_features);
	sw_u64(w, vdev->guest_features);
	sw_u16(w, (uint16_t)vdev->nr_queues);
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		vq_save(&vdev->vqs[q], chains_held(vdev, q), w);
	if (vdev->ops->save)
		ret = vdev->ops->save(vdev, w);
	pthread_mutex_unlock(&vdev->lock);
	return ret ? ret : w->err;
}

/*
 * What a transport lets a driver reach: defined status bits only, and
 * FEATURES_OK only with VERSION_1 and nothing that was not offered. Before
 * FEATURES_OK a driver may have written any feature bits. The offer itself
 * follows from the configuration (read-only disk, tap offloads): another
 * one means another device.
 */
static int check_negotiation(const struct virtio_device *vdev, uint8_t status,
			     uint64_t offered, uint64_t accepted, struct state_reader *r)
{
	if (status & ~VIRTIO_STATUS_KNOWN)
		return sr_fail(r, "device status 0x%02x has undefined bits", status);
	if (offered != vdev->host_features)
		return sr_fail(r, "features offered 0x%llx, this device offers 0x%llx",
			       (unsigned long long)offered,
			       (unsigned long long)vdev->host_features);
	if (!(status & VIRTIO_CONFIG_S_FEATURES_OK))
		return 0;
	if (accepted & ~offered)
		return sr_fail(r, "features 0x%llx accepted but never offered",
			       (unsigned long long)(accepted & ~offered));
	if (!(accepted & (1ULL << VIRTIO_F_VERSION_1)))
		return sr_fail(r, "FEATURES_OK without VERSION_1 (features 0x%llx)",
			       (unsigned long long)accepted);
	return 0;
}

int virtio_device_load(struct virtio_device *vdev, struct state_reader *r)
{
	uint8_t status;
	uint64_t offered, accepted;
	unsigned int nr_queues;

	if (dev_state_check(r, vdev->ops->name, VIRTIO_STATE_VERSION))
		return r->err;
	status = sr_u8(r);
	offered = sr_u64(r);
	accepted = sr_u64(r);
	nr_queues = sr_u16(r);
	if (!sr_ok(r) || check_negotiation(vdev, status, offered, accepted, r))
		return r->err;
	if (nr_queues != vdev->nr_queues)
		return sr_fail(r, "%u queues, this device has %u", nr_queues, vdev->nr_queues);

	pthread_mutex_lock(&vdev->lock);
	for (unsigned int q = 0; sr_ok(r) && q < nr_queues; q++)
		vq_load(&vdev->vqs[q], vdev->queue_max_size, q, r);
	if (sr_ok(r)) {
		vdev->guest_features = accepted;
		__atomic_store_n(&vdev->status, status, __ATOMIC_RELEASE);
	}
	if (sr_ok(r) && vdev->ops->load)
		vdev->ops->load(vdev, r);
	pthread_mutex_unlock(&vdev->lock);
	return r->err;
}

int virtio_device_revive(struct virtio_device *vdev)
{
	uint8_t live = VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET;
	int ret = 0;

	pthread_mutex_lock(&vdev->lock);
	/* A device that asked for a reset waits for it, as it did before. */
	if ((vdev->status & live) == VIRTIO_CONFIG_S_DRIVER_OK && vdev->ops->activate)
		ret = vdev->ops->activate(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

int virtio_device_quiesce(struct virtio_device *vdev)
{
	int ret = 0;

	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->quiesce)
		ret = vdev->ops->quiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

void virtio_config_save(struct state_writer *w, const void *config, uint32_t size)
{
	sw_u32(w, size);
	sw_bytes(w, config, size);
}

int virtio_config_check(struct state_reader *r, const void *config, uint32_t size)
{
	const uint8_t *mine = config;
	uint8_t saved[VIRTIO_CONFIG_MAX];
	uint32_t n = sr_u32(r);

	if (!sr_ok(r))
		return r->err;
	if (n != size || n > sizeof(saved))
		return sr_fail(r, "configuration of %u bytes, this device has %u", n, size);
	sr_bytes(r, saved, n);
	for (uint32_t i = 0; sr_ok(r) && i < n; i++)
		if (saved[i] != mine[i])
			return sr_fail(r, "configuration byte %u is 0x%02x, this device has 0x%02x: its backend differs",
				       i, saved[i], mine[i]);
	return r->err;
}
