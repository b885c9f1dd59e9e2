/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VIRTIO_H
#define TERN_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtqueue.h"
#include "vmm/log.h"

/*
 * A virtio device model, independent of its transport (devices/virtio_pci.c).
 * The transport owns feature negotiation, status, queue setup and interrupts;
 * the model owns its config space, its queues' contents and its backend.
 *
 * Threads: config_read/config_write run on vCPU threads, with vdev->lock held
 * by the transport. queue_notify runs on the VM's I/O thread with the lock
 * NOT held; the model takes it if it touches state the vCPU side also uses.
 * activate/reset run with the lock held, from a vCPU thread.
 */
struct virtio_device;
struct iothread;
struct state_writer;
struct state_reader;

struct virtio_device_ops {
	const char *name;		/* "virtio-blk" */
	uint16_t device_id;		/* VIRTIO_ID_* */
	uint32_t config_size;
	void (*config_read)(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_device *vdev, uint32_t off, const void *data,
			     uint32_t len);
	/* The driver set DRIVER_OK: queues are set up, features final. -errno
	 * makes the transport set DEVICE_NEEDS_RESET. */
	int (*activate)(struct virtio_device *vdev);
	/* Back to the initial state; in-flight requests completed or dropped. */
	void (*reset)(struct virtio_device *vdev);
	/* The driver kicked queue @q (I/O thread). */
	void (*queue_notify)(struct virtio_device *vdev, unsigned int q);
	/*
	 * Snapshots (all optional, all with vdev->lock held and the I/O thread
	 * paused). quiesce finishes (not drops) every request in flight, so
	 * that nothing changes until queue_notify runs again. held tells how
	 * many chains of queue @q the device popped and keeps unused for later
	 * (receive buffers waiting for input); they must be the queue's most
	 * recent pops: the saved state hands them back to the ring, and the
	 * restored device pops them again. save/load: the model's own state,
	 * after the common part (virtio_device_save); save may refuse with
	 * -EBUSY when a request is still in flight.
	 */
	int (*quiesce)(struct virtio_device *vdev);
	uint16_t (*held)(struct virtio_device *vdev, unsigned int q);
	int (*save)(struct virtio_device *vdev, struct state_writer *w);
	int (*load)(struct virtio_device *vdev, struct state_reader *r);
	void (*destroy)(struct virtio_device *vdev);
};

struct virtio_transport_ops {
	/* Raise queue @q's interrupt (used buffers); from any thread. */
	void (*notify_queue)(struct virtio_device *vdev, unsigned int q);
	/* Raise the configuration-change interrupt. */
	void (*notify_config)(struct virtio_device *vdev);
	/* The device hit an error it cannot recover from (a bad ring). */
	void (*needs_reset)(struct virtio_device *vdev);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	const struct virtio_transport_ops *transport;
	void *transport_priv;
	pthread_mutex_t lock;
	const struct guest_memory *mem;
	struct iothread *io;		/* where queue_notify runs; backends add fds here */
	uint64_t host_features;		/* offered by the model (VERSION_1 added by transport) */
	uint64_t guest_features;	/* accepted by the driver */
	uint8_t status;
	unsigned int nr_queues;
	uint16_t queue_max_size;
	struct virtqueue *vqs;
	/* Guest-triggered messages (vmm/log.h): a ring found invalid; the
	 * backend's I/O failing (a disk's io_uring, a tap's writes). */
	struct ratelimit queue_error_log;
	struct ratelimit io_error_log;
};

/* Initialises the common part; @vqs is an array of @nr_queues. */
int virtio_device_init(struct virtio_device *vdev, const struct virtio_device_ops *ops,
		       struct virtqueue *vqs, unsigned int nr_queues, uint16_t queue_max_size,
		       uint64_t host_features);

static inline bool virtio_has_feature(const struct virtio_device *vdev, unsigned int bit)
{
	return vdev->guest_features & (1ULL << bit);
}

/* Pushes @elem with @len bytes written and raises the queue's interrupt if
 * the driver wants one. */
void virtio_complete(struct virtio_device *vdev, unsigned int q, const struct vq_elem *elem,
		     uint32_t len);

/* The same in two steps, for a batch: push each element, then raise at most
 * one interrupt for all of them (what the driver's event index asks for). */
int virtio_push(struct virtio_device *vdev, unsigned int q, const struct vq_elem *elem,
		uint32_t len);
void virtio_notify(struct virtio_device *vdev, unsigned int q);

/* Copies [off, off + len) of a model's config structure for a guest read;
 * bytes outside it read as zero. */
void virtio_config_read_bytes(const void *config, size_t size, uint32_t off, void *data,
			      uint32_t len);

/* Device status bits a driver can set, and the device's NEEDS_RESET;
 * the transport ignores the others. */
#define VIRTIO_STATUS_KNOWN	0xcf

/*
 * Snapshot state common to every model: device status, features offered
 * and accepted, each queue (virtqueue.h), then the model's own (ops->save),
 * all behind the model's name so that another model refuses it. Load checks
 * every value against this device (same offer, same queues, legal status,
 * features accepted among those offered once FEATURES_OK is set) and leaves
 * the device idle: virtio_device_revive then makes it live again, without
 * touching the rings' indices. Each takes vdev->lock.
 */
int virtio_device_save(struct virtio_device *vdev, struct state_writer *w);
int virtio_device_load(struct virtio_device *vdev, struct state_reader *r);
/* After a load: a driver that had set DRIVER_OK gets its device active again
 * (ops->activate: backends set up as the features say). -errno. */
int virtio_device_revive(struct virtio_device *vdev);
/* ops->quiesce under the lock (the I/O thread must be paused). -errno. */
int virtio_device_quiesce(struct virtio_device *vdev);

/* For a model's save/load: a configuration structure that the guest cannot
 * write, derived from the backend, must be the same on both sides (a disk
 * of another size, a NIC with another MAC would surprise the driver). */
void virtio_config_save(struct state_writer *w, const void *config, uint32_t size);
int virtio_config_check(struct state_reader *r, const void *config, uint32_t size);

/* A queue error from vq_pop: log once with the device and queue, and ask the
 * transport for NEEDS_RESET. */
void virtio_queue_error(struct virtio_device *vdev, unsigned int q, int err);

#endif
