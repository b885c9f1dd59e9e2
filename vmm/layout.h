/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_LAYOUT_H
#define TERN_LAYOUT_H

#include <stdint.h>

/*
 * The guest physical memory map. Every address tern gives the guest comes
 * from here; nothing else hard-codes one.
 *
 *   0x0000_0000 - 0x03ff_ffff   --firmware only: CFI flash bank 0, the firmware (read-only)
 *   0x0400_0000 - 0x07ff_ffff   --firmware only: CFI flash bank 1, the UEFI variable store
 *                               (unused without --firmware: tern boots the kernel directly)
 *   0x0800_0000 - 0x0800_ffff   GICv3 distributor, 64 KiB
 *   0x0808_0000 - 0x0809_ffff   GICv3 ITS, 128 KiB (control frame + translation frame)
 *   0x0900_0000 - 0x0900_0fff   16550 UART, the console (SPI 1)
 *   0x0901_0000 - 0x0901_0fff   --firmware only: PL031 RTC (SPI 3)
 *   0x0904_0000 - 0x0904_0fff   --firmware only: PL011 UART, the firmware's console (SPI 2)
 *   0x0910_0000 - 0x0910_ffff   --firmware or --pci-testdev only: PCI I/O window, ports 0-0xffff
 *                                (--pci-testdev's I/O BAR; EDK2 wants the window in "ranges")
 *                                PCI INTx: SPIs 4-7 (INTA-INTD, swizzled by slot)
 *   0x0a00_0000 - 0x0dff_ffff   GICv3 redistributors, 128 KiB per vCPU, room for 512
 *   0x1000_0000 - 0x3eff_ffff   PCI 32-bit MMIO window: the BARs of virtio-pci functions
 *   0x3f00_0000 - 0x3fff_ffff   PCI ECAM (bus 0 used)
 *   0x4000_0000 - ram end       RAM (--memory)
 *   align_up(ram end, 64 GiB)   PCI 64-bit prefetchable window, 64 GiB (passed-through 64-bit prefetchable BARs)
 *
 * KVM's vGIC needs DIST and ITS 64 KiB aligned and each redistributor frame
 * pair 64 KiB aligned; all bases above are.
 */
#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define LAYOUT_GICD_BASE	0x08000000ULL
#define LAYOUT_GICD_SIZE	(64 * KiB)
#define LAYOUT_GITS_BASE	0x08080000ULL
#define LAYOUT_GITS_SIZE	(128 * KiB)
#define LAYOUT_UART_BASE	0x09000000ULL
#define LAYOUT_UART_SIZE	(4 * KiB)
#define LAYOUT_UART_SPI		1
#define LAYOUT_PL031_BASE	0x09010000ULL
#define LAYOUT_PL031_SIZE	(4 * KiB)
#define LAYOUT_PL031_SPI	3
#define LAYOUT_PL011_BASE	0x09040000ULL
#define LAYOUT_PL011_SIZE	(4 * KiB)
#define LAYOUT_PL011_SPI	2
#define LAYOUT_PCI_IO_BASE	0x09100000ULL
#define LAYOUT_PCI_IO_SIZE	(64 * KiB)
#define LAYOUT_FLASH_CODE_BASE	0x00000000ULL
#define LAYOUT_FLASH_VARS_BASE	0x04000000ULL
#define LAYOUT_FLASH_BANK_SIZE	(64 * MiB)
/* PCI legacy interrupts: INTA..INTD of slot s on SPI base + (s + pin - 1) % 4
 * (the bridge's interrupt-map, devices/pci.c pci_intx_spi). */
#define LAYOUT_PCI_INTX_SPI	4
#define LAYOUT_PCI_INTX_LINES	4
#define LAYOUT_GICR_BASE	0x0a000000ULL
#define LAYOUT_GICR_STRIDE	(128 * KiB)
#define LAYOUT_GICR_MAX_SIZE	(64 * MiB)
#define LAYOUT_MAX_CPUS		(LAYOUT_GICR_MAX_SIZE / LAYOUT_GICR_STRIDE)
#define LAYOUT_PCI_MMIO32_BASE	0x10000000ULL
#define LAYOUT_PCI_MMIO32_SIZE	0x2f000000ULL
#define LAYOUT_PCI_ECAM_BASE	0x3f000000ULL
#define LAYOUT_PCI_ECAM_SIZE	(16 * MiB)
#define LAYOUT_RAM_BASE		0x40000000ULL
#define LAYOUT_PCI_MMIO64_ALIGN	(64 * GiB)
#define LAYOUT_PCI_MMIO64_SIZE	(64 * GiB)

/* RAM is a whole number of 2 MiB blocks: the kernel's own alignment unit, and
 * a multiple of every host page size (4, 16, 64 KiB). */
#define LAYOUT_RAM_ALIGN	(2 * MiB)
#define LAYOUT_RAM_MIN		(32 * MiB)

struct mem_layout {
	uint64_t ram_base;
	uint64_t ram_size;
	uint64_t gicr_size;		/* nr_cpus redistributors */
	uint64_t pci64_base;
	uint64_t pci64_size;
	unsigned int nr_cpus;
	unsigned int ipa_bits;		/* smallest IPA size covering the whole map */
};

/* Fills @l for @ram_size bytes of RAM and @nr_cpus vCPUs. -EINVAL (with a
 * message) if either is out of what the map can hold. */
int layout_compute(struct mem_layout *l, uint64_t ram_size, unsigned int nr_cpus);

/* Checks @l against what the host's KVM can do. -E2BIG with a message naming
 * the limit if the map needs more IPA bits or more vCPUs than the host has. */
int layout_check_host(const struct mem_layout *l, unsigned int host_ipa_bits,
		      unsigned int host_max_vcpus);

static inline uint64_t layout_ram_end(const struct mem_layout *l)
{
	return l->ram_base + l->ram_size;
}

/* Names the vGIC frame (distributor, redistributors, ITS) holding @gpa, or
 * NULL. */
const char *layout_gic_frame(const struct mem_layout *l, uint64_t gpa);

#endif
