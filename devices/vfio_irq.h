/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_IRQ_H
#define TERN_VFIO_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/*
 * The message-signalled vectors of a passed-through function, MSI-X's or
 * MSI's: vector i's VFIO trigger eventfd (VFIO_DEVICE_SET_IRQS) is also the
 * irqfd of vector i's KVM GSI route, an MSI carrying the requester ID as
 * ITS DeviceID (vmm/msi.c), so an interrupt never passes through tern. A
 * vector that may not signal (masked, or not enabled) has its irqfd
 * unbound from KVM: what the device signals meanwhile waits in the
 * eventfd, and KVM delivers it when the irqfd is bound again.
 */
struct vfio_vectors {
	int *efd;			/* per vector; VFIO trigger = irqfd */
	int *route;			/* MSI route per vector, -1 until first routed */
	unsigned int nr;
};

/* @nr eventfds (nonblocking), no routes yet. -errno (the caller then
 * destroys @v). */
int vfio_vectors_init(struct vfio_vectors *v, unsigned int nr);

/* Vector @vec will be delivered as (@addr, @data) with ITS DeviceID
 * @devid: its route is made on first use, then updated (KVM's table is
 * pushed only on a change). -errno. */
int vfio_vectors_route(struct vfio_vectors *v, struct vm *vm, uint32_t devid, unsigned int vec,
		       uint64_t addr, uint32_t data);

/* Binds (@live) or unbinds vector @vec's irqfd; a vector never routed has
 * nothing to bind (0). -errno. */
int vfio_vectors_attach(struct vfio_vectors *v, struct vm *vm, unsigned int vec, bool live);

/* Signals vector @vec as the device would (an interrupt tern held). */
int vfio_vectors_fire(const struct vfio_vectors *v, unsigned int vec);

/* Whether vector @vec's eventfd holds a signal not yet delivered (only
 * possible while unbound): poll, not read, so it stays there. */
bool vfio_vectors_waiting(const struct vfio_vectors *v, unsigned int vec);

/* Closes the eventfds (the routes are the VM's). NULL arrays: no-op. */
void vfio_vectors_destroy(struct vfio_vectors *v);

#endif
