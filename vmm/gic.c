// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <unistd.h>

#include "gic.h"
#include "kvm.h"
#include "layout.h"
#include "log.h"
#include "vm.h"

static int create_device(struct vm *vm, uint32_t type, const char *name)
{
	struct kvm_create_device dev = { .type = type };
	long ret = kvm_ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev);

	if (ret == -ENODEV) {
		pr_err("KVM cannot create a %s on this host (no GICv3 support in the host's GIC?)", name);
		return -ENODEV;
	}
	if (kvm_report("vm", "KVM_CREATE_DEVICE", ret) < 0)
		return (int)ret;
	return (int)dev.fd;
}

static int set_addr(int fd, uint64_t type, uint64_t addr, const char *what)
{
	int ret = kvm_device_set_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, type, &addr);

	if (ret < 0)
		return (int)kvm_report(what, "KVM_SET_DEVICE_ATTR(GRP_ADDR)", ret);
	return 0;
}

/* SPIs start at INTID 32; KVM wants the total count, a multiple of 32, 64..1024. */
static uint32_t nr_irqs_for(unsigned int max_spi)
{
	uint32_t n = 32 + ((max_spi + 1 + 31) / 32) * 32;

	return n < 64 ? 64 : n;
}

int gic_create(struct vm *vm, unsigned int max_spi)
{
	struct gic *gic = &vm->gic;
	int ret;

	/* The map is fixed from CTRL_INIT on: KVM has mapped it for the guest. */
	if (gic->finalized) {
		pr_err("the vGIC is finalised; its memory map cannot change");
		return -EBUSY;
	}
	ret = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3, "vGICv3");
	if (ret < 0)
		return ret;
	gic->vgic_fd = ret;
	vm_trace(vm, "gic: vGICv3 created");

	/* One redistributor region covering every vCPU, created before this
	 * point; REDIST and REDIST_REGION must never be mixed. */
	ret = set_addr(gic->vgic_fd, KVM_VGIC_V3_ADDR_TYPE_DIST, LAYOUT_GICD_BASE, "vGICv3 distributor");
	if (ret < 0)
		return ret;
	ret = set_addr(gic->vgic_fd, KVM_VGIC_V3_ADDR_TYPE_REDIST, LAYOUT_GICR_BASE,
		       "vGICv3 redistributors");
	if (ret < 0)
		return ret;

	gic->nr_irqs = nr_irqs_for(max_spi);
	ret = kvm_device_set_attr(gic->vgic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &gic->nr_irqs);
	if (ret < 0)
		return (int)kvm_report("vGICv3", "KVM_SET_DEVICE_ATTR(GRP_NR_IRQS)", ret);

	ret = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS");
	if (ret < 0)
		return ret;
	gic->its_fd = ret;
	ret = set_addr(gic->its_fd, KVM_VGIC_ITS_ADDR_TYPE, LAYOUT_GITS_BASE, "ITS");
	if (ret < 0)
		return ret;
	/* PCI MSIs reach the ITS with their requester ID as DeviceID. */
	if (!kvm_check_extension(vm->vm_fd, KVM_CAP_MSI_DEVID)) {
		pr_err("KVM_CAP_MSI_DEVID missing with an ITS: host kernel 4.8+ needed");
		return -ENOTSUP;
	}
	vm_trace(vm, "gic: map set: dist %#llx, redist %#llx (+%#llx), its %#llx, %u irqs",
		 LAYOUT_GICD_BASE, LAYOUT_GICR_BASE, (unsigned long long)vm->layout.gicr_size,
		 LAYOUT_GITS_BASE, gic->nr_irqs);
	return 0;
}

int gic_finalize(struct vm *vm)
{
	struct gic *gic = &vm->gic;
	int ret;

	/* EBUSY here means a vCPU exists that was not initialised (VCPU_INIT). */
	ret = kvm_device_set_attr(gic->vgic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
				  KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (ret < 0)
		return (int)kvm_report("vGICv3", "KVM_DEV_ARM_VGIC_CTRL_INIT", ret);
	ret = kvm_device_set_attr(gic->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL,
				  KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (ret < 0)
		return (int)kvm_report("ITS", "KVM_DEV_ARM_VGIC_CTRL_INIT", ret);
	gic->finalized = true;
	vm_trace(vm, "gic: CTRL_INIT done, vGICv3 and ITS finalised");
	return 0;
}

int gic_set_spi(struct vm *vm, unsigned int spi, bool level)
{
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi),
		.level = level,
	};

	return (int)kvm_ioctl_checked("vm", vm->vm_fd, KVM_IRQ_LINE, &irq);
}

void gic_destroy(struct gic *gic)
{
	if (gic->its_fd > 0)
		close(gic->its_fd);
	if (gic->vgic_fd > 0)
		close(gic->vgic_fd);
}
