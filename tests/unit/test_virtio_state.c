// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device snapshots, the virtio devices (blk, net, rng, console) under a fake
 * driver: state saved mid-work loads into a fresh device, saves again
 * byte-identical, and the device carries on; virtio-blk completes what is in
 * flight before a save; damaged or foreign states are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/uart16550.h"
#include "devices/virtio_devices.h"
#include "migration/state.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "vmm/layout.h"
#include "state_check.h"
#include "virtio_driver.h"

/* ---------------------------------------------------------------- virtio */

#define DISK_SECTORS	256

/* One virtio device under a fake driver (virtio_driver.h). */
struct vfix {
	struct drv d;
	struct iothread *io;
	struct virtio_device *vdev;
	char disk[64];
	int peer;			/* virtio-net: the host network's end */
};

static struct vfix vf;

static int make_disk(char *path, size_t size, unsigned int sectors)
{
	uint8_t buf[512];
	int fd;

	snprintf(path, size, "/tmp/tern-state-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	for (unsigned int s = 0; s < sectors; s++) {
		memset(buf, s & 0xff, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), s * 512LL) != sizeof(buf))
			return -1;
	}
	close(fd);
	return 0;
}

static int vfix_setup(void)
{
	memset(&vf, 0, sizeof(vf));
	vf.peer = -1;
	if (drv_ram_init(&vf.d) < 0)
		return -1;
	vf.io = iothread_create();
	return vf.io && iothread_start(vf.io) == 0 ? 0 : -1;
}

static int vfix_teardown(void **state)
{
	iothread_stop(vf.io);
	if (vf.vdev)
		vf.vdev->ops->destroy(vf.vdev);
	iothread_destroy(vf.io);
	if (vf.disk[0])
		unlink(vf.disk);
	if (vf.peer >= 0)
		close(vf.peer);
	free(vf.d.mem.hva);
	return 0;
}

/* As the snapshot code does: I/O thread paused, requests finished, save. */
static void vsave(struct virtio_device *vdev, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(iothread_pause(vf.io), 0);
	assert_int_equal(virtio_device_quiesce(vdev), 0);
	assert_int_equal(virtio_device_save(vdev, w), 0);
	iothread_resume(vf.io);
}

/* Loads @w into @fresh, makes it live, and moves the driver over to it
 * (the old device is gone, as in a new process). */
static void vrestore(struct virtio_device *fresh, const struct state_writer *w)
{
	struct state_reader r;

	assert_non_null(fresh);
	vf.vdev->ops->destroy(vf.vdev);
	fresh->transport = &drv_transport;
	fresh->transport_priv = &vf.d;
	assert_int_equal(iothread_pause(vf.io), 0);
	sr_init(&r, w->buf, w->len);
	if (virtio_device_load(fresh, &r) || sr_finish(&r))
		fail_msg("refused: %s", r.msg);
	assert_int_equal(virtio_device_revive(fresh), 0);
	iothread_resume(vf.io);
	vf.vdev = vf.d.vdev = fresh;
	for (unsigned int q = 0; q < fresh->nr_queues && q < 2; q++)
		vf.d.q[q].vq = &fresh->vqs[q];
}

static uint16_t last_avail(unsigned int q)
{
	uint16_t v;

	pthread_mutex_lock(&vf.vdev->lock);
	v = vf.vdev->vqs[q].last_avail_idx;
	pthread_mutex_unlock(&vf.vdev->lock);
	return v;
}

/* Waits (up to 5 s) for the device to have popped @n chains of queue @q. */
static void wait_popped(unsigned int q, uint16_t n)
{
	for (int i = 0; i < 5000 && last_avail(q) != n; i++)
		usleep(1000);
	assert_int_equal(last_avail(q), n);
}

/* Loads into fresh devices that @create makes on the fixture's RAM. */
static int vload(void *obj, struct state_reader *r)
{
	return virtio_device_load(obj, r);
}

static void vdestroy(void *obj)
{
	struct virtio_device *vdev = obj;

	vdev->ops->destroy(vdev);
}

/* Offsets in a virtio device's state, as virtio.c and virtqueue.c write it. */
#define VST_STATUS(h)		(h)
#define VST_OFFERED(h)		((h) + 1)
#define VST_ACCEPTED(h)		((h) + 9)
#define VST_QUEUE(h, q)		((h) + 19 + 35 * (q))
#define VQ_SIZE			0
#define VQ_READY		2
#define VQ_DESC			4
#define VQ_USED			20
#define VQ_LAST_AVAIL		28

/* ---- virtio-blk */

