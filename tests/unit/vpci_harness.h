/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A virtio-pci function (devices/virtio_pci.c) on a real PCI host bridge and
 * I/O thread, without KVM: MSI routes and ioeventfds are stubbed here and
 * recorded, so tests and the fuzz target can check what the transport asked
 * of KVM. The model behind it is a fake with two queues and a 12-byte
 * config space that counts what reaches it. Header-only; include once.
 */
#ifndef TERN_TEST_VPCI_HARNESS_H
#define TERN_TEST_VPCI_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "devices/pci.h"
#include "devices/virtio.h"
#include "devices/virtio_pci.h"
#include "vmm/iothread.h"
#include "vmm/layout.h"
#include "vmm/msi.h"
#include "vmm/vm.h"

#define VH_RAM_GPA	0x40000000ULL
#define VH_RAM_SIZE	(1ULL << 20)
#define VH_QUEUES	2
#define VH_QMAX		64
#define VH_CONFIG_SIZE	12
#define VH_MAX_EVFDS	16
#define VH_FAKE_FEATURES	(1ULL << 3 | 1ULL << 40)	/* model's own bits */

/* BAR 0 layout of devices/virtio_pci.c. */
#define VH_COMMON	0x0000
#define VH_ISR		0x1000
#define VH_DEVICE	0x2000
#define VH_NOTIFY	0x3000
#define VH_MSIX_TABLE	0x4000

struct vh_fake {
	struct virtio_device vdev;
	struct virtqueue vqs[VH_QUEUES];
	uint8_t config[VH_CONFIG_SIZE];
	unsigned int activated, resets, config_writes, bad_config;
	_Atomic unsigned int notified[VH_QUEUES];
};

struct vh_evfd {
	uint64_t addr;
	int fd;
};

struct vh {
	struct vm vm;
	struct pci_host pci;		/* vm.pci */
	struct guest_memory mem;
	struct vh_fake *fake;
	struct pci_device *pdev;
	unsigned int slot;
	/* The stubs' records. */
	unsigned int routes_allocated, route_sets, fires;
	struct vh_evfd evfds[VH_MAX_EVFDS];	/* assigned ioeventfds */
	unsigned int nr_evfds;
	uint64_t refuse_addr;		/* an ioeventfd assigned here: -EEXIST (0: none) */
	unsigned int refused, bad_deassign;
};

static inline struct vh *vh_of(struct vm *vm)
{
	return (struct vh *)((char *)vm - offsetof(struct vh, vm));
}

/* ---- stubs of vmm/msi.c ---- */

int msi_route_alloc(struct vm *vm, uint32_t devid)
{
	return (int)vh_of(vm)->routes_allocated++;
}

int msi_route_set(struct vm *vm, int route, uint64_t addr, uint32_t data)
{
	struct vh *h = vh_of(vm);

	if (route < 0 || (unsigned int)route >= h->routes_allocated)
		abort();
	h->route_sets++;
	return 0;
}

void msi_route_fire(struct vm *vm, int route)
{
	vh_of(vm)->fires++;
}

void msi_routes_destroy(struct vm *vm)
{
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign)
{
	struct vh *h = vh_of(vm);

	if (len != 2)
		abort();
	if (!assign) {
		for (unsigned int i = 0; i < h->nr_evfds; i++) {
			if (h->evfds[i].addr == addr && h->evfds[i].fd == efd) {
				h->evfds[i] = h->evfds[--h->nr_evfds];
				return 0;
			}
		}
		h->bad_deassign++;	/* KVM: -ENOENT */
		return -ENOENT;
	}
	for (unsigned int i = 0; i < h->nr_evfds; i++)
		if (h->evfds[i].addr == addr)
			return -EEXIST;
	if (addr == h->refuse_addr) {
		h->refused++;
		return -EEXIST;
	}
	if (h->nr_evfds == VH_MAX_EVFDS)
		abort();
	h->evfds[h->nr_evfds++] = (struct vh_evfd){ addr, efd };
	return 0;
}

