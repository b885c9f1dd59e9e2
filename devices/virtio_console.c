// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-console (VIRTIO 1.2, 5.3) with one port (no MULTIPORT) on a new
 * pseudo-terminal: what the guest writes goes to the pty, what is typed on
 * the pty goes to the guest. The I/O thread never blocks on the pty: output
 * the pty cannot take right now is dropped, as on a serial line without flow
 * control; input waits in the pty until the driver has buffers.
 *
 * tern keeps the slave side open itself, so the master never reports a
 * hang-up when no terminal program is attached.
 *
 * All state is under vdev->lock.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "migration/state.h"
#include "virtio.h"
#include "virtio_devices.h"
#include "vmm/iothread.h"
#include "vmm/log.h"

#define CON_QUEUE_SIZE	256
#define CON_RXQ		0
#define CON_TXQ		1

struct virtio_console {
	struct virtio_device vdev;
	struct virtqueue vqs[2];
	struct iothread *io;		/* watching master */
	int master;
	int slave;
	char path[64];
	struct virtio_console_config config;
	bool active;
	bool broken[2];
	bool rx_held;			/* rx_elem popped, waiting for input */
	struct vq_elem rx_elem;
	struct vq_elem tx_elem;
};

static struct virtio_console *to_con(struct virtio_device *vdev)
{
	return (struct virtio_console *)vdev;
}

static void con_rx(struct virtio_console *c)
{
	struct virtqueue *vq = &c->vqs[CON_RXQ];
	struct vq_elem *e = &c->rx_elem;

	if (!c->active || c->broken[CON_RXQ] || !vq->ready)
		return;
	for (;;) {
		ssize_t r;

		if (!c->rx_held) {
			int ret = vq_pop(vq, e);

			if (ret < 0) {
				c->broken[CON_RXQ] = true;
				virtio_queue_error(&c->vdev, CON_RXQ, ret);
				return;
			}
			if (!ret) {
				if (vq_enable_notify(vq))
					continue;
				return;		/* input waits for an rx kick */
			}
			if (!e->in_len) {
				virtio_complete(&c->vdev, CON_RXQ, e, 0);
				continue;
			}
			c->rx_held = true;
		}
		r = readv(c->master, e->in, (int)e->in_num);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EFAULT) {
			/* A poisoned page among the buffers: replaced now; this
			 * buffer goes back empty and the input waits for the
			 * next one (held, it would fail on every byte to come). */
			iov_touch(e->in, e->in_num);
			virtio_complete(&c->vdev, CON_RXQ, e, 0);
			c->rx_held = false;
			continue;
		}
		if (r <= 0)
			return;			/* EAGAIN: keep the buffer for later */
		virtio_complete(&c->vdev, CON_RXQ, e, (uint32_t)r);
		c->rx_held = false;
	}
}

static void con_tx(struct virtio_console *c)
{
	struct virtqueue *vq = &c->vqs[CON_TXQ];
	struct vq_elem *e = &c->tx_elem;
	int ret;

	if (!c->active || c->broken[CON_TXQ] || !vq->ready)
		return;
	do {
		while ((ret = vq_pop(vq, e)) > 0) {
			/* A full pty (nobody reading) drops the rest. */
			if (e->out_num && writev(c->master, e->out, (int)e->out_num) < 0 &&
			    errno != EAGAIN && errno != EIO) {
				/* nothing else to do with it either */
			}
			virtio_complete(&c->vdev, CON_TXQ, e, 0);
		}
		if (ret < 0) {
			c->broken[CON_TXQ] = true;
			virtio_queue_error(&c->vdev, CON_TXQ, ret);
			return;
		}
	} while (vq_enable_notify(vq));
}

static void con_master_event(void *opaque, uint32_t events)
{
	struct virtio_console *c = opaque;

	pthread_mutex_lock(&c->vdev.lock);
	con_rx(c);
	pthread_mutex_unlock(&c->vdev.lock);
}

static void con_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	struct virtio_console *c = to_con(vdev);

	pthread_mutex_lock(&vdev->lock);
	if (q == CON_RXQ)
		con_rx(c);
	else if (q == CON_TXQ)
		con_tx(c);
	pthread_mutex_unlock(&vdev->lock);
}