static uint8_t blk_request(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
			   bool data_in)
{
	uint64_t hdr = drv_alloc(&vf.d, sizeof(struct virtio_blk_outhdr), 0);
	uint64_t st = drv_alloc(&vf.d, 1, 0xee);
	struct virtio_blk_outhdr *h = drv_hva(&vf.d, hdr);
	struct drv_seg segs[3] = {
		{ hdr, sizeof(*h), false }, { data, len, data_in }, { st, 1, true },
	};
	uint16_t head, id;
	uint32_t ulen;

	h->type = type;
	h->sector = sector;
	head = drv_add(&vf.d, 0, segs, 3);
	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &ulen), 0);
	assert_int_equal(id, head);
	return *(uint8_t *)drv_hva(&vf.d, st);
}

static struct virtio_device *blk_new(const char *path, bool readonly, struct iothread *io)
{
	struct disk_config cfg = { .path = path, .readonly = readonly };

	return virtio_blk_create(&cfg, &vf.d.mem, io);
}

static void *blk_create(void *path)
{
	return blk_new(path ? path : vf.disk, false, NULL);
}

static void *blk_create_ro(void *unused)
{
	return blk_new(vf.disk, true, NULL);
}

/* io_uring may be disabled (sysctl kernel.io_uring_disabled, seccomp). */
static bool have_io_uring(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static int setup_blk(void **state)
{
	if (!have_io_uring()) {
		memset(&vf, 0, sizeof(vf));
		vf.peer = -1;
		return 0;
	}
	if (vfix_setup() < 0 || make_disk(vf.disk, sizeof(vf.disk), DISK_SECTORS) < 0)
		return -1;
	vf.vdev = blk_new(vf.disk, false, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 1, 0) : -1;
}

/* A write and a read served, so both indices are at 2. */
static void blk_busy_state(void)
{
	uint64_t buf = drv_alloc(&vf.d, 1024, 0x77);

	assert_int_equal(blk_request(VIRTIO_BLK_T_OUT, 8, buf, 1024, false), VIRTIO_BLK_S_OK);
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 3, buf, 512, true), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)drv_hva(&vf.d, buf), 3);
}

static void test_blk_round_trip(void **state)
{
	struct state_writer w1, w2;
	uint64_t buf;

	if (!vf.vdev)
		skip();
	buf = drv_alloc(&vf.d, 1024, 0);
	blk_busy_state();
	vsave(vf.vdev, &w1);
	vrestore(blk_new(vf.disk, false, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);

	/* The next request comes from avail entry 2 and is used at entry 2. */
	assert_int_equal(vf.d.q[0].used_seen, 2);
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 8, buf, 1024, true), VIRTIO_BLK_S_OK);
	assert_int_equal(drv_used(&vf.d, 0)->idx, 3);
	assert_int_equal(((uint8_t *)drv_hva(&vf.d, buf))[1023], 0x77);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

/* Requests in flight when the pause comes are completed, not dropped. */
static void test_blk_quiesce_completes(void **state)
{
	uint64_t bufs, hdrs, st;
	struct state_writer w;

	if (!vf.vdev)
		skip();
	/* 16 chains of 3 descriptors fit the fake driver's 64-entry queue. */
	bufs = drv_alloc(&vf.d, 16 * 4096, 0);
	hdrs = drv_alloc(&vf.d, 16 * 16, 0);
	st = drv_alloc(&vf.d, 16, 0xee);
	for (unsigned int i = 0; i < 16; i++) {
		struct virtio_blk_outhdr *h = drv_hva(&vf.d, hdrs + 16 * i);
		struct drv_seg segs[3] = {
			{ hdrs + 16 * i, 16, false },
			{ bufs + 4096 * i, 4096, true },
			{ st + i, 1, true },
		};

		h->type = VIRTIO_BLK_T_IN;
		h->sector = 8 * i % DISK_SECTORS;
		drv_add(&vf.d, 0, segs, 3);
	}
	drv_kick(&vf.d, 0);
	vsave(vf.vdev, &w);
	/* Done before the save: every status written, every chain used. */
	assert_int_equal(drv_used(&vf.d, 0)->idx, 16);
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(((uint8_t *)drv_hva(&vf.d, st))[i], VIRTIO_BLK_S_OK);
		assert_int_equal(((uint8_t *)drv_hva(&vf.d, bufs))[4096 * i], (8 * i) & 0xff);
	}
	sw_free(&w);
}