/* ---- the fake model ---- */

static inline struct vh_fake *vh_fake_of(struct virtio_device *vdev)
{
	return (struct vh_fake *)((char *)vdev - offsetof(struct vh_fake, vdev));
}

static inline void vh_config_read(struct virtio_device *vdev, uint32_t off, void *data,
				  uint32_t len)
{
	struct vh_fake *f = vh_fake_of(vdev);

	if (off + len > VH_CONFIG_SIZE)
		f->bad_config++;
	virtio_config_read_bytes(f->config, sizeof(f->config), off, data, len);
}

static inline void vh_config_write(struct virtio_device *vdev, uint32_t off, const void *data,
				   uint32_t len)
{
	struct vh_fake *f = vh_fake_of(vdev);

	if (off + len > VH_CONFIG_SIZE) {
		f->bad_config++;
		return;
	}
	memcpy(f->config + off, data, len);
	f->config_writes++;
}

static inline int vh_activate(struct virtio_device *vdev)
{
	vh_fake_of(vdev)->activated++;
	return 0;
}

static inline void vh_reset(struct virtio_device *vdev)
{
	vh_fake_of(vdev)->resets++;
}

static inline void vh_queue_notify(struct virtio_device *vdev, unsigned int q)
{
	if (q >= VH_QUEUES)
		abort();
	vh_fake_of(vdev)->notified[q]++;
}

static inline void vh_destroy(struct virtio_device *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
	free(vh_fake_of(vdev));
}

static const struct virtio_device_ops vh_fake_ops = {
	.name = "fake",
	.device_id = 0x3f,
	.config_size = VH_CONFIG_SIZE,
	.config_read = vh_config_read,
	.config_write = vh_config_write,
	.activate = vh_activate,
	.reset = vh_reset,
	.queue_notify = vh_queue_notify,
	.destroy = vh_destroy,
};

/* ---- set-up ---- */

/* Another fake model on the bus, behind its own virtio-pci function (the
 * next free slot). NULL if it could not be made. */
static inline struct vh_fake *vh_add_fake(struct vh *h)
{
	struct vh_fake *f = calloc(1, sizeof(*f));

	if (!f || virtio_device_init(&f->vdev, &vh_fake_ops, f->vqs, VH_QUEUES, VH_QMAX,
				     VH_FAKE_FEATURES) < 0)
		return NULL;
	f->vdev.mem = &h->mem;
	f->vdev.io = h->vm.io;
	for (unsigned int q = 0; q < VH_QUEUES; q++)
		f->vqs[q].mem = &h->mem;
	for (unsigned int i = 0; i < VH_CONFIG_SIZE; i++)
		f->config[i] = (uint8_t)(0xa0 + i);
	return virtio_pci_add(&h->vm, &f->vdev, 0xff0000) < 0 ? NULL : f;
}

/* 0, or -1 if anything could not be made. */
static inline int vh_init(struct vh *h)
{
	memset(h, 0, sizeof(*h));
	h->vm.pci = &h->pci;
	if (layout_compute(&h->vm.layout, 256ULL << 20, 1) < 0 ||
	    pci_host_init(h->vm.pci, &h->vm.layout) < 0)
		return -1;
	h->vm.io = iothread_create();
	h->mem.gpa = VH_RAM_GPA;
	h->mem.size = VH_RAM_SIZE;
	h->mem.fd = -1;
	h->mem.hva = aligned_alloc(4096, VH_RAM_SIZE);
	if (!h->vm.io || !h->mem.hva)
		return -1;
	memset(h->mem.hva, 0, VH_RAM_SIZE);
	h->fake = vh_add_fake(h);
	if (!h->fake)
		return -1;
	for (h->slot = 0; h->slot < PCI_MAX_SLOTS && !h->vm.pci->slots[h->slot]; h->slot++)
		;
	if (h->slot == PCI_MAX_SLOTS)
		return -1;
	h->pdev = h->vm.pci->slots[h->slot];
	return 0;
}

