/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VIRTIO_DEVICES_H
#define TERN_VIRTIO_DEVICES_H

/*
 * The virtio device models. Each constructor opens its backend and returns a
 * device ready for a transport (devices/virtio_pci.c), or NULL with errno set
 * after a message that names the backend and the reason. The device is freed
 * by its ops->destroy.
 */
struct virtio_device;
struct guest_memory;
struct iothread;
struct disk_config;
struct net_config;

/* A raw file or block device: requests through io_uring on @io. */
struct virtio_device *virtio_blk_create(const struct disk_config *cfg,
					const struct guest_memory *mem, struct iothread *io);

/* A tap interface named by @cfg (opened here with a vnet header). */
struct virtio_device *virtio_net_create(const struct net_config *cfg,
					const struct guest_memory *mem, struct iothread *io);
/* The same on an already open packet fd (a tap set up with a 12-byte vnet
 * header, or a SOCK_SEQPACKET/SOCK_DGRAM socket in tests); takes @fd. */
struct virtio_device *virtio_net_create_fd(int fd, const struct net_config *cfg,
					   const struct guest_memory *mem,
					   struct iothread *io);

/* Entropy from getrandom(2). */
struct virtio_device *virtio_rng_create(const struct guest_memory *mem, struct iothread *io);

/* One console port on a new pseudo-terminal, announced on stderr. */
struct virtio_device *virtio_console_create_pty(const struct guest_memory *mem,
						struct iothread *io);

#endif
