/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_CFG_H
#define TERN_VFIO_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "msi_cap.h"
#include "pci.h"

/*
 * The pure half of VFIO-PCI passthrough (devices/vfio.c is the host half):
 * what the guest's config space of a passed-through function looks like,
 * and which parts of each BAR can be guest memory (KVM memslots over the
 * VFIO mmap) rather than trapped. No system calls: unit-tested and fuzzed.
 *
 * Config space the guest sees is built from the device's own 256 bytes:
 * - IDs, class, revision, subsystem IDs copied; header type 0; BARs and the
 *   command register emulated by devices/pci.c (sizes from VFIO's region
 *   info, so the guest's sizing never reaches the device); the expansion
 *   ROM, INTx pin and the cache line/latency fields read as 0 (hidden;
 *   devices/vfio.c then shows INTA when VFIO offers the device's INTx).
 * - the capability list is rebuilt: kept are power management, PCI Express,
 *   vendor-specific (virtio finds its structures through them), MSI-X and
 *   MSI; every other capability is unlinked, so the guest never learns of
 *   it. Kept capabilities stay at their offsets. Their bodies (not MSI-X's
 *   or MSI's) are live: guest reads and writes go to the device (vfio-pci
 *   virtualises what needs it); the MSI-X capability is emulated
 *   (devices/msix.c), and so is MSI's (devices/msi_cap.c): what the guest
 *   writes there reaches the device only as the IRQ set-up
 *   VFIO_DEVICE_SET_IRQS makes.
 * - extended config space (0x100 on) reads as 0: no extended capabilities.
 */
#define VFIO_CFG_MAX_CAPS	48	/* (256 - 64) / 4: a longer chain loops */

struct vfio_bar_info {
	uint64_t size;		/* VFIO region size; 0: no BAR */
	bool is64;		/* from the BAR register's type bits */
	bool prefetch;
	bool io;		/* an I/O BAR: not offered to the guest */
};

struct vfio_msix_info {
	uint8_t cap;		/* capability offset; 0: none */
	unsigned int nr_vectors;
	int bar;
	uint32_t table_off;
	uint32_t pba_off;
};

struct vfio_cfg {
	struct vfio_bar_info bars[PCI_NUM_BARS];
	struct vfio_msix_info msix;
	struct msi_cap msi;		/* cap 0: none */
	/* Config bytes served live from the device (kept capability bodies). */
	bool live[PCI_CFG_SPACE_SIZE];
	unsigned int nr_hidden;		/* capabilities unlinked */
	uint8_t hidden_ids[VFIO_CFG_MAX_CAPS];
};

/*
 * Builds @pdev's config space from @dev_cfg (the device's first 256 bytes)
 * and @region_size (VFIO region size of BAR i). Declares the BARs with
 * pci_device_add_bar (sizes below 4 KiB rounded up to 4 KiB); fills @out.
 * -EINVAL with a message in @err for a device tern cannot pass through
 * (not a type 0 header, a BAR whose size is not a power of two, a broken
 * MSI-X or MSI capability).
 */
int vfio_cfg_build(struct pci_device *pdev, const uint8_t dev_cfg[PCI_CFG_SPACE_SIZE],
		   const uint64_t region_size[PCI_NUM_BARS], struct vfio_cfg *out, char *err,
		   unsigned int errlen);

/* A span [off, off+size) of a BAR. */
struct vfio_span {
	uint64_t off;
	uint64_t size;
};

#define VFIO_MAX_PIECES	16

/*
 * The parts of a BAR that become memslots: the mmappable @areas (sorted,
 * not overlapping; VFIO's sparse mmap areas, or the whole BAR) less the
 * @holes (the MSI-X table and PBA, which must trap), each hole widened to
 * whole @page_size pages. Pieces not page-aligned are dropped. Writes at
 * most @max pieces to @out, in order; returns how many, or -ENOSPC.
 */
int vfio_bar_pieces(const struct vfio_span *areas, unsigned int nr_areas,
		    const struct vfio_span *holes, unsigned int nr_holes, uint64_t page_size,
		    struct vfio_span *out, unsigned int max);

#endif
