// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest's device tree, built with libfdt's read-write API directly in
 * the caller's buffer. Every libfdt call is checked: a failure becomes a
 * message naming the node, what was being done and fdt_strerror(), and a
 * negative errno.
 *
 * libfdt inserts a new subnode before its parent's existing subnodes, so
 * nodes that should read in order (the CPUs) are added last to first, and a
 * node offset is only used before the next node is added.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "devices/device.h"
#include "fdt.h"
#include "log.h"

#define GIC_SPI			FDT_GIC_SPI
#define GIC_PPI			1
#define IRQ_TYPE_LEVEL_HIGH	FDT_IRQ_LEVEL_HIGH

#define GIC_MAINT_PPI		9
#define TIMER_SEC_PPI		13
#define TIMER_NS_PPI		14
#define TIMER_VIRT_PPI		11
#define TIMER_HYP_PPI		10
#define PMU_PPI			7

/* MPIDR_EL1 affinity fields: Aff3 (bits 32-39), Aff2..Aff0 (bits 0-23). */
#define MPIDR_AFF_MASK		0xff00ffffffULL

#define FDT_PATH_MAX		256

static int fdt_errno(int fdt_err)
{
	switch (fdt_err) {
	case -FDT_ERR_NOSPACE:
		return -ENOSPC;
	case -FDT_ERR_NOTFOUND:
		return -ENOENT;
	case -FDT_ERR_EXISTS:
		return -EEXIST;
	default:
		return -EINVAL;
	}
}

/* Reports a libfdt error on @node and turns it into -errno. */
static int fdt_fail(const void *fdt, int node, const char *what, const char *name, int err)
{
	const char *node_name = node >= 0 ? fdt_get_name(fdt, node, NULL) : NULL;

	if (node < 0)
		pr_err("device tree: %s %s: %s", what, name, fdt_strerror(err));
	else
		pr_err("device tree: %s %s in %s: %s", what, name,
		       node_name && *node_name ? node_name : "/", fdt_strerror(err));
	return fdt_errno(err);
}

static int prop_check(const void *fdt, int node, const char *name, int err)
{
	return err < 0 ? fdt_fail(fdt, node, "setting", name, err) : 0;
}

static int prop_u32(void *fdt, int node, const char *name, uint32_t val)
{
	return prop_check(fdt, node, name, fdt_setprop_u32(fdt, node, name, val));
}

static int prop_u64(void *fdt, int node, const char *name, uint64_t val)
{
	return prop_check(fdt, node, name, fdt_setprop_u64(fdt, node, name, val));
}

static int prop_string(void *fdt, int node, const char *name, const char *val)
{
	return prop_check(fdt, node, name, fdt_setprop_string(fdt, node, name, val));
}

static int prop_empty(void *fdt, int node, const char *name)
{
	return prop_check(fdt, node, name, fdt_setprop_empty(fdt, node, name));
}

/* A cell list: @cells in host order, stored big-endian. */
static int prop_cells(void *fdt, int node, const char *name, const uint32_t *cells,
		      unsigned int n)
{
	fdt32_t be[16];
	unsigned int i;

	if (n > sizeof(be) / sizeof(be[0]))
		return prop_check(fdt, node, name, -FDT_ERR_NOSPACE);
	for (i = 0; i < n; i++)
		be[i] = cpu_to_fdt32(cells[i]);
	return prop_check(fdt, node, name, fdt_setprop(fdt, node, name, be, n * sizeof(be[0])));
}

/* Several strings in one property ("a\0b\0"), e.g. a compatible list. */
static int prop_strings(void *fdt, int node, const char *name, const char *const *strs,
			unsigned int n)
{
	unsigned int i;
	int err;

	err = prop_string(fdt, node, name, strs[0]);
	for (i = 1; i < n && !err; i++)
		err = prop_check(fdt, node, name, fdt_appendprop_string(fdt, node, name, strs[i]));
	return err;
}

