// SPDX-License-Identifier: GPL-2.0-only
/*
 * INTx of a passed-through function (devices/vfio_intx.h): the device's
 * legacy interrupt reaches the guest's SPI without passing through tern.
 *
 * VFIO signals the trigger eventfd when the device asserts its line, and
 * masks the line at the same time (vfio-pci's INTx handler; level interrupts
 * cannot be forwarded any other way). The trigger is a KVM irqfd with a
 * resample eventfd (KVM_IRQFD_FLAG_RESAMPLE, Documentation/virt/kvm/api.rst):
 * KVM raises the SPI, and when the guest EOIs it lowers the SPI and signals
 * the resample eventfd, which VFIO takes as ACTION_UNMASK; if the device
 * still asserts its line, it fires again. The SPI's GSI is an irqchip route
 * in tern's routing table (vmm/msi.c).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "pci.h"
#include "vfio_host.h"
#include "vfio_intx.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/msi.h"
#include "vmm/vm.h"

int vfio_intx_init(struct vfio_intx *x, const struct vfio_host *h)
{
	*x = (struct vfio_intx){ .trigger = -1, .resample = -1, .route = -1 };
	if (!vfio_host_has_intx(h))
		return 0;
	x->trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return x->trigger < 0 || x->resample < 0 ? -errno : 0;
}

int vfio_intx_route(struct vfio_intx *x, struct vm *vm, const struct vfio_host *h, uint8_t devfn)
{
	if (x->trigger < 0)
		return 0;
	x->spi = pci_intx_spi(devfn, 1);
	x->route = msi_route_alloc_spi(vm, x->spi);
	if (x->route < 0) {
		pr_err("vfio %s: cannot route its INTx to SPI %u (KVM_SET_GSI_ROUTING): %s",
		       h->name, x->spi, strerror(-x->route));
		return x->route;
	}
	return 0;
}

static int irqfd(struct vm *vm, const struct vfio_intx *x, bool on)
{
	struct kvm_irqfd req = {
		.fd = (uint32_t)x->trigger,
		.gsi = msi_route_gsi(vm, x->route),
		.flags = on ? KVM_IRQFD_FLAG_RESAMPLE : KVM_IRQFD_FLAG_DEASSIGN,
		.resamplefd = on ? (uint32_t)x->resample : 0,
	};

	return (int)kvm_ioctl(vm->vm_fd, KVM_IRQFD, &req);
}

/* Off: KVM lets go of the trigger first (lowering the SPI), then VFIO.
 * On: VFIO's trigger and unmask first, so that the guest's first EOI finds
 * the unmask in place; a stale count in the trigger is dropped. */
int vfio_intx_set(struct vfio_intx *x, struct vm *vm, const struct vfio_host *h, bool on)
{
	uint64_t stale;
	int ret;

	if (x->trigger < 0 || x->route < 0 || x->on == on)
		return 0;
	if (!on) {
		ret = irqfd(vm, x, false);
		if (ret < 0)
			return ret;
		x->on = false;
		return vfio_host_set_intx(h, -1, -1);
	}
	if (read(x->trigger, &stale, sizeof(stale)) < 0 && errno != EAGAIN)
		return -errno;
	if (read(x->resample, &stale, sizeof(stale)) < 0 && errno != EAGAIN)
		return -errno;
	ret = vfio_host_set_intx(h, x->trigger, x->resample);
	if (ret < 0)
		return ret;
	ret = irqfd(vm, x, true);
	if (ret < 0) {
		vfio_host_set_intx(h, -1, -1);
		return ret;
	}
	x->on = true;
	return 0;
}

void vfio_intx_destroy(struct vfio_intx *x)
{
	if (x->trigger >= 0)
		close(x->trigger);
	if (x->resample >= 0)
		close(x->resample);
	x->trigger = x->resample = -1;
}
