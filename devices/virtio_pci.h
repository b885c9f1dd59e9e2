/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VIRTIO_PCI_H
#define TERN_VIRTIO_PCI_H

#include <stdint.h>

struct pci_device;
struct vm;
struct virtio_device;

/*
 * The modern (VIRTIO 1.x only) PCI transport: a PCI function with one 64-bit
 * memory BAR holding the common, ISR, device and notify structures and the
 * MSI-X table and PBA; one MSI-X vector per queue plus one for config
 * changes, delivered through the ITS; queue kicks caught in KVM by
 * ioeventfds and handled on the VM's I/O thread.
 * Takes ownership of @vdev. -errno.
 */
int virtio_pci_add(struct vm *vm, struct virtio_device *vdev, uint32_t class_code);

/* Frees a function virtio_pci_add made (removed from its host first) and
 * its model. The VM's I/O thread must still exist (the kicks leave it). For
 * tests: a VM's functions otherwise live as long as tern. */
void virtio_pci_destroy(struct pci_device *pdev);

#endif
