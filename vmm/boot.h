/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_BOOT_H
#define TERN_BOOT_H

struct vm;

/* Reads the kernel (and initrd), checks the kernel is an arm64 Image and
 * plans where everything goes in RAM. Needs no KVM. -errno after a message:
 * whatever the cause, the user passed something unbootable (main exits 2). */
int boot_images_load(struct vm *vm);

/* Builds the device tree (and writes --dtb-out). Needs the vCPUs' MPIDRs. */
int boot_build_dtb(struct vm *vm);

/* Copies kernel, initrd and DTB into guest RAM and points vCPU 0 at the
 * kernel. Run at first boot and again at every guest reset. */
int boot_load_into_ram(struct vm *vm);

void boot_images_free(struct vm *vm);

#endif