static int add_node(void *fdt, int parent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int add_node(void *fdt, int parent, const char *fmt, ...)
{
	char name[64];
	va_list ap;
	int node;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	node = fdt_add_subnode(fdt, parent, name);
	if (node < 0)
		return fdt_fail(fdt, parent, "adding node", name, node);
	return node;
}

static void split64(uint32_t *cells, uint64_t v)
{
	cells[0] = (uint32_t)(v >> 32);
	cells[1] = (uint32_t)v;
}

int fdt_prop_spi(void *fdt, int node, unsigned int spi)
{
	const uint32_t irq[] = { GIC_SPI, spi, IRQ_TYPE_LEVEL_HIGH };

	return prop_cells(fdt, node, "interrupts", irq, 3);
}

int fdt_prop_reg(void *fdt, int node, uint64_t base, uint64_t size)
{
	uint32_t reg[4];

	split64(reg, base);
	split64(reg + 2, size);
	return prop_cells(fdt, node, "reg", reg, 4);
}

static int fdt_root(void *fdt)
{
	int err;

	err = prop_string(fdt, 0, "compatible", "linux,dummy-virt");
	if (!err)
		err = prop_u32(fdt, 0, "#address-cells", 2);
	if (!err)
		err = prop_u32(fdt, 0, "#size-cells", 2);
	if (!err)
		err = prop_u32(fdt, 0, "interrupt-parent", FDT_GIC_PHANDLE);
	return err;
}

static bool mpidrs_fit_one_cell(const struct fdt_params *p)
{
	unsigned int i;

	for (i = 0; i < p->nr_cpus; i++)
		if ((p->mpidr[i] & MPIDR_AFF_MASK) > UINT32_MAX)
			return false;
	return true;
}

static int fdt_cpu(void *fdt, int cpus, uint64_t mpidr, unsigned int addr_cells)
{
	uint64_t aff = mpidr & MPIDR_AFF_MASK;
	uint32_t reg[2];
	int node, err;

	node = add_node(fdt, cpus, "cpu@%" PRIx64, aff);
	if (node < 0)
		return node;
	err = prop_string(fdt, node, "device_type", "cpu");
	if (!err)
		err = prop_string(fdt, node, "compatible", "arm,armv8");
	if (!err) {
		split64(reg, aff);
		err = prop_cells(fdt, node, "reg", reg + 2 - addr_cells, addr_cells);
	}
	if (!err)
		err = prop_string(fdt, node, "enable-method", "psci");
	return err;
}

static int fdt_cpus(void *fdt, const struct fdt_params *p)
{
	unsigned int addr_cells = mpidrs_fit_one_cell(p) ? 1 : 2;
	unsigned int i;
	int cpus, err;

	cpus = add_node(fdt, 0, "cpus");
	if (cpus < 0)
		return cpus;
	err = prop_u32(fdt, cpus, "#address-cells", addr_cells);
	if (!err)
		err = prop_u32(fdt, cpus, "#size-cells", 0);
	/* Last to first: libfdt puts each new node before its siblings. */
	for (i = p->nr_cpus; i-- > 0 && !err;)
		err = fdt_cpu(fdt, cpus, p->mpidr[i], addr_cells);
	return err;
}

static int fdt_psci(void *fdt)
{
	static const char *const compat[] = { "arm,psci-1.0", "arm,psci-0.2" };
	int node, err;

	node = add_node(fdt, 0, "psci");
	if (node < 0)
		return node;
	err = prop_strings(fdt, node, "compatible", compat, 2);
	if (!err)
		err = prop_string(fdt, node, "method", "hvc");
	return err;
}

static int fdt_memory(void *fdt, const struct mem_layout *l)
{
	int node, err;

	node = add_node(fdt, 0, "memory@%" PRIx64, l->ram_base);
	if (node < 0)
		return node;
	err = prop_string(fdt, node, "device_type", "memory");
	if (!err)
		err = fdt_prop_reg(fdt, node, l->ram_base, l->ram_size);
	return err;
}

static int fdt_its(void *fdt, int gic)
{
	int node, err;

	node = add_node(fdt, gic, "its@%llx", LAYOUT_GITS_BASE);
	if (node < 0)
		return node;
	err = prop_string(fdt, node, "compatible", "arm,gic-v3-its");
	if (!err)
		err = prop_empty(fdt, node, "msi-controller");
	if (!err)
		err = prop_u32(fdt, node, "#msi-cells", 1);
	if (!err)
		err = fdt_prop_reg(fdt, node, LAYOUT_GITS_BASE, LAYOUT_GITS_SIZE);
	if (!err)
		err = prop_u32(fdt, node, "phandle", FDT_ITS_PHANDLE);
	return err;
}

static int fdt_gic_props(void *fdt, int gic, const struct mem_layout *l)
{
	const uint32_t maint_irq[] = { GIC_PPI, GIC_MAINT_PPI, IRQ_TYPE_LEVEL_HIGH };
	uint32_t reg[8];
	int err;

	split64(reg, LAYOUT_GICD_BASE);
	split64(reg + 2, LAYOUT_GICD_SIZE);
	split64(reg + 4, LAYOUT_GICR_BASE);
	split64(reg + 6, l->gicr_size);

	err = prop_string(fdt, gic, "compatible", "arm,gic-v3");
	if (!err)
		err = prop_u32(fdt, gic, "#interrupt-cells", 3);
	if (!err)
		err = prop_empty(fdt, gic, "interrupt-controller");
	if (!err)
		err = prop_u32(fdt, gic, "#address-cells", 2);
	if (!err)
		err = prop_u32(fdt, gic, "#size-cells", 2);
	if (!err)
		err = prop_empty(fdt, gic, "ranges");
	if (!err)
		err = prop_cells(fdt, gic, "reg", reg, 8);
	if (!err)
		err = prop_cells(fdt, gic, "interrupts", maint_irq, 3);
	if (!err)
		err = prop_u32(fdt, gic, "phandle", FDT_GIC_PHANDLE);
	return err;
}

static int fdt_gic(void *fdt, const struct mem_layout *l)
{
	int gic, err;

	gic = add_node(fdt, 0, "intc@%llx", LAYOUT_GICD_BASE);
	if (gic < 0)
		return gic;
	err = fdt_gic_props(fdt, gic, l);
	if (!err)
		err = fdt_its(fdt, gic);
	return err;
}

static int fdt_timer(void *fdt)
{
	const uint32_t irqs[] = {
		GIC_PPI, TIMER_SEC_PPI, IRQ_TYPE_LEVEL_HIGH,
		GIC_PPI, TIMER_NS_PPI, IRQ_TYPE_LEVEL_HIGH,
		GIC_PPI, TIMER_VIRT_PPI, IRQ_TYPE_LEVEL_HIGH,
		GIC_PPI, TIMER_HYP_PPI, IRQ_TYPE_LEVEL_HIGH,
	};
	int node, err;

	node = add_node(fdt, 0, "timer");
	if (node < 0)
		return node;
	err = prop_string(fdt, node, "compatible", "arm,armv8-timer");
	if (!err)
		err = prop_cells(fdt, node, "interrupts", irqs, 12);
	/* KVM's virtual timer keeps counting while the guest idles. */
	if (!err)
		err = prop_empty(fdt, node, "always-on");
	return err;
}

static int fdt_pmu(void *fdt)
{
	const uint32_t irq[] = { GIC_PPI, PMU_PPI, IRQ_TYPE_LEVEL_HIGH };
	int node, err;

	node = add_node(fdt, 0, "pmu");
	if (node < 0)
		return node;
	err = prop_string(fdt, node, "compatible", "arm,armv8-pmuv3");
	if (!err)
		err = prop_cells(fdt, node, "interrupts", irq, 3);
	return err;
}

/* Adds @dev's node; if it is the console, copies its path into @console_path. */
static int fdt_device(void *fdt, struct device *dev, const struct device *console,
		      char *console_path, size_t pathlen)
{
	int node, err;

	node = dev->ops->fdt_node(dev, fdt, FDT_GIC_PHANDLE);
	if (node < 0) {
		pr_err("device tree: device %s could not add its node: %s", dev->ops->name,
		       strerror(-node));
		return node;
	}
	if (dev != console)
		return 0;
	err = fdt_get_path(fdt, node, console_path, (int)pathlen);
	if (err < 0)
		return fdt_fail(fdt, node, "getting the path of", dev->ops->name, err);
	return 0;
}

static int fdt_devices(void *fdt, const struct fdt_params *p, char *console_path,
		       size_t pathlen)
{
	size_t i;
	int err = 0;

	for (i = p->nr_devices; i-- > 0 && !err;)
		if (p->devices[i]->ops->fdt_node)
			err = fdt_device(fdt, p->devices[i], p->console, console_path, pathlen);
	return err;
}

static int fdt_chosen(void *fdt, const struct fdt_params *p, const char *console_path)
{
	int node, err = 0;

	node = add_node(fdt, 0, "chosen");
	if (node < 0)
		return node;
	if (p->bootargs)
		err = prop_string(fdt, node, "bootargs", p->bootargs);
	if (!err && p->initrd_size)
		err = prop_u64(fdt, node, "linux,initrd-start", p->initrd_start);
	if (!err && p->initrd_size)
		err = prop_u64(fdt, node, "linux,initrd-end", p->initrd_start + p->initrd_size);
	if (!err && console_path[0])
		err = prop_string(fdt, node, "stdout-path", console_path);
	return err;
}

static int fdt_params_check(const struct fdt_params *p, size_t size)
{
	if (!p->layout || !p->mpidr) {
		pr_err("device tree: no memory layout or no vCPU MPIDRs");
		return -EINVAL;
	}
	if (p->nr_cpus == 0 || p->nr_cpus != p->layout->nr_cpus) {
		pr_err("device tree: %u vCPU MPIDRs for a layout of %u vCPUs", p->nr_cpus,
		       p->layout->nr_cpus);
		return -EINVAL;
	}
	if (p->nr_devices && !p->devices) {
		pr_err("device tree: %zu devices but no device list", p->nr_devices);
		return -EINVAL;
	}
	if (p->initrd_size && p->initrd_start > UINT64_MAX - p->initrd_size) {
		pr_err("device tree: initrd at 0x%" PRIx64 " of %" PRIu64 " bytes wraps around",
		       p->initrd_start, p->initrd_size);
		return -EINVAL;
	}
	if (size > INT_MAX) {
		pr_err("device tree: a %zu byte buffer is larger than libfdt handles", size);
		return -EINVAL;
	}
	return 0;
}

/* Root-level nodes; each helper adds its node before the ones already there,
 * so they are added in reverse of the order they read in. */
static int fdt_build_nodes(void *fdt, const struct fdt_params *p)
{
	char console_path[FDT_PATH_MAX] = "";
	int err;

	err = fdt_devices(fdt, p, console_path, sizeof(console_path));
	if (!err && p->has_pmu)
		err = fdt_pmu(fdt);
	if (!err)
		err = fdt_timer(fdt);
	if (!err)
		err = fdt_gic(fdt, p->layout);
	if (!err)
		err = fdt_memory(fdt, p->layout);
	if (!err)
		err = fdt_psci(fdt);
	if (!err)
		err = fdt_cpus(fdt, p);
	if (!err)
		err = fdt_chosen(fdt, p, console_path);
	return err;
}

int fdt_build(const struct fdt_params *p, void *buf, size_t size)
{
	int err;

	err = fdt_params_check(p, size);
	if (err)
		return err;
	err = fdt_create_empty_tree(buf, (int)size);
	if (err < 0)
		return fdt_fail(buf, -1, "creating", "the tree", err);
	err = fdt_root(buf);
	if (!err)
		err = fdt_build_nodes(buf, p);
	if (err)
		return err;
	err = fdt_pack(buf);
	if (err < 0)
		return fdt_fail(buf, -1, "packing", "the tree", err);
	return 0;
}
