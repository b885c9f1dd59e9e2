/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_FIRMWARE_H
#define TERN_FIRMWARE_H

#include <stdbool.h>
#include <stdint.h>

struct device;
struct vm;

/* One flash bank's array as a read-only memslot, mapped while the bank is
 * in read-array mode (devices/cfi_flash.h). */
struct flash_slot {
	int vm_fd;
	uint32_t slot;
	uint64_t gpa;
	uint8_t *hva;
	uint64_t size;
	bool failed_once;	/* a memslot change failed: said once */
};

/*
 * --firmware FILE [--firmware-vars FILE]: an EDK2 build for QEMU's arm64
 * virt machine (ArmVirtQemu, Debian's QEMU_EFI.fd), executed in place from
 * flash bank 0 at guest physical 0, with the UEFI variable store in flash
 * bank 1 (vmm/layout.h). The firmware finds its device tree at the start
 * of RAM (ArmVirtQemu.dsc: PcdDeviceTreeInitialBaseAddress 0x40000000).
 */
struct firmware {
	uint8_t *code;			/* the firmware, padded to whole erase blocks */
	uint64_t code_size;
	uint8_t *vars;			/* the variable store: the file mapped shared, or
					 * anonymous memory without --firmware-vars */
	uint64_t vars_size;
	int vars_fd;			/* -1: none; held for its lock */
	struct flash_slot code_slot, vars_slot;
};

/* Reads --firmware and opens (creating it blank if new) --firmware-vars,
 * before tern confines itself. -errno after a message (main exits 2 for a
 * file that is not usable). */
int firmware_load(struct vm *vm);

/* Adds the two flash banks, their memslots registered. -errno. */
int firmware_flash_create(struct vm *vm);

/* Puts the device tree at the start of RAM and vCPU 0 at the firmware's
 * first instruction (guest physical 0). At every boot and reset. */
int firmware_load_into_ram(struct vm *vm);

void firmware_free(struct vm *vm);

#endif
