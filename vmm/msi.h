/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MSI_H
#define TERN_MSI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct vm;

/*
 * MSIs through the ITS: each MSI-X vector of each function gets a GSI whose
 * route is an MSI with its DeviceID (the PCI requester ID, which the device
 * tree's msi-map passes to the ITS unchanged), and an irqfd bound to that
 * GSI, so signalling a vector is one eventfd write from any thread.
 */
struct msi_route {
	uint32_t gsi;
	uint32_t devid;
	uint64_t addr;
	uint32_t data;
	bool valid;			/* has a message: part of the routing table */
	int irqfd;
	bool borrowed;			/* irqfd is the caller's (a VFIO vector's): not closed here */
	bool attached;			/* bound to the GSI with KVM_IRQFD */
	int spi;			/* >= 0: a wired SPI (irqchip route), not an MSI */
};

#define MSI_MAX_ROUTES	1024
/* GSIs below this stay free for wired interrupts (SPIs). */
#define MSI_FIRST_GSI	1024

struct msi_routes {
	pthread_mutex_t lock;
	struct msi_route routes[MSI_MAX_ROUTES];
	unsigned int nr;
	struct ratelimit lost_log;	/* an irqfd write failed */
};

/* Reserves a GSI for DeviceID @devid with its irqfd (KVM_IRQFD). The route
 * has no message yet. Returns the route's index or -errno. */
int msi_route_alloc(struct vm *vm, uint32_t devid);

/* The same for an eventfd someone else signals (a passed-through device's
 * vector, VFIO_DEVICE_SET_IRQS): @efd stays the caller's, and it is not
 * bound to the GSI until msi_route_attach(). */
int msi_route_alloc_eventfd(struct vm *vm, uint32_t devid, int efd);

/* A GSI routed to wired SPI @spi (an irqchip route, level: for a
 * passed-through device's INTx irqfd with its resample eventfd). KVM's
 * default routes go with the first KVM_SET_GSI_ROUTING, which replaces the
 * whole table, so the SPI's route is part of that table. The caller binds
 * its own irqfd to msi_route_gsi(). Returns the route's index or -errno. */
int msi_route_alloc_spi(struct vm *vm, unsigned int spi);

/* The GSI of route @route. */
uint32_t msi_route_gsi(const struct vm *vm, int route);

/* Binds (@on) or unbinds the route's eventfd and its GSI (KVM_IRQFD, or
 * with KVM_IRQFD_FLAG_DEASSIGN): unbound, signals accumulate in the
 * eventfd, and KVM delivers them when it is bound again (virt/kvm/eventfd.c
 * checks the eventfd when an irqfd is assigned). -errno. */
int msi_route_attach(struct vm *vm, int route, bool on);

/* Sets the route's message and pushes the routing table to KVM
 * (KVM_SET_GSI_ROUTING takes the whole table; called only on a change). */
int msi_route_set(struct vm *vm, int route, uint64_t addr, uint32_t data);

/* Raises the route's interrupt: one write to its irqfd. */
void msi_route_fire(struct vm *vm, int route);

void msi_routes_destroy(struct vm *vm);

/* Makes guest writes of @len bytes at @addr signal @efd inside KVM
 * (KVM_IOEVENTFD), or undoes it. -errno, not reported: the guest decides
 * the address, so the caller reports it rate-limited. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign);

/* The same for writes of exactly @datamatch only (KVM_IOEVENTFD_FLAG_DATAMATCH);
 * other writes still exit. Undone with the same @datamatch. */
int vm_ioeventfd_match(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign,
		       uint64_t datamatch);

#endif
