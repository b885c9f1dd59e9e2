// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-net (VIRTIO 1.2, 5.1) on a tap interface, without offloads.
 *
 * The tap carries a 12-byte vnet header (struct virtio_net_hdr_mrg_rxbuf) in
 * front of every frame, the same layout as the driver's, so TX passes the
 * guest's chain to writev() as is, and RX reads a whole frame into a host
 * buffer, then spreads it over as many receive buffers as it needs
 * (mergeable rx buffers) with num_buffers set in the first.
 *
 * RX runs when the tap is readable (edge-triggered on the I/O thread) and on
 * an rx kick. A frame that finds no receive buffers waits, read but not
 * delivered, until the driver adds some; the tap is not read meanwhile.
 *
 * All state is under vdev->lock (the I/O thread takes it; the transport holds
 * it around activate/reset).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "migration/state.h"
#include "virtio.h"
#include "virtio_devices.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "vmm/log.h"
#include "vmm/memfault.h"

#define NET_QUEUE_SIZE	256
#define NET_RXQ		0
#define NET_TXQ		1
#define NET_HDR_LEN	sizeof(struct virtio_net_hdr_mrg_rxbuf)	/* 12 */
/* vnet header + the largest frame a tap hands over: a 64 KiB GSO packet
 * plus its Ethernet header. */
