// SPDX-License-Identifier: GPL-2.0-only
#include <stddef.h>

#include "devices/device.h"
#include "exit_path.h"
#include "layout.h"
#include "mmio.h"
#include "vm.h"

EXIT_PATH struct device *vm_find_device(const struct vm *vm, uint64_t gpa, unsigned int len)
{
	for (unsigned int i = 0; i < vm->nr_devices; i++)
		if (device_contains(vm->devices[i], gpa, len))
			return vm->devices[i];
	return NULL;
}

/*
 * Most exits of a vCPU hit the device its previous exit hit (a driver
 * polling a register, a console writing a line), so that one is compared
 * first and the list is scanned only on a change. The vGIC's frames are
 * named only for an access no device claims: they are KVM's, and one
 * reaching userspace is a bring-up bug, not a case to test per exit.
 */
EXIT_PATH enum mmio_result mmio_access(const struct vm *vm, struct device **hint, uint64_t gpa,
			     uint8_t *data, unsigned int len, bool is_write)
{
	struct device *dev = *hint;

	if (len == 0 || len > 8)
		return MMIO_BAD_LENGTH;
	if (!dev || !device_contains(dev, gpa, len)) {
		dev = vm_find_device(vm, gpa, len);
		if (!dev)
			return layout_gic_frame(&vm->layout, gpa) ? MMIO_GIC_FRAME : MMIO_UNCLAIMED;
		*hint = dev;
	}
	if (is_write)
		dev->ops->mmio_write(dev, gpa - dev->mmio_base, data, len);
	else
		dev->ops->mmio_read(dev, gpa - dev->mmio_base, data, len);
	return MMIO_DONE;
}