static void test_blk_refusals(void **state)
{
	struct model blk = { blk_create, vload, vdestroy, NULL };
	struct model blk_ro = { blk_create_ro, vload, vdestroy, NULL };
	size_t h = header_len("virtio-blk"), q0 = VST_QUEUE(h, 0);
	char small[64];
	struct state_writer w, rng;
	struct virtio_device *r;

	if (!vf.vdev)
		skip();
	blk_busy_state();
	vsave(vf.vdev, &w);
	assert_loads(&blk, &w);
	assert_truncations_refused(&blk, &w);

	assert_refused_with(&blk, &w, q0 + VQ_SIZE, 48, 2, "size 48 is not a power of two");
	assert_refused_with(&blk, &w, q0 + VQ_SIZE, 512, 2, "size 512");
	assert_refused_with(&blk, &w, q0 + VQ_DESC, 0x1000, 8, "descriptor table at 0x1000");
	assert_refused_with(&blk, &w, q0 + VQ_DESC, DRV_RAM_GPA + DRV_RAM_SIZE - 512, 8,
			    "descriptor table");
	assert_refused_with(&blk, &w, q0 + VQ_USED, DRV_RAM_GPA + 2, 8, "used ring");
	assert_refused_with(&blk, &w, q0 + VQ_READY, 3, 1, "queue enable is 3");
	assert_refused_with(&blk, &w, q0 + VQ_LAST_AVAIL, 5, 2, "requests in flight");
	assert_refused_with(&blk, &w, VST_ACCEPTED(h), vf.vdev->host_features | 1ULL << 30, 8,
			    "features 0x40000000 accepted but never offered");
	assert_refused_with(&blk, &w, VST_ACCEPTED(h), 1ULL << VIRTIO_BLK_F_FLUSH, 8,
			    "without VERSION_1");
	assert_refused_with(&blk, &w, VST_STATUS(h), 0x1f, 1, "status 0x1f");
	assert_refused_with(&blk, &w, VST_QUEUE(h, 0) - 2, 2, 2, "2 queues");

	/* Other configurations: a read-only disk offers more, a smaller one
	 * has another capacity. */
	assert_refused(&blk_ro, w.buf, w.len, "features offered");
	assert_int_equal(make_disk(small, sizeof(small), DISK_SECTORS / 2), 0);
	blk.ctx = small;
	assert_refused(&blk, w.buf, w.len, "configuration byte 0 is 0x00, this device has 0x80");
	unlink(small);

	/* Another model. */
	r = virtio_rng_create(&vf.d.mem, NULL);
	assert_non_null(r);
	sw_init(&rng);
	assert_int_equal(virtio_device_save(r, &rng), 0);
	blk.ctx = NULL;
	assert_refused(&blk, rng.buf, rng.len, "state of a virtio-rng, not of a virtio-blk");
	r->ops->destroy(r);
	sw_free(&rng);
	sw_free(&w);
}

/* ---- virtio-net */

#define NET_HDR	12

static const struct net_config net_cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };

static struct virtio_device *net_new(const struct net_config *cfg, struct iothread *io, int *peer)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	if (peer)
		*peer = sv[1];
	else
		close(sv[1]);
	return virtio_net_create_fd(sv[0], cfg, &vf.d.mem, io);
}

static void *net_create(void *cfg)
{
	return net_new(cfg ? cfg : &net_cfg, NULL, NULL);
}

static int setup_net(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = net_new(&net_cfg, vf.io, &vf.peer);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 2, 0) : -1;
}

