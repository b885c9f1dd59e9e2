/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_GIC_H
#define TERN_GIC_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

/* The in-kernel vGICv3 and its ITS. */
struct gic {
	int vgic_fd;
	int its_fd;
	uint32_t nr_irqs;
	bool finalized;
};

/* KVM_CREATE_DEVICE for the vGICv3 and the ITS, and their whole memory map
 * from the layout, and NR_IRQS for the SPIs the devices use. Must follow the
 * creation of every vCPU. -errno. */
int gic_create(struct vm *vm, unsigned int max_spi);

/* KVM_DEV_ARM_VGIC_CTRL_INIT for both; after it the map is fixed. */
int gic_finalize(struct vm *vm);


/* Drives SPI @spi's line (KVM_IRQ_LINE). */
int gic_set_spi(struct vm *vm, unsigned int spi, bool level);

void gic_destroy(struct gic *gic);

#endif
