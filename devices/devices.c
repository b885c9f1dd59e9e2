// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <unistd.h>

#include "vmm/console.h"
#include "device.h"
#include "devices.h"
#include "vmm/gic.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "uart16550.h"
#include "vmm/vm.h"

static void device_irq_to_gic(void *opaque, unsigned int spi, bool level)
{
	gic_set_spi(opaque, spi, level);
}

static int attach(struct vm *vm, struct device *dev, const char *what)
{
	if (!dev) {
		pr_err("cannot create the %s: %m", what);
		return -ENOMEM;
	}
	dev->set_irq = device_irq_to_gic;
	dev->irq_opaque = vm;
	return vm_add_device(vm, dev);
}

/* The machine's devices, one line each, addresses from layout.h. */
int devices_create(struct vm *vm)
{
	struct console *con = &vm->console;
	int ret;

	con->uart = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, STDOUT_FILENO,
				     console_rx_ready, con);
	ret = attach(vm, con->uart, "console UART");
	if (ret < 0)
		return ret;
	return 0;
}

unsigned int devices_max_spi(const struct vm *vm)
{
	unsigned int max = 0;

	for (unsigned int i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i]->spi > max)
			max = vm->devices[i]->spi;
	return max;
}

void devices_reset(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i]->ops->reset)
			vm->devices[i]->ops->reset(vm->devices[i]);
}

void devices_destroy(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_devices; i++)
		vm->devices[i]->ops->destroy(vm->devices[i]);
	vm->nr_devices = 0;
}