#define NET_PKT_MAX	(NET_HDR_LEN + 65536 + 64)
#define NET_RX_MAX_BUFS	64			/* receive buffers for one frame */
/* Checksum and TSO both ways, offered when the backend is a tap. */
#define NET_OFFLOAD_FEATURES						\
	((1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |	\
	 (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |	\
	 (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6))

struct virtio_net {
	struct virtio_device vdev;
	struct virtqueue vqs[2];
	struct iothread *io;		/* watching fd */
	int fd;
	char name[IFNAMSIZ];
	struct virtio_net_config config;
	bool active;
	bool tap_offloads;		/* fd takes TUNSETOFFLOAD: offer csum/TSO */
	bool broken[2];			/* vq_pop failed: wait for a reset */

	/* RX: one frame read from the tap and not yet delivered, and the
	 * receive buffers popped for it so far. */
	uint8_t *pkt;
	size_t pkt_len;			/* 0: none */
	struct vq_elem *rx_pool;	/* NET_RX_MAX_BUFS */
	struct vq_elem *rx_bufs[NET_RX_MAX_BUFS];
	unsigned int rx_nbufs;
	uint64_t rx_space;		/* bytes in rx_bufs */
	uint32_t rx_used_len[NET_RX_MAX_BUFS];

	struct vq_elem tx_elem;
};

static struct virtio_net *to_net(struct virtio_device *vdev)
{
	return (struct virtio_net *)vdev;
}

/* Publishes the first @n receive buffers at once (the caller interrupts): the
 * driver must never see a frame's first buffer without the others. */
static void net_rx_push(struct virtio_net *n, unsigned int cnt)
{
	struct virtqueue *vq = &n->vqs[NET_RXQ];

	int ret = 0;

	for (unsigned int i = 0; !ret && i < cnt; i++)
		ret = vq_fill(vq, n->rx_bufs[i], n->rx_used_len[i], i);
	if (!ret)
		ret = vq_flush(vq, cnt);
	if (ret < 0) {
		n->broken[NET_RXQ] = true;
		virtio_queue_error(&n->vdev, NET_RXQ, -EFAULT);
		return;
	}
}

/*
 * A buffer page that was poisoned is replaced under this thread while the
 * frame is copied (vmm/memfault_service.c), and the frame would reach the
 * guest partly on zeros. It is dropped as a receive error instead: each of
 * its buffers goes back with length 0, which the driver drops as too short
 * (drivers/net/virtio_net.c, receive_buf()).
 */
static void net_rx_drop_lost(struct virtio_net *n, unsigned int used)
{
	for (unsigned int i = 0; i < used; i++)
		n->rx_used_len[i] = 0;
	pr_warn_ratelimited(&n->vdev.io_error_log,
			    "virtio-net: a receive buffer's page was lost (memory error) while a frame was copied into it: frame dropped");
}

/* Copies the pending frame into the receive buffers (they hold enough). */
static void net_rx_deliver(struct virtio_net *n, bool mrg)
{
	struct virtio_net_hdr_mrg_rxbuf *hdr = (void *)n->pkt;
	unsigned int used = 0, losses = memfault_thread_losses();
	size_t off = 0;

	/* The tap leaves num_buffers alone: count the buffers first. */
	for (uint64_t room = 0; room < n->pkt_len; used++)
		room += n->rx_bufs[used]->in_len;
	hdr->num_buffers = htole16(mrg ? used : 1);
	for (unsigned int i = 0; i < used; i++) {
		struct vq_elem *e = n->rx_bufs[i];
		size_t chunk = n->pkt_len - off;

		if (chunk > e->in_len)
			chunk = e->in_len;
		n->rx_used_len[i] = (uint32_t)iov_from_buf(e->in, e->in_num, 0, n->pkt + off, chunk);
		off += chunk;
		n->rx_space -= e->in_len;
	}
	if (memfault_thread_losses() != losses)
		net_rx_drop_lost(n, used);
	net_rx_push(n, used);

	/* Buffers left over (from a dropped frame) move to the front. */
	for (unsigned int i = used; i < n->rx_nbufs; i++) {
		struct vq_elem *e = n->rx_bufs[i - used];

		n->rx_bufs[i - used] = n->rx_bufs[i];
		n->rx_bufs[i] = e;
	}
	n->rx_nbufs -= used;
	n->pkt_len = 0;
}

/* Reads the next frame into n->pkt. false: nothing to read now. */
static bool net_rx_read(struct virtio_net *n)
{
	for (;;) {
		ssize_t r = read(n->fd, n->pkt, NET_PKT_MAX);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;		/* EAGAIN, or the backend went away */
		if ((size_t)r <= NET_HDR_LEN)
			continue;		/* a runt: drop */
		n->pkt_len = (size_t)r;
		return true;
	}
}

/* Throws away what the tap has while no driver listens. */
static void net_rx_discard(struct virtio_net *n)
{
	while (net_rx_read(n))
		n->pkt_len = 0;
}

static void net_rx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->vqs[NET_RXQ];
	bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	unsigned int max_bufs = mrg ? NET_RX_MAX_BUFS : 1;

	if (!n->active || n->broken[NET_RXQ] || !vq->ready) {
		net_rx_discard(n);
		return;
	}
	for (;;) {
		if (!n->pkt_len && !net_rx_read(n))
			return;
		while (n->rx_space < n->pkt_len && n->rx_nbufs < max_bufs) {
			struct vq_elem *e = n->rx_bufs[n->rx_nbufs];
			int ret = vq_pop(vq, e);

			if (ret < 0) {
				n->broken[NET_RXQ] = true;
				virtio_queue_error(&n->vdev, NET_RXQ, ret);
				return;
			}
			if (!ret) {
				if (vq_enable_notify(vq))
					continue;
				return;		/* the frame waits for an rx kick */
			}
			if (!e->in_len) {
				virtio_push(&n->vdev, NET_RXQ, e, 0);
				continue;
			}
			n->rx_nbufs++;
			n->rx_space += e->in_len;
		}
		if (n->rx_space < n->pkt_len) {
			/* Too big for what the driver gives: drop the frame,
			 * keep the buffers for the next one. */
			n->pkt_len = 0;
			continue;
		}
		net_rx_deliver(n, mrg);
	}
}

static void net_tx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->vqs[NET_TXQ];
	struct vq_elem *e = &n->tx_elem;
	int ret;

	if (!n->active || n->broken[NET_TXQ] || !vq->ready)
		return;
	do {
		while ((ret = vq_pop(vq, e)) > 0) {
			/* The guest's header goes through as the tap's vnet header. */
			if (e->out_len > NET_HDR_LEN && writev(n->fd, e->out, (int)e->out_num) < 0 &&
			    errno != EAGAIN)
				pr_warn_ratelimited(&n->vdev.io_error_log,
						    "virtio-net %s: cannot send: %m (dropping frames)",
						    n->name);
			virtio_push(&n->vdev, NET_TXQ, e, 0);
		}
		if (ret < 0) {
			n->broken[NET_TXQ] = true;
			virtio_queue_error(&n->vdev, NET_TXQ, ret);
			return;
		}
	} while (vq_enable_notify(vq));
}

