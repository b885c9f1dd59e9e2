// SPDX-License-Identifier: GPL-2.0-only
/*
 * Vectors of a passed-through function (devices/vfio_irq.h), shared by its
 * MSI-X (devices/vfio.c) and MSI (devices/vfio_msi.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vfio_irq.h"
#include "vmm/msi.h"
#include "vmm/vm.h"

int vfio_vectors_init(struct vfio_vectors *v, unsigned int nr)
{
	v->efd = calloc(nr, sizeof(*v->efd));
	v->route = calloc(nr, sizeof(*v->route));
	if (!v->efd || !v->route)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr; i++)
		v->efd[i] = v->route[i] = -1;
	v->nr = nr;
	for (unsigned int i = 0; i < nr; i++) {
		v->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->efd[i] < 0)
			return -errno;
	}
	return 0;
}

int vfio_vectors_route(struct vfio_vectors *v, struct vm *vm, uint32_t devid, unsigned int vec,
		       uint64_t addr, uint32_t data)
{
	if (vec >= v->nr)
		return -EINVAL;
	if (v->route[vec] < 0) {
		int r = msi_route_alloc_eventfd(vm, devid, v->efd[vec]);

		if (r < 0)
			return r;
		v->route[vec] = r;
	}
	return msi_route_set(vm, v->route[vec], addr, data);
}

int vfio_vectors_attach(struct vfio_vectors *v, struct vm *vm, unsigned int vec, bool live)
{
	if (vec >= v->nr || v->route[vec] < 0)
		return 0;
	return msi_route_attach(vm, v->route[vec], live);
}

int vfio_vectors_fire(const struct vfio_vectors *v, unsigned int vec)
{
	uint64_t one = 1;

	if (vec >= v->nr)
		return -EINVAL;
	return write(v->efd[vec], &one, sizeof(one)) < 0 ? -errno : 0;
}

bool vfio_vectors_waiting(const struct vfio_vectors *v, unsigned int vec)
{
	struct pollfd p;

	if (vec >= v->nr)
		return false;
	p = (struct pollfd){ .fd = v->efd[vec], .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void vfio_vectors_destroy(struct vfio_vectors *v)
{
	for (unsigned int i = 0; v->efd && i < v->nr; i++)
		if (v->efd[i] >= 0)
			close(v->efd[i]);
	free(v->efd);
	free(v->route);
	v->efd = v->route = NULL;
	v->nr = 0;
}
