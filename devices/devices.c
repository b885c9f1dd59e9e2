// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "migration/state.h"
#include "device.h"
#include "devices.h"
#include "pci.h"
#include "pci_testdev.h"
#include "pl011.h"
#include "pl031.h"
#include "uart16550.h"
#include "vfio.h"
#include "virtio_devices.h"
#include "virtio_pci.h"
#include "vmm/console.h"
#include "vmm/firmware.h"
#include "vmm/gic.h"
#include "vmm/iothread.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "vmm/vm.h"

/* PCI class codes (base class, subclass, prog-if) of tern's functions. */
#define PCI_CLASS_CODE_STORAGE_OTHER	0x018000
#define PCI_CLASS_CODE_ETHERNET		0x020000
#define PCI_CLASS_CODE_COMM_OTHER	0x078000
#define PCI_CLASS_CODE_OTHER		0xff0000

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

static int attach_virtio(struct vm *vm, struct virtio_device *vdev, uint32_t class_code)
{
	if (!vdev)
		return -errno ? -errno : -EINVAL;	/* the model said why */
	return virtio_pci_add(vm, vdev, class_code);
}

static int attach_pci(struct vm *vm, struct pci_device *pdev, const char *what)
{
	int ret;

	if (!pdev) {
		pr_err("cannot create the %s: %m", what);
		return -ENOMEM;
	}
	ret = pci_host_add(vm->pci, pdev);
	if (ret)
		pr_err("cannot add the %s on PCI: %s", what, strerror(-ret));
	return ret;
}

/* Without mac=, nic i gets 52:54:00:12:34:56 + i: locally administered,
 * stable across runs, distinct per nic. */
static struct virtio_device *create_net(struct vm *vm, unsigned int i)
{
	static const uint8_t base_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_config net = vm->cfg->nets[i];

	if (!net.mac_set) {
		memcpy(net.mac, base_mac, sizeof(net.mac));
		net.mac[5] = (uint8_t)(net.mac[5] + i);
	}
	return virtio_net_create(&net, &vm->ram, vm->io);
}

static int create_pci_bus(struct vm *vm)
{
	int ret = pci_host_init(vm->pci, &vm->layout);

	if (!ret)
		ret = vm_add_device(vm, &vm->pci->ecam);
	if (!ret)
		ret = vm_add_device(vm, &vm->pci->mmio);
	if (!ret && vm->pci->mmio64.mmio_size)
		ret = vm_add_device(vm, &vm->pci->mmio64);
	return ret;
}

/* What --firmware adds: its flash, an RTC, and a PL011 that becomes the
 * console (input and /chosen/stdout-path) in place of the 16550, which
 * stays for a guest OS that prefers it. After the PCI bus: the firmware's
 * bridge gets an I/O window. */
static int create_firmware_devices(struct vm *vm)
{
	struct console *con = &vm->console;
	struct device *pl011;
	int ret;

	ret = firmware_flash_create(vm);
	if (!ret)
		ret = attach(vm, pl031_create(LAYOUT_PL031_BASE, LAYOUT_PL031_SPI), "PL031 RTC");
	if (ret)
		return ret;
	pl011 = pl011_create(LAYOUT_PL011_BASE, LAYOUT_PL011_SPI, con->out_fd, console_rx_ready,
			     con);
	ret = attach(vm, pl011, "PL011 UART");
	if (ret)
		return ret;
	con->uart = pl011;
	con->receive = pl011_receive;
	vm->pci->io_window = true;
	return 0;
}

/* The machine's devices, one line each; addresses come from layout.h. */
int devices_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	const struct guest_memory *mem = &vm->ram;
	struct console *con = &vm->console;
	int ret;

	vm->io = iothread_create();
	if (!vm->io)
		return -ENOMEM;
	con->uart = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, con->out_fd,
				     console_rx_ready, con);
	con->receive = uart16550_receive;
	ret = attach(vm, con->uart, "console UART");
	if (!ret)
		ret = create_pci_bus(vm);
	if (!ret && cfg->firmware_path)
		ret = create_firmware_devices(vm);
	if (!ret)
		ret = attach_virtio(vm, virtio_rng_create(mem, vm->io), PCI_CLASS_CODE_OTHER);
	for (unsigned int i = 0; !ret && i < cfg->nr_disks; i++)
		ret = attach_virtio(vm, virtio_blk_create(&cfg->disks[i], mem, vm->io),
				    PCI_CLASS_CODE_STORAGE_OTHER);
	for (unsigned int i = 0; !ret && i < cfg->nr_nets; i++)
		ret = attach_virtio(vm, create_net(vm, i), PCI_CLASS_CODE_ETHERNET);
	if (!ret && cfg->vconsole_pty)
		ret = attach_virtio(vm, virtio_console_create_pty(mem, vm->io),
				    PCI_CLASS_CODE_COMM_OTHER);
	if (!ret && cfg->pci_testdev)
		ret = attach_pci(vm, pci_testdev_create(vm), "pci-testdev");
	for (unsigned int i = 0; !ret && i < cfg->nr_vfio; i++)
		ret = vfio_pci_add(vm, &cfg->vfio[i], &vm->vfio[vm->nr_vfio++]);
	/* Last: whether any function took I/O ports is known now. */
	if (!ret && vm->pci->io_window)
		ret = vm_add_device(vm, &vm->pci->io);
	return ret;
}