static void net_fd_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;

	pthread_mutex_lock(&n->vdev.lock);
	net_rx(n);
	virtio_notify(&n->vdev, NET_RXQ);
	pthread_mutex_unlock(&n->vdev.lock);
}

static void net_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	struct virtio_net *n = to_net(vdev);

	pthread_mutex_lock(&vdev->lock);
	if (q == NET_RXQ)
		net_rx(n);
	else if (q == NET_TXQ)
		net_tx(n);
	/* One interrupt for the whole batch, as the event index allows. */
	if (q < 2)
		virtio_notify(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

static void net_config_read(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = to_net(vdev);

	virtio_config_read_bytes(&n->config, sizeof(n->config), off, data, len);
}

/*
 * The tap may hand us checksum-less and GSO frames only if the guest said it
 * takes them (GUEST_CSUM, GUEST_TSO*): the vnet header then carries them to
 * the driver unchanged. Frames the guest sends with HOST_* offloads go to
 * the tap as they are; the host kernel segments them.
 */
static unsigned int tap_offloads_for(const struct virtio_device *vdev)
{
	unsigned int flags = 0;

	if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM)) {
		flags |= TUN_F_CSUM;
		if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
	}
	return flags;
}

static int net_activate(struct virtio_device *vdev)
{
	struct virtio_net *n = to_net(vdev);

	if (n->tap_offloads && ioctl(n->fd, TUNSETOFFLOAD, tap_offloads_for(vdev)) < 0) {
		pr_err("virtio-net %s: TUNSETOFFLOAD: %m", n->name);
		return -errno;
	}
	n->active = true;
	return 0;
}

static void net_reset(struct virtio_device *vdev)
{
	struct virtio_net *n = to_net(vdev);

	/* Popped buffers belong to the old driver: forget them. */
	n->active = false;
	n->broken[NET_RXQ] = n->broken[NET_TXQ] = false;
	n->pkt_len = 0;
	n->rx_nbufs = 0;
	n->rx_space = 0;
	/* A new driver may take fewer offloads: plain frames until it says. */
	if (n->tap_offloads)
		ioctl(n->fd, TUNSETOFFLOAD, 0);
}

/*
 * Receive buffers popped for a frame still to come go back to the ring in
 * a saved state: net_rx pops them in ring order and hands out the oldest
 * first, so those it holds are its latest pops. (Unless the driver queued
 * zero-length buffers among them, which net_rx uses at once: the restored
 * device then uses those twice. Only a driver that breaks the spec can
 * tell, and only about its own buffers.) The frame itself, host data, is
 * not saved: one frame lost, as on a real link.
 */
static uint16_t net_held(struct virtio_device *vdev, unsigned int q)
{
	return q == NET_RXQ ? (uint16_t)to_net(vdev)->rx_nbufs : 0;
}

/* The MAC, link status and queue pairs come from the configuration: the
 * restored NIC must be the same NIC to its driver. The tap is the new
 * process's own, opened from its configuration. */
static int net_save(struct virtio_device *vdev, struct state_writer *w)
{
	struct virtio_net *n = to_net(vdev);

	virtio_config_save(w, &n->config, sizeof(n->config));
	return 0;
}

static int net_load(struct virtio_device *vdev, struct state_reader *r)
{
	struct virtio_net *n = to_net(vdev);

	return virtio_config_check(r, &n->config, sizeof(n->config));
}

static void net_destroy(struct virtio_device *vdev)
{
	struct virtio_net *n = to_net(vdev);

	if (n->io)
		iothread_del(n->io, n->fd);
	if (n->fd >= 0)
		close(n->fd);
	if (n->vdev.ops)
		pthread_mutex_destroy(&n->vdev.lock);
	free(n->pkt);
	free(n->rx_pool);
	free(n);
}

static const struct virtio_device_ops net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	/* mac, status, max_virtqueue_pairs; the rest needs features not offered */
	.config_size = offsetof(struct virtio_net_config, mtu),
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.held = net_held,
	.save = net_save,
	.load = net_load,
	.destroy = net_destroy,
};