static void net_send(uint32_t len, int seed)
{
	uint8_t buf[2048] = { 0 };

	for (uint32_t i = NET_HDR; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	assert_int_equal(send(vf.peer, buf, len, 0), len);
}

static uint64_t net_post_rx(uint32_t len)
{
	uint64_t gpa = drv_alloc(&vf.d, len, 0xee);
	struct drv_seg s = { gpa, len, true };

	drv_add(&vf.d, 0, &s, 1);
	return gpa;
}

/* The receive buffer the device holds at the save. */
struct held_buf {
	uint16_t head;
	uint64_t gpa;
};

/*
 * One frame received and one sent; then a 40-byte receive buffer popped
 * for a 300-byte frame that waits for more: the device holds it.
 */
static struct held_buf net_busy_state(void)
{
	uint64_t tx = drv_alloc(&vf.d, NET_HDR + 50, 0x33);
	struct drv_seg s = { tx, NET_HDR + 50, false };
	struct held_buf held;
	uint8_t got[128];
	uint16_t id;
	uint32_t len;

	net_post_rx(2048);
	net_send(100, 1);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(len, 100);
	drv_add(&vf.d, 1, &s, 1);
	drv_kick(&vf.d, 1);
	assert_int_equal(drv_wait_used(&vf.d, 1, &id, &len), 0);
	assert_int_equal(recv(vf.peer, got, sizeof(got), 0), NET_HDR + 50);

	held.head = vf.d.q[0].next_desc;
	held.gpa = net_post_rx(40);
	net_send(300, 2);
	wait_popped(0, 2);
	return held;
}

static void test_net_round_trip(void **state)
{
	struct held_buf held = net_busy_state();
	struct virtio_net_hdr_mrg_rxbuf *hdr = drv_hva(&vf.d, held.gpa);
	size_t q0 = VST_QUEUE(header_len("virtio-net"), 0);
	struct state_writer w1, w2;
	int old_peer = vf.peer;
	uint16_t id;
	uint32_t len;

	vsave(vf.vdev, &w1);
	/* The held buffer goes back to the ring in the saved state. */
	assert_int_equal(get_le(w1.buf + q0 + VQ_LAST_AVAIL, 2), 1);
	vrestore(net_new(&net_cfg, vf.io, &vf.peer), &w1);
	close(old_peer);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);

	/* The next frame takes the handed-back buffer first, then a new one. */
	net_send(300, 3);
	wait_popped(0, 2);
	net_post_rx(2048);
	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(id, held.head);
	assert_int_equal(len, 40);
	assert_int_equal(hdr->num_buffers, 2);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(len, 260);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

static void test_net_refusals(void **state)
{
	struct model net = { net_create, vload, vdestroy, NULL };
	struct net_config other_mac = net_cfg;
	struct state_writer w;

	net_busy_state();
	vsave(vf.vdev, &w);
	assert_loads(&net, &w);
	assert_truncations_refused(&net, &w);
	other_mac.mac[5] = 0x57;
	net.ctx = &other_mac;
	assert_refused(&net, w.buf, w.len, "configuration byte 5 is 0x56, this device has 0x57");
	sw_free(&w);
}

/* ---- virtio-rng and virtio-console */

static int setup_rng(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = virtio_rng_create(&vf.d.mem, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 1, 0) : -1;
}

static uint32_t rng_request(uint32_t size)
{
	uint64_t buf = drv_alloc(&vf.d, size, 0);
	struct drv_seg s = { buf, size, true };
	uint16_t head = drv_add(&vf.d, 0, &s, 1), id;
	uint32_t len;

	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	return len;
}

static void *rng_create(void *unused)
{
	return virtio_rng_create(&vf.d.mem, NULL);
}

static void test_rng_round_trip(void **state)
{
	struct model rng = { rng_create, vload, vdestroy, NULL };
	struct state_writer w1, w2;

	assert_int_equal(rng_request(64), 64);
	assert_int_equal(rng_request(16), 16);
	vsave(vf.vdev, &w1);
	assert_truncations_refused(&rng, &w1);
	vrestore(virtio_rng_create(&vf.d.mem, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);
	assert_int_equal(rng_request(32), 32);
	assert_int_equal(drv_used(&vf.d, 0)->idx, 3);
	sw_free(&w1);
	sw_free(&w2);
}

static int setup_console(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = virtio_console_create_pty(&vf.d.mem, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 2, 0) : -1;
}

static void *console_create(void *unused)
{
	return virtio_console_create_pty(&vf.d.mem, NULL);
}

/* Output sent; a receive buffer popped, waiting for input that never came. */
static void test_console_round_trip(void **state)
{
	struct model con = { console_create, vload, vdestroy, NULL };
	uint64_t tx = drv_alloc(&vf.d, 6, 0);
	struct drv_seg s = { tx, 6, false };
	struct state_writer w1, w2;
	uint16_t id;
	uint32_t len;

	memcpy(drv_hva(&vf.d, tx), "hello\n", 6);
	drv_add(&vf.d, 1, &s, 1);
	drv_kick(&vf.d, 1);
	assert_int_equal(drv_wait_used(&vf.d, 1, &id, &len), 0);
	s = (struct drv_seg){ drv_alloc(&vf.d, 64, 0), 64, true };
	drv_add(&vf.d, 0, &s, 1);
	drv_kick(&vf.d, 0);
	wait_popped(0, 1);

	vsave(vf.vdev, &w1);
	assert_loads(&con, &w1);
	assert_truncations_refused(&con, &w1);
	vrestore(virtio_console_create_pty(&vf.d.mem, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);
	/* The buffer is the device's again once it looks. */
	assert_int_equal(last_avail(0), 0);
	drv_kick(&vf.d, 0);
	assert_int_equal(last_avail(0), 1);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_round_trip, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_blk_quiesce_completes, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_blk_refusals, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_net_round_trip, setup_net, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_net_refusals, setup_net, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_rng_round_trip, setup_rng, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_console_round_trip, setup_console,
						vfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
