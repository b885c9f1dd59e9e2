// SPDX-License-Identifier: GPL-2.0-only
/*
 * The virtio-pci transport's rules (devices/virtio_pci.c, VIRTIO 1.x 4.1),
 * on a real PCI host and I/O thread with KVM's parts stubbed (vpci_harness.h):
 * feature negotiation, queue set-up with bad sizes and addresses, reset, the
 * ISR, device config bounds, kicks, and ioeventfds following the BAR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/virtio_ring.h>

#include "vpci_harness.h"

#define Q_DESC	(VH_RAM_GPA + 0x1000)
#define Q_AVAIL	(VH_RAM_GPA + 0x2000)
#define Q_USED	(VH_RAM_GPA + 0x3000)
#define ACK_DRV	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
#define ALL_OK	(ACK_DRV | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define V1	(1ULL << VIRTIO_F_VERSION_1)

static int setup(void **state)
{
	struct vh *h = calloc(1, sizeof(*h));

	if (!h || vh_init(h) < 0)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct vh *h = *state;

	vh_fini(h);
	free(h);
	return 0;
}

static uint64_t device_features(struct vh *h)
{
	uint64_t f;

	vh_bar_write(h, VH_CC(device_feature_select), 0, 4);
	f = vh_bar_read(h, VH_CC(device_feature), 4);
	vh_bar_write(h, VH_CC(device_feature_select), 1, 4);
	f |= vh_bar_read(h, VH_CC(device_feature), 4) << 32;
	vh_bar_write(h, VH_CC(device_feature_select), 2, 4);	/* past the end: 0 */
	assert_int_equal(vh_bar_read(h, VH_CC(device_feature), 4), 0);
	return f;
}

static void test_features(void **state)
{
	struct vh *h = *state;

	assert_int_equal(device_features(h), VH_FAKE_FEATURES | V1);
	/* A bit the device did not offer: FEATURES_OK does not stick. */
	assert_int_equal(vh_negotiate(h, V1 | (1ULL << 5)), ACK_DRV);
	/* Without VERSION_1 (a legacy driver): refused too. */
	vh_set_status(h, 0);
	assert_int_equal(vh_negotiate(h, 1ULL << 3), ACK_DRV);
	/* A subset of what was offered, VERSION_1 in it: accepted. */
	vh_set_status(h, 0);
	assert_int_equal(vh_negotiate(h, V1 | (1ULL << 40)), ACK_DRV | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(h->fake->vdev.guest_features, V1 | (1ULL << 40));
	/* Once FEATURES_OK is set the features are fixed. */
	vh_bar_write(h, VH_CC(guest_feature_select), 0, 4);
	vh_bar_write(h, VH_CC(guest_feature), 0xffffffff, 4);
	assert_int_equal(h->fake->vdev.guest_features, V1 | (1ULL << 40));
	/* A select past the two words reads 0 and takes no write. */
	vh_set_status(h, 0);
	vh_bar_write(h, VH_CC(guest_feature_select), 7, 4);
	vh_bar_write(h, VH_CC(guest_feature), 0xffffffff, 4);
	assert_int_equal(vh_bar_read(h, VH_CC(guest_feature), 4), 0);
	assert_int_equal(h->fake->vdev.guest_features, 0);
	/* Undefined status bits are not kept. */
	vh_set_status(h, 0x30 | VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_int_equal(vh_status(h), VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

static void test_queue_sizes(void **state)
{
	struct vh *h = *state;

	vh_negotiate(h, V1);
	vh_bar_write(h, VH_CC(queue_select), 0, 2);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), VH_QMAX);
	assert_int_equal(vh_bar_read(h, VH_CC(num_queues), 2), VH_QUEUES);
	static const uint16_t bad[] = { 0, 3, 48, VH_QMAX * 2, 0xffff };

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vh_bar_write(h, VH_CC(queue_size), bad[i], 2);
		assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), VH_QMAX);
	}
	vh_bar_write(h, VH_CC(queue_size), 16, 2);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), 16);
	/* A queue that does not exist reads size 0 and takes nothing. */
	vh_bar_write(h, VH_CC(queue_select), VH_QUEUES, 2);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), 0);
	vh_bar_write(h, VH_CC(queue_size), 16, 2);
	vh_bar_write(h, VH_CC(queue_enable), 1, 2);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_enable), 2), 0);
	/* A 2-byte register written with another width: ignored. */
	vh_bar_write(h, VH_CC(queue_select), 0, 2);
	vh_bar_write(h, VH_CC(queue_size), 8, 4);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), 16);
}