static inline void vh_fini(struct vh *h)
{
	if (h->pdev)
		virtio_pci_destroy(h->pdev);
	if (h->vm.io)
		iothread_destroy(h->vm.io);
	h->vm.pci->ecam.ops->destroy(&h->vm.pci->ecam);
	free(h->mem.hva);
}

/* ---- guest accesses ---- */

static inline uint64_t vh_bar_read(struct vh *h, uint64_t off, unsigned int len)
{
	uint64_t v = 0;

	h->pdev->ops->bar_read(h->pdev, 0, off, &v, len);
	return v;
}

static inline void vh_bar_write(struct vh *h, uint64_t off, uint64_t v, unsigned int len)
{
	h->pdev->ops->bar_write(h->pdev, 0, off, &v, len);
}

static inline uint64_t vh_ecam_off(struct vh *h, uint32_t reg)
{
	return ((uint64_t)h->slot << 15) | reg;
}

static inline uint32_t vh_cfg_read(struct vh *h, uint32_t reg, unsigned int len)
{
	uint32_t v = 0;

	h->vm.pci->ecam.ops->mmio_read(&h->vm.pci->ecam, vh_ecam_off(h, reg), (uint8_t *)&v, len);
	return v;
}

static inline void vh_cfg_write(struct vh *h, uint32_t reg, uint32_t v, unsigned int len)
{
	h->vm.pci->ecam.ops->mmio_write(&h->vm.pci->ecam, vh_ecam_off(h, reg), (const uint8_t *)&v,
				       len);
}

#define VH_CC(field)	(VH_COMMON + offsetof(struct virtio_pci_common_cfg, field))

static inline uint8_t vh_status(struct vh *h)
{
	return (uint8_t)vh_bar_read(h, VH_CC(device_status), 1);
}

static inline void vh_set_status(struct vh *h, uint8_t s)
{
	vh_bar_write(h, VH_CC(device_status), s, 1);
}

/* The driver's side of feature negotiation: ACKNOWLEDGE, DRIVER, features,
 * FEATURES_OK. Returns the status read back. */
static inline uint8_t vh_negotiate(struct vh *h, uint64_t features)
{
	vh_set_status(h, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vh_set_status(h, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vh_bar_write(h, VH_CC(guest_feature_select), 0, 4);
	vh_bar_write(h, VH_CC(guest_feature), (uint32_t)features, 4);
	vh_bar_write(h, VH_CC(guest_feature_select), 1, 4);
	vh_bar_write(h, VH_CC(guest_feature), (uint32_t)(features >> 32), 4);
	vh_set_status(h, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			 VIRTIO_CONFIG_S_FEATURES_OK);
	return vh_status(h);
}

/* Queue @q with @size entries and rings at @desc, @avail, @used; then
 * queue_enable. Returns what queue_enable reads back. */
static inline uint16_t vh_setup_queue(struct vh *h, uint16_t q, uint16_t size, uint64_t desc,
				      uint64_t avail, uint64_t used)
{
	vh_bar_write(h, VH_CC(queue_select), q, 2);
	vh_bar_write(h, VH_CC(queue_size), size, 2);
	vh_bar_write(h, VH_CC(queue_desc_lo), desc, 8);
	vh_bar_write(h, VH_CC(queue_avail_lo), avail, 8);
	vh_bar_write(h, VH_CC(queue_used_lo), used, 8);
	vh_bar_write(h, VH_CC(queue_enable), 1, 2);
	return (uint16_t)vh_bar_read(h, VH_CC(queue_enable), 2);
}

/* Memory Space Enable on and BAR 0 (64-bit) at @addr. */
static inline void vh_place_bar(struct vh *h, uint64_t addr)
{
	vh_cfg_write(h, PCI_BASE_ADDRESS_0, (uint32_t)addr | PCI_BASE_ADDRESS_MEM_TYPE_64, 4);
	vh_cfg_write(h, PCI_BASE_ADDRESS_1, (uint32_t)(addr >> 32), 4);
	vh_cfg_write(h, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

#endif