/* After the VM is built: device work may start. */
int devices_start(struct vm *vm)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < vm->nr_vfio; i++)
		ret = vfio_pci_start(vm->vfio[i]);
	return ret ? ret : iothread_start(vm->io);
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
	/* The I/O thread first: no handler may run on a device being freed. */
	iothread_destroy(vm->io);
	vm->io = NULL;
	for (unsigned int i = 0; i < vm->nr_vfio; i++)
		vfio_pci_destroy(vm->vfio[i]);
	vm->nr_vfio = 0;
	for (unsigned int i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i]->ops->destroy)
			vm->devices[i]->ops->destroy(vm->devices[i]);
	vm->nr_devices = 0;
}

/* ---- snapshots ------------------------------------------------------------ */

bool devices_migration_blocker(struct vm *vm, char *why, size_t len)
{
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		if (vm->pci->slots[s] && vm->pci->slots[s]->no_migration) {
			snprintf(why, len, "%s is a passed-through host device (VFIO), whose state "
				 "tern cannot save", vm->pci->slots[s]->name);
			return true;
		}
	}
	return false;
}

/* Device @i with snapshot state: one of vm->devices (the UART; with
 * --firmware the flash banks, the RTC and the PL011), else a PCI
 * function. Exactly one of *dev, *pdev is set; false if there is no @i. */
static bool state_device(const struct vm *vm, unsigned int i, struct device **dev,
			 struct pci_device **pdev)
{
	*dev = NULL;
	*pdev = NULL;
	for (unsigned int d = 0; d < vm->nr_devices; d++) {
		if (!vm->devices[d]->ops->save)
			continue;
		if (i-- == 0) {
			*dev = vm->devices[d];
			return true;
		}
	}
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *p = vm->pci->slots[s];

		if (!p || !p->ops || !p->ops->save)
			continue;
		if (i-- == 0) {
			*pdev = p;
			return true;
		}
	}
	return false;
}

unsigned int devices_state_count(const struct vm *vm)
{
	struct pci_device *pdev;
	struct device *dev;
	unsigned int n = 0;

	while (state_device(vm, n, &dev, &pdev))
		n++;
	return n;
}

const char *devices_state_name(const struct vm *vm, unsigned int i)
{
	struct pci_device *pdev;
	struct device *dev;

	if (!state_device(vm, i, &dev, &pdev))
		return NULL;
	return dev ? dev->ops->name : pdev->name;
}

/* Device @i's save (@w) or load (@r); a PCI function's under the host's
 * lock, which its config space and BAR map live under. */
static int state_transfer(struct vm *vm, unsigned int i, struct state_writer *w,
			  struct state_reader *r)
{
	struct pci_device *pdev;
	struct device *dev;
	int ret;

	if (!state_device(vm, i, &dev, &pdev))
		return -ENOENT;
	if (dev)
		return w ? dev->ops->save(dev, w) : dev->ops->load(dev, r);
	pthread_mutex_lock(&vm->pci->lock);
	ret = w ? pdev->ops->save(pdev, w) : pdev->ops->load(pdev, r);
	pthread_mutex_unlock(&vm->pci->lock);
	return ret;
}

int devices_state_save(struct vm *vm, unsigned int i, struct state_writer *w)
{
	int ret = state_transfer(vm, i, w, NULL);

	if (ret < 0)
		pr_err("%s: cannot save the device's state: %s",
		       devices_state_name(vm, i), strerror(-ret));
	return ret;
}

int devices_state_load(struct vm *vm, unsigned int i, struct state_reader *r)
{
	int ret = state_transfer(vm, i, NULL, r);

	if (!ret)
		ret = sr_finish(r);
	if (ret < 0)
		pr_err("%s: cannot restore the device: %s", devices_state_name(vm, i),
		       r->err ? r->msg : strerror(-ret));
	return ret;
}

int devices_pause(struct vm *vm)
{
	int ret = iothread_pause(vm->io);

	for (unsigned int s = 0; !ret && s < PCI_MAX_SLOTS; s++) {
		struct pci_device *pdev = vm->pci->slots[s];

		if (!pdev || !pdev->ops || !pdev->ops->quiesce)
			continue;
		ret = pdev->ops->quiesce(pdev);
		if (ret < 0) {
			pr_err("%s: cannot finish the requests in flight: %s", pdev->name,
			       strerror(-ret));
			iothread_resume(vm->io);
		}
	}
	return ret;
}

void devices_resume(struct vm *vm)
{
	iothread_resume(vm->io);
}