static void test_queue_addresses(void **state)
{
	struct vh *h = *state;
	const uint64_t end = VH_RAM_GPA + VH_RAM_SIZE;

	vh_negotiate(h, V1);
	/* Rings outside RAM, straddling its end, or misaligned: not enabled. */
	assert_int_equal(vh_setup_queue(h, 0, 16, 0xfff0000000ULL, Q_AVAIL, Q_USED), 0);
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC, end - 2, Q_USED), 0);
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC, Q_AVAIL, end - 8), 0);
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC + 1, Q_AVAIL, Q_USED), 0);
	assert_int_equal(vh_setup_queue(h, 0, 16, VH_RAM_GPA - 0x1000, Q_AVAIL, Q_USED), 0);
	assert_int_equal(vh_setup_queue(h, 0, 16, UINT64_MAX - 0xff, Q_AVAIL, Q_USED), 0);
	assert_false(h->fake->vqs[0].ready);
	/* Good ones: enabled, and then the set-up is frozen. */
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC, Q_AVAIL, Q_USED), 1);
	vh_bar_write(h, VH_CC(queue_size), 32, 2);
	vh_bar_write(h, VH_CC(queue_desc_lo), 0xfff0000000ULL, 8);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), 16);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_desc_lo), 4), (uint32_t)Q_DESC);
	assert_int_equal(h->fake->vqs[0].desc_gpa, Q_DESC);
	/* Its vector: one of the MSI-X table's or none. */
	vh_bar_write(h, VH_CC(queue_select), 1, 2);
	vh_bar_write(h, VH_CC(queue_msix_vector), 1, 2);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_msix_vector), 2), 1);
	vh_bar_write(h, VH_CC(queue_msix_vector), VH_QUEUES + 1, 2);	/* past the table */
	assert_int_equal(vh_bar_read(h, VH_CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
}

static void test_reset(void **state)
{
	struct vh *h = *state;
	unsigned int resets;

	vh_negotiate(h, V1 | (1ULL << 3));
	assert_int_equal(vh_setup_queue(h, 1, 8, Q_DESC, Q_AVAIL, Q_USED), 1);
	vh_bar_write(h, VH_CC(queue_msix_vector), 0, 2);
	vh_bar_write(h, VH_CC(msix_config), 1, 2);
	vh_set_status(h, ALL_OK);
	assert_int_equal(h->fake->activated, 1);
	resets = h->fake->resets;

	vh_set_status(h, 0);
	assert_int_equal(vh_status(h), 0);
	assert_int_equal(h->fake->resets, resets + 1);
	assert_int_equal(h->fake->vdev.guest_features, 0);
	assert_int_equal(vh_bar_read(h, VH_CC(queue_select), 2), 0);
	assert_int_equal(vh_bar_read(h, VH_CC(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
	for (uint16_t q = 0; q < VH_QUEUES; q++) {
		vh_bar_write(h, VH_CC(queue_select), q, 2);
		assert_int_equal(vh_bar_read(h, VH_CC(queue_enable), 2), 0);
		assert_int_equal(vh_bar_read(h, VH_CC(queue_size), 2), VH_QMAX);
		assert_int_equal(vh_bar_read(h, VH_CC(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
		assert_int_equal(vh_bar_read(h, VH_CC(queue_desc_lo), 4), 0);
	}
	/* And the driver can start again from scratch. */
	assert_int_equal(vh_negotiate(h, V1), ACK_DRV | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC, Q_AVAIL, Q_USED), 1);
	vh_set_status(h, ALL_OK);
	assert_int_equal(h->fake->activated, 2);

	/* A PCI function reset does the same. */
	h->pdev->ops->reset(h->pdev);
	assert_int_equal(vh_status(h), 0);
	assert_false(h->fake->vqs[0].ready);
}

static void test_isr_and_config(void **state)
{
	struct vh *h = *state;
	struct virtio_device *vdev = &h->fake->vdev;

	/* The ISR: set by the device's notifications, cleared by a read. */
	vdev->transport->notify_config(vdev);
	assert_int_equal(vh_bar_read(h, VH_ISR, 1), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(vh_bar_read(h, VH_ISR, 1), 0);
	/* A device needing reset says so in its status and its generation. */
	vh_negotiate(h, V1);
	{
		uint8_t gen = (uint8_t)vh_bar_read(h, VH_CC(config_generation), 1);

		vdev->transport->needs_reset(vdev);
		assert_true(vh_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
		assert_int_not_equal(vh_bar_read(h, VH_CC(config_generation), 1), gen);
		/* The driver cannot clear it but by a reset. */
		vh_set_status(h, ACK_DRV | VIRTIO_CONFIG_S_FEATURES_OK);
		assert_true(vh_status(h) & VIRTIO_CONFIG_S_NEEDS_RESET);
		vh_set_status(h, 0);
		assert_int_equal(vh_status(h), 0);
	}
	/* Device config: inside it reaches the model, outside reads 0 and does not. */
	assert_int_equal(vh_bar_read(h, VH_DEVICE, 4), 0xa3a2a1a0);
	assert_int_equal(vh_bar_read(h, VH_DEVICE + VH_CONFIG_SIZE - 4, 4), 0xabaaa9a8);
	assert_int_equal(vh_bar_read(h, VH_DEVICE + VH_CONFIG_SIZE - 2, 4), 0);
	assert_int_equal(vh_bar_read(h, VH_DEVICE + 0xff8, 8), 0);
	vh_bar_write(h, VH_DEVICE + 4, 0x11223344, 4);
	vh_bar_write(h, VH_DEVICE + VH_CONFIG_SIZE, 0x55, 1);
	vh_bar_write(h, VH_DEVICE + VH_CONFIG_SIZE - 1, 0xffff, 2);
	assert_int_equal(h->fake->config_writes, 1);
	assert_int_equal(h->fake->bad_config, 0);
	assert_int_equal(vh_bar_read(h, VH_DEVICE + 4, 4), 0x11223344);
}

static void wait_notified(struct vh *h, unsigned int q, unsigned int n)
{
	for (int i = 0; i < 2000 && h->fake->notified[q] < n; i++)
		usleep(1000);
	assert_int_equal(h->fake->notified[q], n);
}

/* Kicks: a notify write that no ioeventfd caught reaches the model through
 * the I/O thread, only for a ready queue of a live device. */
static void test_kicks(void **state)
{
	struct vh *h = *state;

	assert_int_equal(iothread_start(h->vm.io), 0);
	vh_bar_write(h, VH_NOTIFY + 0, 0, 2);		/* before DRIVER_OK */
	vh_negotiate(h, V1);
	assert_int_equal(vh_setup_queue(h, 0, 16, Q_DESC, Q_AVAIL, Q_USED), 1);
	vh_set_status(h, ALL_OK);
	vh_bar_write(h, VH_NOTIFY + 4, 1, 2);		/* queue 1: not ready */
	vh_bar_write(h, VH_NOTIFY + 4 * 7, 7, 2);	/* no such queue */
	vh_bar_write(h, VH_NOTIFY + 0, 0, 2);
	wait_notified(h, 0, 1);
	usleep(20 * 1000);
	assert_int_equal(h->fake->notified[0], 1);
	assert_int_equal(h->fake->notified[1], 0);
	/* A device needing reset takes no kick. */
	h->fake->vdev.transport->needs_reset(&h->fake->vdev);
	vh_bar_write(h, VH_NOTIFY + 0, 0, 2);
	usleep(20 * 1000);
	assert_int_equal(h->fake->notified[0], 1);
	iothread_stop(h->vm.io);
}

/* The kick ioeventfds follow BAR 0: assigned where it decodes, moved with
 * it, removed when decoding stops; one KVM refuses (the guest put the BAR
 * over another device's) leaves the function working through MMIO exits. */
static void test_ioeventfds_follow_bar(void **state)
{
	struct vh *h = *state;
	const uint64_t a = LAYOUT_PCI_MMIO32_BASE + 0x100000, b = a + 0x10000;

	assert_int_equal(h->nr_evfds, 0);
	vh_place_bar(h, a);
	assert_int_equal(h->nr_evfds, VH_QUEUES);
	for (unsigned int i = 0; i < h->nr_evfds; i++)
		assert_true(h->evfds[i].addr == a + VH_NOTIFY || h->evfds[i].addr == a + VH_NOTIFY + 4);
	h->refuse_addr = b + VH_NOTIFY;
	vh_place_bar(h, b);
	assert_int_equal(h->refused, 1);
	assert_int_equal(h->nr_evfds, 1);
	assert_int_equal(h->evfds[0].addr, b + VH_NOTIFY + 4);
	/* Decoding off: every one removed, none refused on the way. */
	vh_cfg_write(h, PCI_COMMAND, 0, 2);
	assert_int_equal(h->nr_evfds, 0);
	assert_int_equal(h->bad_deassign, 1);	/* the refused one was never there */
	vh_cfg_write(h, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(h->nr_evfds, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isr_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kicks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfds_follow_bar, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