static void con_config_read(struct virtio_device *vdev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_console *c = to_con(vdev);

	virtio_config_read_bytes(&c->config, sizeof(c->config), off, data, len);
}

static int con_activate(struct virtio_device *vdev)
{
	to_con(vdev)->active = true;
	return 0;
}

static void con_reset(struct virtio_device *vdev)
{
	struct virtio_console *c = to_con(vdev);

	c->active = false;
	c->broken[CON_RXQ] = c->broken[CON_TXQ] = false;
	c->rx_held = false;
}

/* A receive buffer waiting for input is always the queue's latest pop
 * (con_rx pops only when it holds none): a saved state hands it back. */
static uint16_t con_held(struct virtio_device *vdev, unsigned int q)
{
	return q == CON_RXQ && to_con(vdev)->rx_held;
}

/* Columns, rows and ports: the restored console must look the same. */
static int con_save(struct virtio_device *vdev, struct state_writer *w)
{
	struct virtio_console *c = to_con(vdev);

	virtio_config_save(w, &c->config, sizeof(c->config));
	return 0;
}

static int con_load(struct virtio_device *vdev, struct state_reader *r)
{
	struct virtio_console *c = to_con(vdev);

	return virtio_config_check(r, &c->config, sizeof(c->config));
}

static void con_destroy(struct virtio_device *vdev)
{
	struct virtio_console *c = to_con(vdev);

	if (c->io)
		iothread_del(c->io, c->master);
	if (c->master >= 0)
		close(c->master);
	if (c->slave >= 0)
		close(c->slave);
	if (c->vdev.ops)
		pthread_mutex_destroy(&c->vdev.lock);
	free(c);
}

static const struct virtio_device_ops con_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.config_size = sizeof(struct virtio_console_config),
	.config_read = con_config_read,
	.activate = con_activate,
	.reset = con_reset,
	.queue_notify = con_queue_notify,
	.held = con_held,
	.save = con_save,
	.load = con_load,
	.destroy = con_destroy,
};

/* A new pty, master non-blocking, slave raw and kept open. */
static int con_open_pty(struct virtio_console *c)
{
	struct termios tio;

	c->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (c->master < 0)
		return -errno;
	if (grantpt(c->master) < 0 || unlockpt(c->master) < 0 ||
	    ptsname_r(c->master, c->path, sizeof(c->path)))
		return -errno;
	c->slave = open(c->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->slave < 0)
		return -errno;
	if (tcgetattr(c->slave, &tio) < 0)
		return -errno;
	cfmakeraw(&tio);
	if (tcsetattr(c->slave, TCSANOW, &tio) < 0)
		return -errno;
	return 0;
}

struct virtio_device *virtio_console_create_pty(const struct guest_memory *mem,
						struct iothread *io)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		pr_err("virtio-console: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->master = c->slave = -1;
	ret = con_open_pty(c);
	if (ret < 0) {
		pr_err("virtio-console: cannot create a pseudo-terminal: %s", strerror(-ret));
		goto fail;
	}
	c->config.cols = htole16(80);
	c->config.rows = htole16(25);
	c->config.max_nr_ports = htole32(1);
	ret = virtio_device_init(&c->vdev, &con_ops, c->vqs, 2, CON_QUEUE_SIZE,
				 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1));
	if (ret < 0) {
		pr_err("virtio-console: cannot initialise the device: %s", strerror(-ret));
		goto fail;
	}
	c->vdev.mem = mem;
	c->vdev.io = io;
	c->vqs[CON_RXQ].mem = c->vqs[CON_TXQ].mem = mem;
	if (io) {
		/* Edge-triggered: input left in the pty while the driver has no
		 * buffers does not wake the thread again and again. */
		ret = iothread_add(io, c->master, EPOLLIN | EPOLLET, con_master_event, c);
		if (ret < 0) {
			pr_err("virtio-console: cannot watch %s: %s", c->path, strerror(-ret));
			goto fail;
		}
		c->io = io;
	}
	pr_info("virtio-console port on %s", c->path);
	return &c->vdev;

fail:
	con_destroy(&c->vdev);
	errno = -ret;
	return NULL;
}
