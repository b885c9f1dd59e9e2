// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the virtio-pci transport (devices/virtio_pci.c): one
 * function with a fake two-queue model on a real PCI host, MSI routes and
 * ioeventfds stubbed and recorded (tests/unit/vpci_harness.h). The input is
 * a program of BAR accesses (any offset, width and value, biased towards the
 * common configuration's fields, ISR, device config, notify and MSI-X
 * table), accesses through the host's MMIO window, config space writes
 * (command register, BAR 0, MSI-X control), device-side events (queue and
 * config interrupts, needs-reset), whole driver steps (negotiate features,
 * set a queue up with near-valid rings, DRIVER_OK), resets, and KVM
 * refusing an ioeventfd. Besides the sanitizers, after every step:
 *  - accepted features (FEATURES_OK) are a subset of the offered ones, with
 *    VERSION_1;
 *  - a ready queue has a power-of-two size within the maximum and its three
 *    rings whole inside guest RAM, naturally aligned;
 *  - the ioeventfds KVM holds are exactly at BAR 0's notify addresses while
 *    it decodes (minus refused ones), none when it does not, and never one
 *    removed that was not there except a refused one;
 *  - vectors read back are a table entry or NO_VECTOR;
 *  - the model never sees a config access outside its config space.
 * The harness lives across inputs (a host reset between them), so that the
 * rate-limited warnings stay quiet.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "../unit/vpci_harness.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vh *harness;

static const unsigned int widths[] = { 1, 2, 4, 8 };

/* A BAR offset: mostly a common-config field or a region's start. */
static uint64_t pick_offset(struct fuzz_input *p)
{
	static const uint16_t common[] = {
		0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14, 0x15, 0x16, 0x18, 0x1a, 0x1c,
		0x1e, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34, 0x38,
	};
	uint8_t k = next(p);

	switch (k % 8) {
	case 0: case 1: case 2:
		return VH_COMMON + common[next(p) % (sizeof(common) / sizeof(common[0]))];
	case 3:
		return VH_ISR + (next(p) & 3);
	case 4:
		return VH_DEVICE + (next(p) & 15);
	case 5:
		return VH_NOTIFY + (next(p) & 31);
	case 6:
		return VH_MSIX_TABLE + (next(p) & 63);
	default:
		return next_be(p, 2) & 0x7fff;
	}
}

/* A guest address for a ring: in RAM and aligned, near its end, or anywhere. */
static uint64_t pick_ring(struct fuzz_input *p)
{
	uint8_t k = next(p);

	switch (k % 4) {
	case 0: case 1:
		return VH_RAM_GPA + ((uint64_t)(next(p) & 0xff) << 12);
	case 2:
		return VH_RAM_GPA + VH_RAM_SIZE - (next(p) & 0x3f);
	default:
		return next_be(p, 8);
	}
}

static void bar_access(struct vh *h, struct fuzz_input *p, bool write)
{
	uint64_t off = pick_offset(p);
	unsigned int len = widths[next(p) & 3];
	uint64_t v = next_be(p, len);

	if (off + len > 0x8000)
		return;			/* the host only passes whole accesses */
	if (write)
		vh_bar_write(h, off, v, len);
	else
		vh_bar_read(h, off, len);
}

/* Through the host's 32-bit window: reaches the function only where BAR 0 decodes. */
static void window_access(struct vh *h, struct fuzz_input *p)
{
	uint64_t bar = pci_bar_addr(h->pdev, 0);
	uint64_t off = bar ? bar - h->vm.pci->mmio.mmio_base + pick_offset(p) : next_be(p, 3);
	unsigned int len = widths[next(p) & 3];
	uint64_t v = next_be(p, len);
	bool write = next(p) & 1;

	if (off >= h->vm.pci->mmio.mmio_size || h->vm.pci->mmio.mmio_size - off < len)
		return;
	if (write)
		h->vm.pci->mmio.ops->mmio_write(&h->vm.pci->mmio, off, (const uint8_t *)&v, len);
	else
		h->vm.pci->mmio.ops->mmio_read(&h->vm.pci->mmio, off, (uint8_t *)&v, len);
}

static void config_write(struct vh *h, struct fuzz_input *p)
{
	static const uint16_t regs[] = { PCI_COMMAND, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_1,
					 0x40, 0x42, 0x44, 0x48, 0x50, 0x60, 0x70, 0x72 };
	uint8_t k = next(p);
	uint32_t reg = k & 0x80 ? next(p) & 0xfc : regs[k % (sizeof(regs) / sizeof(regs[0]))];
	unsigned int len = widths[next(p) % 3];

	if (k % 5 == 0) {
		/* A BAR 0 placement somewhere in the window (a whole 64-bit write). */
		vh_place_bar(h, LAYOUT_PCI_MMIO32_BASE + ((next_be(p, 2) & 0x3ff) << 15));
		return;
	}
	vh_cfg_write(h, reg + (len == 1 ? next(p) & 3 : len == 2 ? next(p) & 2 : 0),
		     (uint32_t)next_be(p, len), len);
}

