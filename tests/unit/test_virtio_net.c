// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-net on one end of a datagram socketpair instead of a tap (same
 * framing: a 12-byte vnet header, then the frame), driven through rings in a
 * fake guest RAM with a real I/O thread: TX passes chains through, RX spreads
 * a frame over mergeable buffers, waits for buffers when there are none, and
 * drops what does not fit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_net.h>

#include "devices/virtio_devices.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "virtio_driver.h"

#define RXQ 0
#define TXQ 1
#define HDR 12

struct fixture {
	struct drv d;
	struct iothread *io;
	struct virtio_device *vdev;
	int peer;			/* the "host network" side */
};

static struct fixture f;

static int setup_common(uint64_t drop)
{
	struct net_config cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
	int sv[2];

	memset(&f, 0, sizeof(f));
	if (drv_ram_init(&f.d) < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return -1;
	f.peer = sv[1];
	f.io = iothread_create();
	if (!f.io || iothread_start(f.io) < 0)
		return -1;
	f.vdev = virtio_net_create_fd(sv[0], &cfg, &f.d.mem, f.io);
	if (!f.vdev)
		return -1;
	return drv_attach(&f.d, f.vdev, 2, drop);
}

static int setup(void **state)
{
	return setup_common(0);
}

static int setup_no_mrg(void **state)
{
	return setup_common(1ULL << VIRTIO_NET_F_MRG_RXBUF);
}

static int teardown(void **state)
{
	iothread_stop(f.io);
	if (f.vdev)
		f.vdev->ops->destroy(f.vdev);
	iothread_destroy(f.io);
	close(f.peer);
	free(f.d.mem.hva);
	return 0;
}

static void send_frame(uint32_t len, int seed)
{
	uint8_t buf[2048] = { 0 };

	for (uint32_t i = HDR; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	assert_int_equal(send(f.peer, buf, len, 0), len);
}

static uint64_t post_rx(uint32_t len)
{
	uint64_t gpa = drv_alloc(&f.d, len, 0xee);
	struct drv_seg s = { gpa, len, true };

	drv_add(&f.d, RXQ, &s, 1);
	return gpa;
}

static void test_config(void **state)
{
	struct virtio_net_config c;

	assert_true(f.vdev->host_features & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	assert_true(f.vdev->host_features & (1ULL << VIRTIO_NET_F_MAC));
	f.vdev->ops->config_read(f.vdev, 0, &c, 8);
	assert_memory_equal(c.mac, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(c.status, VIRTIO_NET_S_LINK_UP);
}

static void test_tx(void **state)
{
	uint64_t a = drv_alloc(&f.d, 40, 0);
	uint64_t b = drv_alloc(&f.d, 60, 0);
	struct drv_seg segs[2] = { { a, 40, false }, { b, 60, false } };
	uint8_t got[256], want[100];
	uint16_t id;
	uint32_t len;

	for (unsigned int i = 0; i < 40; i++)
		((uint8_t *)drv_hva(&f.d, a))[i] = (uint8_t)i;
	for (unsigned int i = 0; i < 60; i++)
		((uint8_t *)drv_hva(&f.d, b))[i] = (uint8_t)(40 + i);
	for (unsigned int i = 0; i < 100; i++)
		want[i] = (uint8_t)i;
	drv_add(&f.d, TXQ, segs, 2);
	drv_kick(&f.d, TXQ);
	assert_int_equal(drv_wait_used(&f.d, TXQ, &id, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(recv(f.peer, got, sizeof(got), MSG_DONTWAIT), 100);
	assert_memory_equal(got, want, 100);
}

static void test_rx_mergeable(void **state)
{
	uint64_t bufs[3];
	uint16_t id;
	uint32_t len[3];
	struct virtio_net_hdr_mrg_rxbuf *h;

	for (unsigned int i = 0; i < 3; i++)
		bufs[i] = post_rx(64);
	drv_kick(&f.d, RXQ);
	send_frame(HDR + 150, 7);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(drv_wait_used(&f.d, RXQ, &id, &len[i]), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(len[0], 64);
	assert_int_equal(len[1], 64);
	assert_int_equal(len[2], HDR + 150 - 128);
	h = drv_hva(&f.d, bufs[0]);
	assert_int_equal(h->num_buffers, 3);
	for (uint32_t i = HDR; i < HDR + 150; i++)
		assert_int_equal(((uint8_t *)drv_hva(&f.d, bufs[i / 64]))[i % 64], (uint8_t)(7 + i));
	assert_int_equal(f.d.needs_reset, 0);
}

static void test_rx_waits_for_buffers(void **state)
{
	uint64_t buf;
	uint16_t id;
	uint32_t len;

	send_frame(HDR + 50, 1);
	send_frame(HDR + 60, 2);
	assert_true(drv_idle(&f.d, RXQ, 50));
	buf = post_rx(1500);
	drv_kick(&f.d, RXQ);
	assert_int_equal(drv_wait_used(&f.d, RXQ, &id, &len), 0);
	assert_int_equal(len, HDR + 50);
	assert_int_equal(((uint8_t *)drv_hva(&f.d, buf))[HDR], (uint8_t)(1 + HDR));
	assert_true(drv_idle(&f.d, RXQ, 50));
	buf = post_rx(1500);
	drv_kick(&f.d, RXQ);
	assert_int_equal(drv_wait_used(&f.d, RXQ, &id, &len), 0);
	assert_int_equal(len, HDR + 60);
	assert_int_equal(((uint8_t *)drv_hva(&f.d, buf))[HDR], (uint8_t)(2 + HDR));
}

static void test_rx_not_mergeable(void **state)
{
	uint64_t buf;
	uint16_t id;
	uint32_t len;

	assert_false(virtio_has_feature(f.vdev, VIRTIO_NET_F_MRG_RXBUF));
	buf = post_rx(64);
	drv_kick(&f.d, RXQ);
	send_frame(HDR + 100, 3);		/* does not fit one buffer: dropped */
	send_frame(HDR + 40, 4);
	assert_int_equal(drv_wait_used(&f.d, RXQ, &id, &len), 0);
	assert_int_equal(len, HDR + 40);
	assert_int_equal(((struct virtio_net_hdr_mrg_rxbuf *)drv_hva(&f.d, buf))->num_buffers, 1);
	assert_int_equal(((uint8_t *)drv_hva(&f.d, buf))[HDR], (uint8_t)(4 + HDR));
}

static void test_rx_before_driver_ok(void **state)
{
	uint16_t id;
	uint32_t len;

	/* Reset: frames arriving now are dropped, not queued. */
	pthread_mutex_lock(&f.vdev->lock);
	f.vdev->ops->reset(f.vdev);
	pthread_mutex_unlock(&f.vdev->lock);
	send_frame(HDR + 30, 5);
	usleep(50000);
	pthread_mutex_lock(&f.vdev->lock);
	assert_int_equal(f.vdev->ops->activate(f.vdev), 0);
	pthread_mutex_unlock(&f.vdev->lock);
	post_rx(1500);
	drv_kick(&f.d, RXQ);
	assert_true(drv_idle(&f.d, RXQ, 50));
	send_frame(HDR + 31, 6);
	assert_int_equal(drv_wait_used(&f.d, RXQ, &id, &len), 0);
	assert_int_equal(len, HDR + 31);
}

static void test_tap_errors(void **state)
{
	struct net_config cfg = { .tap = "a-name-much-too-long-for-a-tap" };

	assert_null(virtio_net_create(&cfg, &f.d.mem, NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_not_mergeable, setup_no_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_rx_before_driver_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
