/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_PCI_TESTDEV_H
#define TERN_PCI_TESTDEV_H

struct pci_device;
struct vm;

/* QEMU's PCI test function (devices/pci_testdev.c), ready for pci_host_add;
 * NULL with errno set on failure. */
struct pci_device *pci_testdev_create(struct vm *vm);
void pci_testdev_destroy(struct pci_device *pdev);

#endif