static void driver_step(struct vh *h, struct fuzz_input *p)
{
	uint8_t k = next(p);

	switch (k % 4) {
	case 0:
		vh_negotiate(h, next_be(p, 8) | (next(p) & 1 ? 1ULL << VIRTIO_F_VERSION_1 : 0));
		break;
	case 1: {
		uint16_t q = next(p) % (VH_QUEUES + 1), size = (uint16_t)(1u << (next(p) % 8));
		uint64_t d = pick_ring(p), a = pick_ring(p), u = pick_ring(p);

		vh_setup_queue(h, q, size, d, a, u);
		break;
	}
	case 2:
		vh_set_status(h, vh_status(h) | VIRTIO_CONFIG_S_DRIVER_OK);
		break;
	default:
		vh_bar_write(h, VH_CC(queue_select), next(p) % (VH_QUEUES + 1), 2);
		vh_bar_write(h, VH_CC(queue_msix_vector), next(p) % (VH_QUEUES + 3), 2);
		vh_bar_write(h, VH_CC(msix_config), next(p) % (VH_QUEUES + 3), 2);
		break;
	}
}

static void device_event(struct vh *h, struct fuzz_input *p)
{
	struct virtio_device *vdev = &h->fake->vdev;
	uint8_t k = next(p);

	switch (k % 3) {
	case 0:
		vdev->transport->notify_queue(vdev, next(p) % VH_QUEUES);
		break;
	case 1:
		vdev->transport->notify_config(vdev);
		break;
	default:
		vdev->transport->needs_reset(vdev);
		break;
	}
}

static bool ring_inside(const struct virtqueue *vq, uint64_t gpa, uint64_t bytes, uint64_t align)
{
	const uint64_t end = VH_RAM_GPA + VH_RAM_SIZE;

	return !(gpa & (align - 1)) && gpa >= VH_RAM_GPA && gpa < end && end - gpa >= bytes;
}

static void check_invariants(struct vh *h)
{
	struct virtio_device *vdev = &h->fake->vdev;
	uint64_t bar = pci_bar_addr(h->pdev, 0);

	if (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)
		check(!(vdev->guest_features & ~vdev->host_features) &&
		      (vdev->guest_features & (1ULL << VIRTIO_F_VERSION_1)));
	for (unsigned int q = 0; q < VH_QUEUES; q++) {
		const struct virtqueue *vq = &h->fake->vqs[q];
		uint64_t n = vq->size;

		if (!vq->ready)
			continue;
		check(n && n <= VH_QMAX && !(n & (n - 1)));
		check(ring_inside(vq, vq->desc_gpa, 16 * n, 16));
		check(ring_inside(vq, vq->avail_gpa, 6 + 2 * n, 2));
		check(ring_inside(vq, vq->used_gpa, 6 + 8 * n, 4));
	}
	check(h->nr_evfds <= VH_QUEUES);
	for (unsigned int i = 0; i < h->nr_evfds; i++)
		check(bar && (h->evfds[i].addr == bar + VH_NOTIFY ||
			      h->evfds[i].addr == bar + VH_NOTIFY + 4));
	if (bar && !h->refuse_addr)
		check(h->nr_evfds == VH_QUEUES || h->refused);
	check(h->bad_deassign <= h->refused);
	check(h->fake->bad_config == 0);
	for (uint16_t q = 0; q <= VH_QUEUES; q++) {
		uint16_t sel = (uint16_t)vh_bar_read(h, VH_CC(queue_select), 2), vec;

		vh_bar_write(h, VH_CC(queue_select), q, 2);
		vec = (uint16_t)vh_bar_read(h, VH_CC(queue_msix_vector), 2);
		check(vec == VIRTIO_MSI_NO_VECTOR || (q < VH_QUEUES && vec < VH_QUEUES + 1) ||
		      (q == VH_QUEUES && vec == 0));
		vh_bar_write(h, VH_CC(queue_select), sel, 2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input p = { data, size };
	struct vh *h;

	if (!harness) {
		harness = calloc(1, sizeof(*harness));
		if (!harness || vh_init(harness) < 0)
			abort();
	}
	h = harness;
	/* As at power-on; the stubs' records start again. */
	pci_host_reset(h->vm.pci);
	check(h->nr_evfds == 0);
	h->refuse_addr = 0;
	h->refused = h->bad_deassign = 0;
	h->fake->bad_config = 0;

	for (unsigned int steps = 0; p.left && steps < 256; steps++) {
		uint8_t op = next(&p);

		switch (op % 10) {
		case 0: case 1:
			bar_access(h, &p, false);
			break;
		case 2: case 3:
			bar_access(h, &p, true);
			break;
		case 4:
			window_access(h, &p);
			break;
		case 5:
			config_write(h, &p);
			break;
		case 6: case 7:
			driver_step(h, &p);
			break;
		case 8:
			device_event(h, &p);
			break;
		default:
			if (op & 0x80) {
				uint64_t bar = pci_bar_addr(h->pdev, 0);

				h->refuse_addr = bar ? bar + VH_NOTIFY + 4 * (next(&p) & 1) : 0;
			} else if (op & 0x40) {
				h->pdev->ops->reset(h->pdev);
			} else {
				vh_set_status(h, 0);
			}
			break;
		}
		check_invariants(h);
	}
	return 0;
}