struct virtio_device *virtio_net_create_fd(int fd, const struct net_config *cfg,
					   const struct guest_memory *mem,
					   struct iothread *io)
{
	uint64_t features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			    (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			    (1ULL << VIRTIO_F_VERSION_1);
	struct virtio_net *n = calloc(1, sizeof(*n));
	int ret = -ENOMEM;

	if (!n) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	n->fd = fd;
	snprintf(n->name, sizeof(n->name), "%s", cfg->tap ? cfg->tap : "(fd)");
	n->pkt = malloc(NET_PKT_MAX);
	n->rx_pool = calloc(NET_RX_MAX_BUFS, sizeof(*n->rx_pool));
	if (!n->pkt || !n->rx_pool)
		goto fail;
	for (unsigned int i = 0; i < NET_RX_MAX_BUFS; i++)
		n->rx_bufs[i] = &n->rx_pool[i];
	memcpy(n->config.mac, cfg->mac, sizeof(n->config.mac));
	n->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	n->config.max_virtqueue_pairs = htole16(1);

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		ret = -errno;
		goto fail;
	}
	n->tap_offloads = ioctl(fd, TUNSETOFFLOAD, 0) == 0;
	if (n->tap_offloads)
		features |= NET_OFFLOAD_FEATURES;
	ret = virtio_device_init(&n->vdev, &net_ops, n->vqs, 2, NET_QUEUE_SIZE, features);
	if (ret < 0)
		goto fail;
	n->vdev.mem = mem;
	n->vdev.io = io;
	n->vqs[NET_RXQ].mem = n->vqs[NET_TXQ].mem = mem;
	if (io) {
		/* Edge-triggered: a frame left unread while the driver has no
		 * buffers does not wake the thread again and again. */
		ret = iothread_add(io, fd, EPOLLIN | EPOLLET, net_fd_event, n);
		if (ret < 0)
			goto fail;
		n->io = io;
	}
	return &n->vdev;

fail:
	pr_err("virtio-net %s: cannot create the device: %s", n->name, strerror(-ret));
	net_destroy(&n->vdev);
	errno = -ret;
	return NULL;
}

/* Opens tap @name with a 12-byte vnet header; a negative errno after a
 * message saying what to fix. */
static int net_open_tap(const char *name, char *actual)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = NET_HDR_LEN;
	int fd, err;

	if (name && strlen(name) >= IFNAMSIZ) {
		pr_err("tap %s: name longer than %d characters", name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT || err == ENODEV || err == ENXIO)
			pr_err("tap %s: cannot open /dev/net/tun: %s (is the tun module loaded? modprobe tun)",
			       name ? name : "", strerror(err));
		else
			pr_err("tap %s: cannot open /dev/net/tun: %s", name ? name : "",
			       strerror(err));
		return -err;
	}
	if (name)
		memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = errno;
		if (err == EPERM || err == EACCES)
			pr_err("tap %s: permission denied (create it for this user: ip tuntap add dev %s mode tap user $USER vnet_hdr)",
			       name ? name : "", name ? name : "tapN");
		else if (err == EBUSY)
			pr_err("tap %s: in use by another process (or not a multi-queue-less tap)",
			       name ? name : "");
		else if (err == EINVAL)
			pr_err("tap %s: an interface of that name exists and is not a tap with a vnet header",
			       name ? name : "");
		else
			pr_err("tap %s: TUNSETIFF: %s", name ? name : "", strerror(err));
		close(fd);
		return -err;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		err = errno;
		pr_err("tap %s: cannot set the vnet header size: %s", ifr.ifr_name, strerror(err));
		close(fd);
		return -err;
	}
	memcpy(actual, ifr.ifr_name, IFNAMSIZ);
	actual[IFNAMSIZ - 1] = '\0';
	return fd;
}

struct virtio_device *virtio_net_create(const struct net_config *cfg,
					const struct guest_memory *mem, struct iothread *io)
{
	struct net_config named = *cfg;
	struct virtio_device *vdev;
	char ifname[IFNAMSIZ];
	int fd = net_open_tap(cfg->tap, ifname);

	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	named.tap = ifname;
	vdev = virtio_net_create_fd(fd, &named, mem, io);
	if (vdev && !cfg->tap)
		pr_info("virtio-net on tap %s", ifname);
	return vdev;
}
