/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_H
#define TERN_VFIO_H

struct vm;
struct vfio_config;
struct vfio_dev;

/*
 * Passes the host PCI function of @cfg through to the guest (devices/vfio.c
 * says how): opened, guest RAM mapped for its DMA, BARs mmapped, put on the
 * VM's PCI bus. On success *@out is the function, which vfio_pci_destroy
 * releases. -errno after a message naming the device and the cause.
 */
int vfio_pci_add(struct vm *vm, const struct vfio_config *cfg, struct vfio_dev **out);

/* Once the vGIC is initialised, before any vCPU runs: INTx wired (while
 * MSI-X is off; a device whose INTx VFIO cannot enable goes on without,
 * with a warning). -errno after a message. */
int vfio_pci_start(struct vfio_dev *d);

/* At exit: MSI-X off, device reset, DMA unmapped, everything closed; logs
 * how many guest BAR accesses came to tern. NULL is a no-op. */
void vfio_pci_destroy(struct vfio_dev *d);

#endif
