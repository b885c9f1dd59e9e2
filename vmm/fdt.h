/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_FDT_H
#define TERN_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

struct device;

#define FDT_GIC_PHANDLE		1
#define FDT_ITS_PHANDLE		2

/* include/dt-bindings/interrupt-controller/arm-gic.h and irq.h */
#define FDT_GIC_SPI		0
#define FDT_IRQ_LEVEL_HIGH	4

/* Everything the device tree describes, from the layout and the VM. */
struct fdt_params {
	const struct mem_layout *layout;
	const uint64_t *mpidr;		/* nr_cpus values read from KVM (MPIDR_EL1) */
	unsigned int nr_cpus;
	int has_pmu;			/* PMUv3 node, PPI 7 */
	const char *bootargs;
	uint64_t initrd_start;		/* initrd_size 0: no initrd properties */
	uint64_t initrd_size;
	struct device *const *devices;	/* each adds its own node */
	size_t nr_devices;
	const struct device *console;	/* its node becomes /chosen/stdout-path; may be NULL */
};

/*
 * Builds the DTB into @buf (at most @size bytes, packed at the end):
 * root (compatible "linux,dummy-virt", #address-cells/#size-cells 2,
 * interrupt-parent = GIC), cpus (one cpu@N per vCPU, reg = MPIDR affinity,
 * enable-method "psci"), psci (arm,psci-1.0 + arm,psci-0.2, method "hvc"),
 * memory, the GICv3 (arm,gic-v3, dist + redist regions, maintenance PPI 9)
 * with its ITS child (arm,gic-v3-its, msi-controller, #msi-cells 1), the
 * architected timer (arm,armv8-timer, PPIs 13, 14, 11, 10, level high,
 * always-on), the PMU when present, each device's node, and /chosen (bootargs,
 * linux,initrd-start/end, stdout-path).
 * Returns 0 or a negative errno after a message naming the libfdt error.
 */
int fdt_build(const struct fdt_params *p, void *buf, size_t size);

/* Helpers for device nodes: "interrupts = <GIC_SPI spi IRQ_TYPE_LEVEL_HIGH>"
 * and "reg = <base size>" with two cells each. Return 0 or -errno. */
int fdt_prop_spi(void *fdt, int node, unsigned int spi);
int fdt_prop_reg(void *fdt, int node, uint64_t base, uint64_t size);

#endif
