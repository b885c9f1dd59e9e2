/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_HOST_H
#define TERN_VFIO_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include "vfio_cfg.h"

/*
 * The host side of a passed-through PCI function: the VFIO container/group
 * API with the type1 IOMMU (Documentation/driver-api/vfio.rst), one
 * container per device; or the device's own node bound to an iommufd, one
 * IO address space per device (Documentation/userspace-api/iommufd.rst).
 * Opening refuses, with what to do about it, a device that is not bound to
 * vfio-pci, has no IOMMU group, sits in a group that is not viable, or whose
 * /dev/vfio or /dev/iommu nodes tern may not open or the kernel lacks.
 */
#define VFIO_MAX_AREAS	8

struct vfio_region {
	uint32_t index;
	uint32_t flags;			/* VFIO_REGION_INFO_FLAG_* */
	uint64_t size;
	uint64_t offset;		/* in the device fd */
	struct vfio_span areas[VFIO_MAX_AREAS];	/* mmappable (sparse caps honoured) */
	unsigned int nr_areas;
};

struct vfio_host {
	char name[16];			/* DDDD:BB:DD.F */
	int container, group, fd;	/* container, group: -1 with iommufd */
	int iommufd;			/* -1 with the container */
	uint32_t ioas_id;		/* the iommufd's IO address space */
	int group_id;
	uint32_t flags;			/* VFIO_DEVICE_FLAGS_* */
	struct vfio_region config;
	struct vfio_region bars[6];
	uint64_t dma_iova, dma_size;	/* guest RAM as mapped for the device; size 0: none */
};

/* Opens the function at sysfs directory @sysfs, through an iommufd if
 * @iommufd, else through its group's container. -errno after a message. */
int vfio_host_open(struct vfio_host *h, const char *sysfs, bool iommufd);

/* Maps [@hva, +@size) at IOVA @iova for the device's DMA (pins it). */
int vfio_host_map_dma(struct vfio_host *h, void *hva, uint64_t iova, uint64_t size);

/* Reads the region info of every BAR and of config space. */
int vfio_host_read_regions(struct vfio_host *h);

/* pread/pwrite of region @r at @off; short or failed: -errno. */
int vfio_host_region_read(const struct vfio_host *h, const struct vfio_region *r, uint64_t off,
			  void *data, unsigned int len);
int vfio_host_region_write(const struct vfio_host *h, const struct vfio_region *r, uint64_t off,
			   const void *data, unsigned int len);

/* MSI-X (@index VFIO_PCI_MSIX_IRQ_INDEX) or MSI (VFIO_PCI_MSI_IRQ_INDEX)
 * triggers: @nr eventfds from vector 0 (VFIO_DEVICE_SET_IRQS), or none
 * (@nr 0: that kind off at the device). vfio-pci allows one kind at a time
 * and a new vector count only from off. -errno. */
int vfio_host_set_vectors(const struct vfio_host *h, uint32_t index, const int *efds,
			  unsigned int nr);

/* Whether the device has a legacy interrupt VFIO can signal
 * (VFIO_DEVICE_GET_IRQ_INFO of VFIO_PCI_INTX_IRQ_INDEX: count 1). */
bool vfio_host_has_intx(const struct vfio_host *h);

/*
 * INTx on (@trigger >= 0): VFIO signals @trigger when the device asserts
 * its line, masking the line at the same moment, and unmasks it when
 * @unmask is signalled (ACTION_UNMASK with an eventfd: KVM's resample
 * eventfd, so the path never enters tern). @trigger -1: INTx off (the
 * unmask eventfd goes with it). -errno.
 */
int vfio_host_set_intx(const struct vfio_host *h, int trigger, int unmask);

/* VFIO_DEVICE_RESET when the device has one (FLR or another reset). */
int vfio_host_reset(const struct vfio_host *h);

/* Unmaps the DMA, closes device, group and container. Idempotent. */
void vfio_host_close(struct vfio_host *h);

#endif
