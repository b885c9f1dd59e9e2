/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_VFIO_MSI_H
#define TERN_VFIO_MSI_H

#include <stdbool.h>
#include <stdint.h>

#include "msi_cap.h"
#include "vfio_irq.h"
#include "vmm/log.h"

struct vm;
struct vfio_host;

/*
 * MSI (not MSI-X) of a passed-through function: the guest's view is the
 * emulated capability (devices/msi_cap.c); the device's MSI is on
 * (VFIO_DEVICE_SET_IRQS, VFIO_PCI_MSI_IRQ_INDEX) with as many vectors as
 * the guest enabled while it has MSI enabled, and each live vector's
 * eventfd is bound as the irqfd of its KVM route (devices/vfio_irq.h): no
 * hop through tern per interrupt. A masked vector's irqfd is unbound; its
 * signals wait in the eventfd (the capability's pending bit reads them)
 * and arrive at the unmask. devices/vfio.c keeps INTx off while MSI is on.
 */
struct vfio_msi {
	struct msi_cap cap;		/* cap 0: the device has no MSI */
	struct vfio_vectors vec;	/* cap.max_vectors of them */
	unsigned int on;		/* vectors enabled at the device; 0: MSI off */
	struct ratelimit log;		/* what the guest's values made fail */
};

/* Sets @m up for the function's capability @cap (none: @m stays inert).
 * -errno; vfio_msi_destroy then releases what was made. */
int vfio_msi_init(struct vfio_msi *m, const struct msi_cap *cap);

/*
 * Brings the device and the routes in line with @s (what the guest's
 * capability says now), for the function with ITS DeviceID @devid:
 * device MSI off when the guest disabled it or changed the vector count
 * (vfio-pci takes a new count only from off), on with s->nr_vectors when
 * enabled — unless @msix_on (PCI forbids both; logged, rate-limited) —
 * then each vector routed and bound while live, unbound otherwise.
 * Failures are logged, rate-limited: the guest chose the values.
 */
void vfio_msi_apply(struct vfio_msi *m, struct vm *vm, const struct vfio_host *h, uint32_t devid,
		    const struct msi_cap_state *s, bool msix_on, const char *name);

/* Device MSI off and every irqfd unbound (guest reset, exit). */
void vfio_msi_off(struct vfio_msi *m, struct vm *vm, const struct vfio_host *h, const char *name);

/* The capability's pending bits: vectors enabled at the device, not
 * live under @s, whose eventfd holds a signal. */
uint32_t vfio_msi_pending(const struct vfio_msi *m, const struct msi_cap_state *s);

void vfio_msi_destroy(struct vfio_msi *m);

#endif
