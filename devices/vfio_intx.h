/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_INTX_H
#define TERN_VFIO_INTX_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vfio_host;

/*
 * The legacy interrupt (INTA, as the guest sees it) of a passed-through
 * function, wired VFIO -> KVM irqfd -> the slot's SPI with a resample
 * eventfd that unmasks through VFIO: no hop through tern per interrupt.
 * VFIO lets a device have one kind of interrupt on at a time, so INTx is on
 * exactly while the guest has MSI-X off (devices/vfio.c).
 */
struct vfio_intx {
	int trigger;		/* VFIO's trigger = KVM's irqfd; -1: the device has no INTx */
	int resample;		/* KVM's resample eventfd = VFIO's unmask */
	int route;		/* irqchip route to the SPI (vmm/msi.c) */
	unsigned int spi;
	bool on;
};

/* Sets @x up (its eventfds), or as absent when VFIO offers no INTx for the
 * device. -errno. */
int vfio_intx_init(struct vfio_intx *x, const struct vfio_host *h);

/* The route to the SPI of the function at @devfn on tern's bus; once the
 * vGIC is initialised (KVM_IRQFD wants it, and its initialisation installs
 * KVM's default routing table). -errno after a message. */
int vfio_intx_route(struct vfio_intx *x, struct vm *vm, const struct vfio_host *h, uint8_t devfn);

/* Wires (@on) or unwires INTx; no-op when already so, absent or not routed
 * yet. -errno. */
int vfio_intx_set(struct vfio_intx *x, struct vm *vm, const struct vfio_host *h, bool on);

void vfio_intx_destroy(struct vfio_intx *x);

#endif
