/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CFI_FLASH_H
#define TERN_CFI_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

/*
 * A CFI NOR flash bank with the Intel/Sharp command set (CFI primary vendor
 * command set 0x0001), as EDK2's ArmVirtQemu firmware drives it
 * (OvmfPkg/VirtNorFlashDxe): two 16-bit chips side by side on a 32-bit bus,
 * each command written to both halves of a 32-bit word, 256 KiB erase
 * blocks, 32-word (128-byte) write buffer.
 *
 * The contents live in @array (the caller's mapping: the firmware file, or
 * the variable store file mapped shared so that what the guest programs
 * reaches the file). While the bank is in read-array mode the caller maps
 * @array read-only into the guest (a KVM_MEM_READONLY memslot), so reads and
 * instruction fetches never exit; writes always exit and arrive here as
 * commands. Any other mode needs reads to trap too (status, IDs, CFI query):
 * @map is called with false on leaving read-array mode and true on coming
 * back, under the bank's lock, before the access that changed the mode
 * returns.
 *
 * A read-only bank (the firmware code) is a ROM: it ignores writes and
 * stays in read-array mode, mapped.
 *
 * Snapshot state (save/load): a read-only bank's size and SHA-256, which
 * the restoring side's bank must match; a writable bank's command state and
 * contents, written into @array by the load (after the whole state was
 * checked, so a refused one leaves @array as it was).
 */
#define CFI_BLOCK_SIZE		(256u * 1024)
#define CFI_BUFFER_WORDS	32u	/* 32-bit words in the write buffer */
#define CFI_HASH_SIZE		32u	/* SHA-256 of a read-only bank, for snapshots */
#define CFI_MAX_BLOCKS		256u	/* 64 MiB, the largest bank */

typedef void (*cfi_map_fn)(void *opaque, bool mapped);

/* @size: a non-zero multiple of CFI_BLOCK_SIZE, at most CFI_MAX_BLOCKS of
 * them, the bank's MMIO window and @array's length. NULL (errno set) on bad arguments or no memory. */
struct device *cfi_flash_create(uint64_t base, uint8_t *array, uint64_t size, bool readonly,
				cfi_map_fn map, void *map_opaque);

/* The caller knows that the erase block at @offset holds only zeros (a
 * hole of a new store file): snapshots then neither read nor write it
 * while it stays so. */
void cfi_flash_mark_blank(struct device *dev, uint64_t offset);

/* Whether the bank is in read-array mode (the caller's memslot mapped). */
bool cfi_flash_array_mode(struct device *dev);

#endif
