// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "msi.h"
#include "vm.h"

static int irqfd_bind(struct vm *vm, const struct msi_route *r, bool on)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)r->irqfd,
		.gsi = r->gsi,
		.flags = on ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	return (int)kvm_ioctl_checked("vm", vm->vm_fd, KVM_IRQFD, &irqfd);
}

static int push_routing_table(struct vm *vm);

/* A new route on eventfd @efd (-1: one of its own), bound at once if @bind. */
static int route_alloc(struct vm *vm, uint32_t devid, int efd, bool bind)
{
	struct msi_routes *m = &vm->msi;
	struct msi_route *r;
	int idx, ret;

	pthread_mutex_lock(&m->lock);
	if (m->nr == MSI_MAX_ROUTES) {
		pthread_mutex_unlock(&m->lock);
		pr_err("out of MSI routes (%d)", MSI_MAX_ROUTES);
		return -ENOSPC;
	}
	idx = (int)m->nr;
	r = &m->routes[idx];
	r->gsi = MSI_FIRST_GSI + (uint32_t)idx;
	r->devid = devid;
	r->valid = false;
	r->borrowed = efd >= 0;
	r->attached = false;
	r->spi = -1;
	r->irqfd = efd >= 0 ? efd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->irqfd < 0) {
		ret = -errno;
		pthread_mutex_unlock(&m->lock);
		return ret;
	}
	if (bind) {
		ret = irqfd_bind(vm, r, true);
		if (ret < 0) {
			if (!r->borrowed)
				close(r->irqfd);
			pthread_mutex_unlock(&m->lock);
			return ret;
		}
		r->attached = true;
	}
	m->nr++;
	pthread_mutex_unlock(&m->lock);
	return idx;
}

int msi_route_alloc(struct vm *vm, uint32_t devid)
{
	return route_alloc(vm, devid, -1, true);
}

int msi_route_alloc_eventfd(struct vm *vm, uint32_t devid, int efd)
{
	return efd < 0 ? -EINVAL : route_alloc(vm, devid, efd, false);
}

int msi_route_alloc_spi(struct vm *vm, unsigned int spi)
{
	struct msi_routes *m = &vm->msi;
	int idx, ret;

	pthread_mutex_lock(&m->lock);
	if (m->nr == MSI_MAX_ROUTES) {
		pthread_mutex_unlock(&m->lock);
		pr_err("out of GSI routes (%d)", MSI_MAX_ROUTES);
		return -ENOSPC;
	}
	idx = (int)m->nr;
	m->routes[idx] = (struct msi_route){
		.gsi = MSI_FIRST_GSI + (uint32_t)idx, .valid = true, .irqfd = -1,
		.borrowed = true, .spi = (int)spi,
	};
	m->nr++;
	ret = push_routing_table(vm);
	if (ret < 0)
		m->nr--;
	pthread_mutex_unlock(&m->lock);
	return ret < 0 ? ret : idx;
}

uint32_t msi_route_gsi(const struct vm *vm, int route)
{
	return vm->msi.routes[route].gsi;
}

/* Route @route with m->lock taken, or NULL (not locked) if there is none. */
static struct msi_route *route_lock(struct msi_routes *m, int route)
{
	pthread_mutex_lock(&m->lock);
	if (route >= 0 && (unsigned int)route < m->nr)
		return &m->routes[route];
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int msi_route_attach(struct vm *vm, int route, bool on)
{
	struct msi_routes *m = &vm->msi;
	struct msi_route *r;
	int ret = 0;

	r = route_lock(m, route);
	if (!r)
		return -EINVAL;
	if (r->attached != on) {
		ret = irqfd_bind(vm, r, on);
		if (!ret)
			r->attached = on;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Pushes every route that has a message; called with m->lock held. */
static int push_routing_table(struct vm *vm)
{
	struct msi_routes *m = &vm->msi;
	struct kvm_irq_routing *table;
	unsigned int n = 0;
	int ret;

	table = calloc(1, sizeof(*table) + m->nr * sizeof(table->entries[0]));
	if (!table)
		return -ENOMEM;
	for (unsigned int i = 0; i < m->nr; i++) {
		const struct msi_route *r = &m->routes[i];
		struct kvm_irq_routing_entry *e = &table->entries[n];

		if (!r->valid)
			continue;
		e->gsi = r->gsi;
		if (r->spi >= 0) {
			/* arch/arm64/kvm/vgic/vgic-irqfd.c: pin is the SPI's
			 * number from 0, irqchip 0 the vGIC. */
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip = 0;
			e->u.irqchip.pin = (uint32_t)r->spi;
			n++;
			continue;
		}
		e->type = KVM_IRQ_ROUTING_MSI;
		/* The ITS needs the DeviceID to find the device's ITT. */
		e->flags = KVM_MSI_VALID_DEVID;
		e->u.msi.address_lo = (uint32_t)r->addr;
		e->u.msi.address_hi = (uint32_t)(r->addr >> 32);
		e->u.msi.data = r->data;
		e->u.msi.devid = r->devid;
		n++;
	}
	table->nr = n;
	/* Not reported here: the guest writes the messages, as often as it
	 * likes; msix.c reports a refused one, rate-limited. */
	ret = (int)__kvm_ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, (unsigned long)table);
	free(table);
	return ret;
}

int msi_route_set(struct vm *vm, int route, uint64_t addr, uint32_t data)
{
	struct msi_routes *m = &vm->msi;
	struct msi_route *r;
	int ret = 0;

	r = route_lock(m, route);
	if (!r)
		return -EINVAL;
	if (!r->valid || r->addr != addr || r->data != data) {
		r->addr = addr;
		r->data = data;
		r->valid = true;
		ret = push_routing_table(vm);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void msi_route_fire(struct vm *vm, int route)
{
	uint64_t one = 1;

	if (route < 0 || (unsigned int)route >= vm->msi.nr)
		return;
	if (write(vm->msi.routes[route].irqfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn_ratelimited(&vm->msi.lost_log, "MSI on GSI %u lost: %m",
				    vm->msi.routes[route].gsi);
}

void msi_routes_destroy(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->msi.nr; i++)
		if (!vm->msi.routes[i].borrowed)
			close(vm->msi.routes[i].irqfd);
	vm->msi.nr = 0;
}

static int ioeventfd(struct vm *vm, struct kvm_ioeventfd *io, bool assign)
{
	if (!assign)
		io->flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	/* Not kvm_ioctl_checked: a guest moving BARs can make this fail at will;
	 * the caller reports it, rate-limited. */
	return (int)kvm_ioctl(vm->vm_fd, KVM_IOEVENTFD, io);
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign)
{
	struct kvm_ioeventfd io = { .addr = addr, .len = len, .fd = efd };

	return ioeventfd(vm, &io, assign);
}

int vm_ioeventfd_match(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign,
		       uint64_t datamatch)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return ioeventfd(vm, &io, assign);
}
