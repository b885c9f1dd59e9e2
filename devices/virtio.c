// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "virtio.h"
#include "vmm/log.h"

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
	pr_warn("%s: queue %u: the driver's ring is invalid (%s); device needs reset",
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
