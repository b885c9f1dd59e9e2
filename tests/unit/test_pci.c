// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PCI host bridge driven as a guest would: config space through the ECAM
 * device's MMIO handlers, BARs through the window device's. Fake functions
 * record what the host tells them (BAR accesses, remaps, config writes).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dtc_check.h"
#include <libfdt.h>

#include "devices/pci.h"
#include "vmm/fdt.h"
#include "vmm/image.h"
#include "vmm/layout.h"

#define VENDOR		0x1af4
#define DEVICE		0x1042
#define CLASS		0x010000	/* mass storage, SCSI */
#define REVISION	0x01
#define SUBSYS_VENDOR	0x1af4
#define SUBSYS_ID	0x0002

#define MAX_REMAPS	32

struct remap {
	int bar;
	uint64_t old_addr, new_addr;
};

struct fake {
	struct pci_device pci;
	struct remap remaps[MAX_REMAPS];
	unsigned int nr_remaps;
	unsigned int reads, writes, cfg_writes, resets;
	int last_bar;
	uint64_t last_off;
	unsigned int last_len;
	uint64_t last_value;
	uint32_t last_cfg_off, last_cfg_len;
};

static struct fake *to_fake(struct pci_device *pdev)
{
	return (struct fake *)((char *)pdev - offsetof(struct fake, pci));
}

/* Reads return a pattern naming the BAR and offset: 0xB0000000 | bar << 24 | off. */
static void fake_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			  unsigned int len)
{
	struct fake *f = to_fake(pdev);
	uint64_t v = 0xb0000000ULL | (uint64_t)bar << 24 | off;

	f->reads++;
	f->last_bar = bar;
	f->last_off = off;
	f->last_len = len;
	memcpy(data, &v, len);
}

static void fake_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			   unsigned int len)
{
	struct fake *f = to_fake(pdev);

	f->writes++;
	f->last_bar = bar;
	f->last_off = off;
	f->last_len = len;
	f->last_value = 0;
	memcpy(&f->last_value, data, len);
}

static void fake_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr,
			   uint64_t new_addr)
{
	struct fake *f = to_fake(pdev);

	assert_true(f->nr_remaps < MAX_REMAPS);
	f->remaps[f->nr_remaps++] = (struct remap){ bar, old_addr, new_addr };
}

static void fake_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct fake *f = to_fake(pdev);

	f->cfg_writes++;
	f->last_cfg_off = off;
	f->last_cfg_len = len;
}

/* Runs after config space is back to power-on values. */
static void fake_reset(struct pci_device *pdev)
{
	struct fake *f = to_fake(pdev);

	assert_int_equal(pdev->cfg[PCI_COMMAND], 0);
	assert_int_equal(pci_bar_addr(pdev, 0), 0);
	f->resets++;
}

static const struct pci_device_ops fake_ops = {
	.reset = fake_reset,
	.bar_read = fake_bar_read,
	.bar_write = fake_bar_write,
	.bar_remap = fake_bar_remap,
	.config_written = fake_config_written,
};

struct ctx {
	struct mem_layout layout;
	struct pci_host host;
	struct fake a, b;	/* a: BAR0 32-bit 4 KiB, BAR2 64-bit 1 MiB; b: BAR0 64 KiB */
};

static void fake_init(struct fake *f, uint16_t device)
{
	memset(f, 0, sizeof(*f));
	f->pci.ops = &fake_ops;
	pci_device_init(&f->pci, VENDOR, device, CLASS, REVISION, SUBSYS_VENDOR, SUBSYS_ID);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(layout_compute(&c->layout, 512 * MiB, 1), 0);
	assert_int_equal(pci_host_init(&c->host, &c->layout), 0);
	fake_init(&c->a, DEVICE);
	assert_int_equal(pci_device_add_bar(&c->a.pci, 0, 4 * KiB, false), 0);
	assert_int_equal(pci_device_add_bar(&c->a.pci, 2, 1 * MiB, true), 0);
	assert_int_equal(pci_host_add(&c->host, &c->a.pci), 0);
	fake_init(&c->b, DEVICE + 1);
	assert_int_equal(pci_device_add_bar(&c->b.pci, 0, 64 * KiB, false), 0);
	assert_int_equal(pci_host_add(&c->host, &c->b.pci), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	c->host.ecam.ops->destroy(&c->host.ecam);
	c->host.mmio.ops->destroy(&c->host.mmio);
	free(c);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t ecam_off(unsigned int bus, unsigned int slot, unsigned int fn, unsigned int reg)
{
	return (uint64_t)bus << 20 | slot << 15 | fn << 12 | reg;
}

static uint64_t rd_at(struct ctx *c, uint64_t off, unsigned int len)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aULL;

	c->host.ecam.ops->mmio_read(&c->host.ecam, off, (uint8_t *)&v, len);
	if (len < 8)
		v &= (1ULL << (8 * len)) - 1;
	return v;
}

static void wr_at(struct ctx *c, uint64_t off, uint64_t v, unsigned int len)
{
	c->host.ecam.ops->mmio_write(&c->host.ecam, off, (const uint8_t *)&v, len);
}

static uint32_t cfg_rd(struct ctx *c, unsigned int slot, unsigned int reg, unsigned int len)
{
	return rd_at(c, ecam_off(0, slot, 0, reg), len);
}

static void cfg_wr(struct ctx *c, unsigned int slot, unsigned int reg, uint32_t v,
		   unsigned int len)
{
	wr_at(c, ecam_off(0, slot, 0, reg), v, len);
}

/* An access at guest address @addr through window device @w. */
static uint64_t dev_rd(struct device *w, uint64_t addr, unsigned int len)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aULL;

	w->ops->mmio_read(w, addr - w->mmio_base, (uint8_t *)&v, len);
	if (len < 8)
		v &= (1ULL << (8 * len)) - 1;
	return v;
}

static void dev_wr(struct device *w, uint64_t addr, uint64_t v, unsigned int len)
{
	w->ops->mmio_write(w, addr - w->mmio_base, (const uint8_t *)&v, len);
}

static uint64_t win_rd(struct ctx *c, uint64_t addr, unsigned int len)
{
	return dev_rd(&c->host.mmio, addr, len);
}

static void win_wr(struct ctx *c, uint64_t addr, uint64_t v, unsigned int len)
{
	dev_wr(&c->host.mmio, addr, v, len);
}

static void assert_remap(const struct fake *f, unsigned int i, int bar, uint64_t old_addr,
			 uint64_t new_addr)
{
	assert_true(i < f->nr_remaps);
	assert_int_equal(f->remaps[i].bar, bar);
	assert_int_equal(f->remaps[i].old_addr, old_addr);
	assert_int_equal(f->remaps[i].new_addr, new_addr);
}

static void memory_enable(struct ctx *c, unsigned int slot, bool on)
{
	cfg_wr(c, slot, PCI_COMMAND, on ? PCI_COMMAND_MEMORY : 0, 2);
}

/* ---------------------------------------------------------------- config */

static void test_ids_and_header(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cfg_rd(c, 0, PCI_VENDOR_ID, 4), (uint32_t)DEVICE << 16 | VENDOR);
	assert_int_equal(cfg_rd(c, 0, PCI_VENDOR_ID, 2), VENDOR);
	assert_int_equal(cfg_rd(c, 0, PCI_DEVICE_ID, 2), DEVICE);
	assert_int_equal(cfg_rd(c, 0, PCI_DEVICE_ID + 1, 1), DEVICE >> 8);
	assert_int_equal(cfg_rd(c, 0, PCI_CLASS_REVISION, 4), (uint32_t)CLASS << 8 | REVISION);
	assert_int_equal(cfg_rd(c, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(cfg_rd(c, 0, PCI_SUBSYSTEM_VENDOR_ID, 4),
			 (uint32_t)SUBSYS_ID << 16 | SUBSYS_VENDOR);
	assert_int_equal(cfg_rd(c, 0, PCI_COMMAND, 2), 0);
	assert_int_equal(cfg_rd(c, 0, PCI_STATUS, 2), 0);	/* no capabilities */
	assert_int_equal(cfg_rd(c, 0, PCI_CAPABILITY_LIST, 1), 0);
	assert_int_equal(cfg_rd(c, 0, PCI_INTERRUPT_PIN, 1), 0);	/* MSI-X only */
	assert_int_equal(cfg_rd(c, 0, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(cfg_rd(c, 0, 0x100, 4), 0);	/* no extended capabilities */
	assert_int_equal(cfg_rd(c, 1, PCI_DEVICE_ID, 2), DEVICE + 1);
	/* Slots in order; requester ID = devfn. */
	assert_int_equal(c->a.pci.devfn, 0);
	assert_int_equal(c->b.pci.devfn, 8);
	assert_int_equal(pci_requester_id(&c->b.pci), 8);
	/* The model's own accessor. */
	assert_int_equal(pci_cfg_read(&c->a.pci, PCI_VENDOR_ID, 2), VENDOR);
	assert_int_equal(pci_cfg_read(&c->a.pci, PCI_CFG_SPACE_EXP_SIZE, 4), 0);
	assert_int_equal(pci_cfg_read(&c->a.pci, 1, 2), 0);	/* unaligned */
}

static void test_read_only_fields_stay(void **state)
{
	struct ctx *c = *state;
	uint8_t before[PCI_CFG_SPACE_EXP_SIZE];
	unsigned int r;

	memcpy(before, c->b.pci.cfg, sizeof(before));
	/* All-ones everywhere but the BARs, in every width. */
	for (r = 0; r < PCI_CFG_SPACE_EXP_SIZE; r += 4) {
		if (r >= PCI_BASE_ADDRESS_0 && r <= PCI_BASE_ADDRESS_5)
			continue;
		cfg_wr(c, 1, r, 0xffffffff, 4);
		cfg_wr(c, 1, r + 2, 0xffff, 2);
		cfg_wr(c, 1, r + 1, 0xff, 1);
	}
	for (r = 0; r < PCI_CFG_SPACE_EXP_SIZE; r++) {
		if (r == PCI_COMMAND)
			assert_int_equal(c->b.pci.cfg[r], PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		else if (r == PCI_CACHE_LINE_SIZE || r == PCI_INTERRUPT_LINE)
			assert_int_equal(c->b.pci.cfg[r], 0xff);
		else if (r < PCI_BASE_ADDRESS_0 || r > PCI_BASE_ADDRESS_5 + 3)
			assert_int_equal(c->b.pci.cfg[r], before[r]);
	}
	assert_int_equal(cfg_rd(c, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(cfg_rd(c, 1, PCI_VENDOR_ID, 4), (uint32_t)(DEVICE + 1) << 16 | VENDOR);
	/* Writes reached the model, after the mask. */
	assert_true(c->b.cfg_writes > 0);
	cfg_wr(c, 1, PCI_INTERRUPT_LINE, 0x12, 1);
	assert_int_equal(c->b.last_cfg_off, PCI_INTERRUPT_LINE);
	assert_int_equal(c->b.last_cfg_len, 1);
	assert_int_equal(cfg_rd(c, 1, PCI_INTERRUPT_LINE, 1), 0x12);
	/* Function a saw none of it. */
	assert_int_equal(c->a.cfg_writes, 0);
}

static void test_missing_functions_read_all_ones(void **state)
{
	struct ctx *c = *state;
	uint8_t before[PCI_CFG_SPACE_EXP_SIZE];
	const unsigned int lens[] = { 1, 2, 4 };

	memcpy(before, c->a.pci.cfg, sizeof(before));
	for (unsigned int i = 0; i < 3; i++) {
		unsigned int len = lens[i];
		uint64_t ones = (1ULL << (8 * len)) - 1;

		assert_int_equal(rd_at(c, ecam_off(0, 2, 0, 0), len), ones);	/* empty slot */
		assert_int_equal(rd_at(c, ecam_off(0, 31, 0, 0), len), ones);
		assert_int_equal(rd_at(c, ecam_off(0, 0, 1, 0), len), ones);	/* function 1 */
		assert_int_equal(rd_at(c, ecam_off(0, 0, 7, 0), len), ones);
		assert_int_equal(rd_at(c, ecam_off(1, 0, 0, 0), len), ones);	/* bus 1 */
		assert_int_equal(rd_at(c, ecam_off(15, 31, 7, 0xffc), len), ones);
		wr_at(c, ecam_off(0, 0, 1, PCI_COMMAND), PCI_COMMAND_MEMORY, len);
		wr_at(c, ecam_off(1, 0, 0, PCI_COMMAND), PCI_COMMAND_MEMORY, len);
	}
	/* 8-byte and unaligned accesses: all-ones, writes ignored. */
	assert_int_equal(rd_at(c, ecam_off(0, 0, 0, 0), 8), UINT64_MAX);
	assert_int_equal(rd_at(c, ecam_off(0, 0, 0, 1), 2), 0xffff);
	assert_int_equal(rd_at(c, ecam_off(0, 0, 0, 2), 4), 0xffffffff);
	wr_at(c, ecam_off(0, 0, 0, PCI_COMMAND), PCI_COMMAND_MEMORY, 8);
	wr_at(c, ecam_off(0, 0, 0, PCI_COMMAND + 1), 0xffff, 2);
	wr_at(c, ecam_off(0, 0, 0, PCI_COMMAND - 2), 0xffffffff, 4);
	/* Function 0 of slot 0 never changed. */
	assert_memory_equal(before, c->a.pci.cfg, sizeof(before));
	assert_int_equal(c->a.nr_remaps, 0);
	assert_int_equal(c->a.cfg_writes, 0);
}

/* ---------------------------------------------------------------- BARs */

static void test_bar_assignment(void **state)
{
	struct ctx *c = *state;

	/* Naturally aligned, in order, in the 32-bit window, decoding off. */
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_0, 4), LAYOUT_PCI_MMIO32_BASE);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_2, 4),
			 (LAYOUT_PCI_MMIO32_BASE + MiB) | PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_3, 4), 0);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_1, 4), 0);	/* unused */
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_4, 4), 0);
	assert_int_equal(cfg_rd(c, 1, PCI_BASE_ADDRESS_0, 4), LAYOUT_PCI_MMIO32_BASE + 2 * MiB);
	assert_int_equal(pci_bar_addr(&c->a.pci, 0), 0);
	assert_int_equal(pci_bar_addr(&c->a.pci, 7), 0);
	assert_int_equal(pci_bar_addr(&c->a.pci, -1), 0);
	/* Unused BARs stay 0 whatever the guest writes. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_1, 4), 0);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_5, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_5, 4), 0);
}

static void test_bar_sizing_32(void **state)
{
	struct ctx *c = *state;

	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 1, PCI_BASE_ADDRESS_0, 4), (uint32_t)~(64 * KiB - 1));
	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, LAYOUT_PCI_MMIO32_BASE + 2 * MiB, 4);
	assert_int_equal(cfg_rd(c, 1, PCI_BASE_ADDRESS_0, 4), LAYOUT_PCI_MMIO32_BASE + 2 * MiB);
	/* Bits below the size and the type bits are read-only. */
	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, 0x20001fff, 4);
	assert_int_equal(cfg_rd(c, 1, PCI_BASE_ADDRESS_0, 4), 0x20000000);
	assert_int_equal(c->b.nr_remaps, 0);	/* decoding was off throughout */
}

static void test_bar_sizing_64(void **state)
{
	struct ctx *c = *state;
	uint32_t lo = (LAYOUT_PCI_MMIO32_BASE + MiB) | PCI_BASE_ADDRESS_MEM_TYPE_64;

	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_2, 4),
			 (uint32_t)~(MiB - 1) | PCI_BASE_ADDRESS_MEM_TYPE_64);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, lo, 4);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, 0, 4);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_2, 4), lo);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_3, 4), 0);
	assert_int_equal(c->a.nr_remaps, 0);
}

/* BARs over the 32-bit window do not fit; a 64-bit BAR sizes both halves. */
static void test_bar_sizing_large(void **state)
{
	struct ctx *c = *state;
	struct fake big, small;

	fake_init(&big, DEVICE + 2);
	assert_int_equal(pci_device_add_bar(&big.pci, 4, 8 * GiB, true), 0);
	assert_int_equal(pci_host_add(&c->host, &big.pci), -ENOSPC);
	fake_init(&small, DEVICE + 2);
	assert_int_equal(pci_device_add_bar(&small.pci, 0, 4 * KiB, true), 0);
	assert_int_equal(pci_host_add(&c->host, &small.pci), 0);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 2, PCI_BASE_ADDRESS_0, 4), 0xfffff004);
	assert_int_equal(cfg_rd(c, 2, PCI_BASE_ADDRESS_1, 4), 0xffffffff);
	/* The upper register of an 8 GiB BAR keeps its bit 0 at 0. */
	assert_int_equal(big.pci.wmask[PCI_BASE_ADDRESS_5], 0xfe);
	assert_int_equal(pci_bar_addr(&small.pci, 0), 0);
}

static void test_bar_move_remaps(void **state)
{
	struct ctx *c = *state;
	const uint64_t bar0 = LAYOUT_PCI_MMIO32_BASE, bar2 = LAYOUT_PCI_MMIO32_BASE + MiB;
	const uint64_t new0 = 0x20000000, new2 = 0x5600000000ULL;

	memory_enable(c, 0, true);
	assert_int_equal(c->a.nr_remaps, 2);
	assert_remap(&c->a, 0, 0, 0, bar0);
	assert_remap(&c->a, 1, 2, 0, bar2);
	assert_int_equal(pci_bar_addr(&c->a.pci, 0), bar0);
	assert_int_equal(pci_bar_addr(&c->a.pci, 2), bar2);
	assert_int_equal(pci_bar_addr(&c->a.pci, 3), 0);	/* the upper half: no BAR */

	/* 32-bit BAR: one write moves it. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, new0, 4);
	assert_int_equal(c->a.nr_remaps, 3);
	assert_remap(&c->a, 2, 0, bar0, new0);
	assert_int_equal(pci_bar_addr(&c->a.pci, 0), new0);

	/* 64-bit BAR: nothing moves until both halves are written. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, (uint32_t)new2, 4);
	assert_int_equal(c->a.nr_remaps, 3);
	assert_int_equal(pci_bar_addr(&c->a.pci, 2), bar2);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, new2 >> 32, 4);
	assert_int_equal(c->a.nr_remaps, 4);
	assert_remap(&c->a, 3, 2, bar2, new2);
	assert_int_equal(pci_bar_addr(&c->a.pci, 2), new2);

	/* Byte by byte, upper half first: the same. */
	for (unsigned int i = 4; i < 8; i++)
		cfg_wr(c, 0, PCI_BASE_ADDRESS_2 + i, 0, 1);
	for (unsigned int i = 0; i < 3; i++)
		cfg_wr(c, 0, PCI_BASE_ADDRESS_2 + i, (bar2 >> (8 * i)) & 0xff, 1);
	assert_int_equal(c->a.nr_remaps, 4);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2 + 3, bar2 >> 24, 1);
	assert_int_equal(c->a.nr_remaps, 5);
	assert_remap(&c->a, 4, 2, new2, bar2);

	/* Sizing with decoding on: the sizing pattern is not an address. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(c->a.nr_remaps, 6);
	assert_remap(&c->a, 5, 0, new0, 0);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, new0, 4);
	assert_remap(&c->a, 6, 0, 0, new0);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, 0xffffffff, 4);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, 0xffffffff, 4);
	assert_int_equal(c->a.nr_remaps, 8);
	assert_remap(&c->a, 7, 2, bar2, 0);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, (uint32_t)bar2, 4);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, 0, 4);
	assert_remap(&c->a, 8, 2, 0, bar2);

	/* Writing the same address again changes nothing. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, new0, 4);
	assert_int_equal(c->a.nr_remaps, 9);
	/* Address 0 means unassigned. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, 0, 4);
	assert_remap(&c->a, 9, 0, new0, 0);
	assert_int_equal(c->b.nr_remaps, 0);
}

static void test_memory_enable_toggles_decoding(void **state)
{
	struct ctx *c = *state;
	const uint64_t bar0 = LAYOUT_PCI_MMIO32_BASE + 2 * MiB;

	memory_enable(c, 1, true);
	assert_int_equal(c->b.nr_remaps, 1);
	assert_remap(&c->b, 0, 0, 0, bar0);
	/* Bus Master alone keeps memory on; the same value again: nothing. */
	cfg_wr(c, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(c->b.nr_remaps, 1);
	/* A move while decoding is off is reported when it comes back on. */
	memory_enable(c, 1, false);
	assert_remap(&c->b, 1, 0, bar0, 0);
	assert_int_equal(pci_bar_addr(&c->b.pci, 0), 0);
	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, 0x30000000, 4);
	assert_int_equal(c->b.nr_remaps, 2);
	memory_enable(c, 1, true);
	assert_int_equal(c->b.nr_remaps, 3);
	assert_remap(&c->b, 2, 0, 0, 0x30000000);
	assert_int_equal(c->a.nr_remaps, 0);
}

static void test_window_dispatch(void **state)
{
	struct ctx *c = *state;
	const uint64_t a0 = LAYOUT_PCI_MMIO32_BASE, a2 = LAYOUT_PCI_MMIO32_BASE + MiB;
	const uint64_t b0 = LAYOUT_PCI_MMIO32_BASE + 2 * MiB;

	/* Decoding off: nothing answers. */
	assert_int_equal(win_rd(c, a0, 4), 0);
	win_wr(c, a0, 1, 4);
	assert_int_equal(c->a.reads + c->a.writes, 0);

	memory_enable(c, 0, true);
	memory_enable(c, 1, true);
	assert_int_equal(win_rd(c, a0 + 0x10, 4), 0xb0000010);
	assert_int_equal(c->a.last_bar, 0);
	assert_int_equal(c->a.last_off, 0x10);
	assert_int_equal(c->a.last_len, 4);
	assert_int_equal(win_rd(c, a2 + 0x1234, 8), 0xb2001234);
	assert_int_equal(c->a.last_bar, 2);
	assert_int_equal(c->a.last_len, 8);
	assert_int_equal(win_rd(c, b0 + 0xfffe, 2), 0xfffe);	/* low bytes of the pattern */
	assert_int_equal(c->b.last_off, 0xfffe);
	assert_int_equal(c->a.reads, 2);
	assert_int_equal(c->b.reads, 1);

	win_wr(c, b0 + 0x100, 0xdeadbeefcafef00dULL, 8);
	assert_int_equal(c->b.writes, 1);
	assert_int_equal(c->b.last_off, 0x100);
	assert_int_equal(c->b.last_value, 0xdeadbeefcafef00dULL);
	win_wr(c, a0 + 0xfff, 0x42, 1);
	assert_int_equal(c->a.writes, 1);
	assert_int_equal(c->a.last_off, 0xfff);
	assert_int_equal(c->a.last_value, 0x42);

	/* Straddling a BAR's end, between BARs, past them: nothing. */
	assert_int_equal(win_rd(c, a0 + 0xffe, 4), 0);
	assert_int_equal(win_rd(c, a0 + 0x1000, 4), 0);
	assert_int_equal(win_rd(c, b0 + 64 * KiB, 4), 0);
	win_wr(c, a0 + 0xffc, 0, 8);
	win_wr(c, LAYOUT_PCI_MMIO32_BASE + LAYOUT_PCI_MMIO32_SIZE - 8, 0, 8);
	assert_int_equal(c->a.reads, 2);
	assert_int_equal(c->a.writes, 1);
	assert_int_equal(c->b.reads, 1);
	assert_int_equal(c->b.writes, 1);

	/* Moved BAR: answers at the new place only. */
	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, 0x3e000000, 4);
	assert_int_equal(win_rd(c, b0, 4), 0);
	assert_int_equal(win_rd(c, 0x3e000000 + 8, 4), 0xb0000008);
	assert_int_equal(c->b.reads, 2);

	/* The BAR last hit is tried first, but never once it has moved or
	 * stopped decoding. */
	cfg_wr(c, 1, PCI_BASE_ADDRESS_0, b0, 4);
	assert_int_equal(win_rd(c, 0x3e000000 + 8, 4), 0);
	assert_int_equal(win_rd(c, b0 + 8, 4), 0xb0000008);
	memory_enable(c, 1, false);
	assert_int_equal(win_rd(c, b0 + 8, 4), 0);
	assert_int_equal(c->b.reads, 3);
	assert_int_equal(win_rd(c, a2 + 8, 8), 0xb2000008);
	assert_int_equal(c->a.reads, 3);
}

static void test_add_bar_invalid(void **state)
{
	struct fake f;

	fake_init(&f, DEVICE);
	assert_int_equal(pci_device_add_bar(&f.pci, -1, 4 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 6, 4 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 5, 4 * KiB, true), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 2 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 12 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 0, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 4 * GiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 1, 4 * KiB, true), 0);
	/* Taken, the upper half of BAR 1, overlapping BAR 1. */
	assert_int_equal(pci_device_add_bar(&f.pci, 1, 4 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 2, 4 * KiB, false), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 4 * KiB, true), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 4 * KiB, false), 0);
	assert_int_equal(pci_device_add_bar(&f.pci, 3, 4 * GiB, true), 0);
}

static void test_window_exhaustion(void **state)
{
	struct pci_host host;
	struct fake *f = calloc(PCI_MAX_SLOTS + 1, sizeof(*f));
	uint64_t next;
	int i;

	assert_non_null(f);
	assert_int_equal(pci_host_init(&host, NULL), 0);
	/* The window is 0x10000000-0x3effffff: one 256 MiB BAR at 0x10000000,
	 * then a 4 KiB one at 0x20000000, and a second 256 MiB one would need
	 * 0x30000000-0x3fffffff. */
	fake_init(&f[0], DEVICE);
	assert_int_equal(pci_device_add_bar(&f[0].pci, 0, 256 * MiB, false), 0);
	assert_int_equal(pci_host_add(&host, &f[0].pci), 0);
	assert_int_equal(f[0].pci.bars[0].assigned, 0x10000000);
	next = host.mmio_next;
	fake_init(&f[1], DEVICE);
	assert_int_equal(pci_device_add_bar(&f[1].pci, 0, 4 * KiB, false), 0);
	assert_int_equal(pci_device_add_bar(&f[1].pci, 2, 256 * MiB, true), 0);
	assert_int_equal(pci_host_add(&host, &f[1].pci), -ENOSPC);
	/* Nothing of the failed add stayed. */
	assert_int_equal(host.mmio_next, next);
	assert_null(host.slots[1]);
	assert_int_equal(f[1].pci.bars[0].assigned, 0);
	/* Slots run out too. */
	for (i = 1; i < PCI_MAX_SLOTS; i++) {
		fake_init(&f[i], DEVICE);
		assert_int_equal(pci_host_add(&host, &f[i].pci), 0);
	}
	fake_init(&f[i], DEVICE);
	assert_int_equal(pci_host_add(&host, &f[i].pci), -ENOSPC);
	assert_int_equal(f[PCI_MAX_SLOTS - 1].pci.devfn, (PCI_MAX_SLOTS - 1) << 3);
	host.ecam.ops->destroy(&host.ecam);
	free(f);
}

/* ---------------------------------------------------------------- capabilities */

static void test_capability_list(void **state)
{
	struct ctx *c = *state;
	struct fake f;
	const uint8_t body3[3] = { 1, 2, 3 }, body20[20] = { 0 };
	unsigned int off, n = 0;
	int ret;

	fake_init(&f, DEVICE + 3);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body3, sizeof(body3)), 0x40);
	/* 0x40 + 2 + 3 = 0x45: the next starts 4-byte aligned. */
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_MSIX, body20, 10), 0x48);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), 0x54);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body20, 20), 0x58);
	assert_int_equal(pci_host_add(&c->host, &f.pci), 0);

	assert_true(cfg_rd(c, 2, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_rd(c, 2, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg_rd(c, 2, 0x40, 2), 0x4800 | PCI_CAP_ID_VNDR);
	assert_int_equal(cfg_rd(c, 2, 0x42, 1), 1);
	assert_int_equal(cfg_rd(c, 2, 0x44, 1), 3);
	assert_int_equal(cfg_rd(c, 2, 0x48, 2), 0x5400 | PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd(c, 2, 0x54, 2), 0x5800 | PCI_CAP_ID_VNDR);
	assert_int_equal(cfg_rd(c, 2, 0x58, 2), PCI_CAP_ID_VNDR);	/* last: next 0 */
	/* Walk it as a driver does. */
	for (off = cfg_rd(c, 2, PCI_CAPABILITY_LIST, 1); off; off = cfg_rd(c, 2, off + 1, 1)) {
		assert_int_equal(off % 4, 0);
		assert_true(off >= 0x40 && off < 0x100);
		n++;
	}
	assert_int_equal(n, 4);
	/* The guest cannot rewire it. */
	cfg_wr(c, 2, PCI_CAPABILITY_LIST, 0x80, 1);
	cfg_wr(c, 2, 0x48, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 2, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg_rd(c, 2, 0x48, 2), 0x5400 | PCI_CAP_ID_MSIX);

	/* Fill the 256 bytes: 0x6e..0xff holds 0x92 bytes; an exact fit is allowed. */
	ret = pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body20, 20);
	assert_int_equal(ret, 0x70);
	while ((ret = pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body20, 18)) > 0)
		assert_true(ret + 20 <= 0x100);
	assert_int_equal(ret, -ENOSPC);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), -ENOSPC);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body20, 255), -ENOSPC);
}

static void test_capability_fills_exactly(void **state)
{
	struct fake f;
	uint8_t body[190] = { 0 };

	fake_init(&f, DEVICE);
	/* 0x40 + 2 + 190 = 0x100: fits exactly, then nothing more. */
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body, sizeof(body)), 0x40);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), -ENOSPC);
	fake_init(&f, DEVICE);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body, 187), 0x40);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), -ENOSPC);
	fake_init(&f, DEVICE);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, body, 186), 0x40);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), 0xfc);
	assert_int_equal(pci_device_add_cap(&f.pci, PCI_CAP_ID_VNDR, NULL, 0), -ENOSPC);
}

/* ---------------------------------------------------------------- reset */

static void test_reset(void **state)
{
	struct ctx *c = *state;
	const uint64_t bar0 = LAYOUT_PCI_MMIO32_BASE;

	memory_enable(c, 0, true);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, 0x30000000, 4);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_2, 0xffffffff, 4);	/* half-written */
	cfg_wr(c, 0, PCI_INTERRUPT_LINE, 0x33, 1);
	c->a.nr_remaps = 0;
	c->host.ecam.ops->reset(&c->host.ecam);
	assert_int_equal(c->a.resets, 1);
	assert_int_equal(c->b.resets, 1);
	assert_int_equal(c->a.nr_remaps, 2);
	assert_remap(&c->a, 0, 0, 0x30000000, 0);
	assert_remap(&c->a, 1, 2, bar0 + MiB, 0);
	assert_int_equal(cfg_rd(c, 0, PCI_COMMAND, 2), 0);
	assert_int_equal(cfg_rd(c, 0, PCI_INTERRUPT_LINE, 1), 0);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_0, 4), bar0);
	assert_int_equal(cfg_rd(c, 0, PCI_BASE_ADDRESS_2, 4),
			 (bar0 + MiB) | PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_int_equal(cfg_rd(c, 0, PCI_VENDOR_ID, 2), VENDOR);
	/* The half-written BAR starts over: one more half does not move it. */
	memory_enable(c, 0, true);
	cfg_wr(c, 0, PCI_BASE_ADDRESS_3, 0x1, 4);
	assert_int_equal(pci_bar_addr(&c->a.pci, 2), bar0 + MiB);
	assert_int_equal(c->b.nr_remaps, 0);
}

/* ---------------------------------------------------------------- I/O BARs */

static uint64_t io_rd(struct ctx *c, uint64_t addr, unsigned int len)
{
	return dev_rd(&c->host.io, addr, len);
}

static void io_wr(struct ctx *c, uint64_t addr, uint64_t v, unsigned int len)
{
	dev_wr(&c->host.io, addr, v, len);
}

static void test_add_io_bar_invalid(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, DEVICE);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 0, 2), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 0, 512), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 0, 24), -EINVAL);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 6, 16), -EINVAL);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 4 * KiB, true), 0);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 1, 16), -EINVAL);	/* upper half */
	assert_int_equal(pci_device_add_io_bar(&f.pci, 0, 16), -EINVAL);	/* taken */
	assert_int_equal(pci_device_add_io_bar(&f.pci, 2, 4), 0);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 3, 256), 0);
}

/* A third function with I/O BAR 1 (256 ports) next to a memory BAR 0. */
static void test_io_bar(void **state)
{
	struct ctx *c = *state;
	const uint64_t io = LAYOUT_PCI_IO_BASE;
	struct fake f;

	assert_false(c->host.io_window);
	fake_init(&f, DEVICE + 2);
	assert_int_equal(pci_device_add_bar(&f.pci, 0, 4 * KiB, false), 0);
	assert_int_equal(pci_device_add_io_bar(&f.pci, 1, 256), 0);
	assert_int_equal(pci_host_add(&c->host, &f.pci), 0);
	assert_true(c->host.io_window);

	/* Ports from 0x1000 up; the type bit is read-only. */
	assert_int_equal(cfg_rd(c, 2, PCI_BASE_ADDRESS_1, 4), 0x1000 | PCI_BASE_ADDRESS_SPACE_IO);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, 2, PCI_BASE_ADDRESS_1, 4), 0xffffff01);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0x1000, 4);

	/* Memory Space Enable decodes the memory BAR only; I/O Space Enable
	 * the I/O one, at the window's base + port. */
	memory_enable(c, 2, true);
	assert_int_equal(f.nr_remaps, 1);
	assert_int_equal(f.remaps[0].bar, 0);
	assert_int_equal(io_rd(c, io + 0x1000, 4), 0);
	cfg_wr(c, 2, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_int_equal(cfg_rd(c, 2, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_remap(&f, 1, 1, 0, io + 0x1000);
	assert_int_equal(io_rd(c, io + 0x1004, 2), 0xb1000004 & 0xffff);
	assert_int_equal(f.last_bar, 1);
	assert_int_equal(f.last_off, 4);
	io_wr(c, io + 0x10ff, 0x7e, 1);
	assert_int_equal(f.writes, 1);
	assert_int_equal(f.last_off, 0xff);
	assert_int_equal(io_rd(c, io + 0x10ff, 2), 0);	/* straddles the end */
	assert_int_equal(io_rd(c, io + 0x1100, 1), 0);

	/* Port 0 is a port; past the 64 Ki ports, or the sizing pattern, none. */
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0, 4);
	assert_remap(&f, 2, 1, io + 0x1000, io);
	assert_int_equal(io_rd(c, io + 8, 1), 8);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0x10000, 4);
	assert_remap(&f, 3, 1, io, 0);
	cfg_wr(c, 2, PCI_BASE_ADDRESS_1, 0xff00, 4);
	assert_remap(&f, 4, 1, 0, io + 0xff00);

	/* A memory BAR the guest puts over the I/O window's addresses is not
	 * reached through the I/O window. */
	cfg_wr(c, 0, PCI_BASE_ADDRESS_0, (uint32_t)io, 4);
	memory_enable(c, 0, true);
	assert_int_equal(pci_bar_addr(&c->a.pci, 0), io);
	assert_int_equal(io_rd(c, io + 4, 4), 0);
	assert_int_equal(c->a.reads, 0);

	/* Reset: the BAR back at its port, decoding off. */
	c->host.ecam.ops->reset(&c->host.ecam);
	assert_int_equal(cfg_rd(c, 2, PCI_BASE_ADDRESS_1, 4), 0x1000 | PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(pci_bar_addr(&f.pci, 1), 0);
	c->host.slots[2] = NULL;
}

/* ---------------------------------------------------------------- device tree */

static uint8_t dtb[BOOT_DTB_MAX];


static const fdt32_t *prop_cells(int node, const char *name, int ncells)
{
	int len;
	const fdt32_t *v = fdt_getprop(dtb, node, name, &len);

	if (!v)
		fail_msg("no %s", name);
	if (len != ncells * 4)
		fail_msg("%s is %d bytes, want %d", name, len, ncells * 4);
	return v;
}

static uint64_t cells64(const fdt32_t *c)
{
	return (uint64_t)fdt32_to_cpu(c[0]) << 32 | fdt32_to_cpu(c[1]);
}

/* INTA..INTD of slots 0..3 (the mask's slot bits) on SPIs 4..7, swizzled. */
static void check_intx_map(int node)
{
	const fdt32_t *mask = prop_cells(node, "interrupt-map-mask", 4);
	const fdt32_t *map = prop_cells(node, "interrupt-map", 16 * 10);

	assert_int_equal(fdt32_to_cpu(prop_cells(node, "#interrupt-cells", 1)[0]), 1);
	assert_int_equal(fdt32_to_cpu(mask[0]), 0x1800);
	assert_int_equal(fdt32_to_cpu(mask[3]), 7);
	for (unsigned int e = 0; e < 16; e++) {
		const fdt32_t *m = map + 10 * e;
		unsigned int slot = fdt32_to_cpu(m[0]) >> 11, pin = fdt32_to_cpu(m[3]);

		assert_int_equal(slot, e / 4);
		assert_int_equal(pin, e % 4 + 1);
		assert_int_equal(fdt32_to_cpu(m[4]), FDT_GIC_PHANDLE);
		assert_int_equal(fdt32_to_cpu(m[7]), FDT_GIC_SPI);
		assert_int_equal(fdt32_to_cpu(m[8]), 4 + (slot + pin - 1) % 4);
		assert_int_equal(fdt32_to_cpu(m[8]), pci_intx_spi((uint8_t)(slot << 3), pin));
		assert_int_equal(fdt32_to_cpu(m[9]), FDT_IRQ_LEVEL_HIGH);
	}
	/* Slot 5 is slot 1 to the mask: the same SPI, INTA of 00:05.0 on SPI 5. */
	assert_int_equal(pci_intx_spi(5 << 3, 1), 5);
	assert_int_equal(pci_intx_spi(1 << 3, 1), 5);
}

static void test_fdt_node(void **state)
{
	struct ctx *c = *state;
	uint64_t mpidr = 0x80000000;
	struct device *devs[] = { &c->host.ecam, &c->host.mmio };
	struct fdt_params p = {
		.layout = &c->layout,
		.mpidr = &mpidr,
		.nr_cpus = 1,
		.devices = devs,
		.nr_devices = 2,
	};
	const fdt32_t *reg, *ranges, *msi_map, *bus_range;
	int node, len;

	assert_int_equal(fdt_build(&p, dtb, sizeof(dtb)), 0);
	node = fdt_path_offset(dtb, "/pcie@3f000000");
	assert_true(node >= 0);

	assert_string_equal(fdt_getprop(dtb, node, "compatible", NULL), "pci-host-ecam-generic");
	assert_string_equal(fdt_getprop(dtb, node, "device_type", NULL), "pci");
	assert_int_equal(fdt32_to_cpu(prop_cells(node, "#address-cells", 1)[0]), 3);
	assert_int_equal(fdt32_to_cpu(prop_cells(node, "#size-cells", 1)[0]), 2);
	assert_int_equal(fdt32_to_cpu(prop_cells(node, "linux,pci-domain", 1)[0]), 0);
	assert_non_null(fdt_getprop(dtb, node, "dma-coherent", &len));
	assert_int_equal(len, 0);
	assert_null(fdt_getprop(dtb, node, "msi-parent", NULL));
	check_intx_map(node);

	reg = prop_cells(node, "reg", 4);
	assert_int_equal(cells64(reg), LAYOUT_PCI_ECAM_BASE);
	assert_int_equal(cells64(reg + 2), LAYOUT_PCI_ECAM_SIZE);

	bus_range = prop_cells(node, "bus-range", 2);
	assert_int_equal(fdt32_to_cpu(bus_range[0]), 0);
	assert_int_equal(fdt32_to_cpu(bus_range[1]), 0);

	/* <space pci.hi pci.lo cpu.hi cpu.lo size.hi size.lo>, identity-mapped. */
	ranges = prop_cells(node, "ranges", 14);
	assert_int_equal(fdt32_to_cpu(ranges[0]), 0x02000000);
	assert_int_equal(cells64(ranges + 1), LAYOUT_PCI_MMIO32_BASE);
	assert_int_equal(cells64(ranges + 3), LAYOUT_PCI_MMIO32_BASE);
	assert_int_equal(cells64(ranges + 5), LAYOUT_PCI_MMIO32_SIZE);
	assert_int_equal(fdt32_to_cpu(ranges[7]), 0x43000000);
	assert_int_equal(cells64(ranges + 8), c->layout.pci64_base);
	assert_int_equal(cells64(ranges + 10), c->layout.pci64_base);
	assert_int_equal(cells64(ranges + 12), c->layout.pci64_size);

	msi_map = prop_cells(node, "msi-map", 4);
	assert_int_equal(fdt32_to_cpu(msi_map[0]), 0);
	assert_int_equal(fdt32_to_cpu(msi_map[1]), FDT_ITS_PHANDLE);
	assert_int_equal(fdt32_to_cpu(msi_map[2]), 0);
	assert_int_equal(fdt32_to_cpu(msi_map[3]), 0x10000);
	/* The phandle is the ITS's. */
	assert_string_equal(fdt_getprop(dtb, fdt_node_offset_by_phandle(dtb, FDT_ITS_PHANDLE),
					"compatible", NULL), "arm,gic-v3-its");
	check_with_dtc(dtb);
}

static void test_fdt_node_without_64bit_window(void **state)
{
	struct pci_host host;
	int node;

	assert_int_equal(fdt_create_empty_tree(dtb, 4096), 0);
	assert_int_equal(pci_host_init(&host, NULL), 0);
	node = host.ecam.ops->fdt_node(&host.ecam, dtb, FDT_GIC_PHANDLE);
	assert_true(node >= 0);
	prop_cells(node, "ranges", 7);
	assert_null(host.mmio.ops->fdt_node);
	/* Out of space: -ENOSPC, not a crash. */
	assert_int_equal(fdt_create_empty_tree(dtb, 128), 0);
	assert_int_equal(host.ecam.ops->fdt_node(&host.ecam, dtb, FDT_GIC_PHANDLE), -ENOSPC);
	host.ecam.ops->destroy(&host.ecam);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ids_and_header),
		T(test_read_only_fields_stay),
		T(test_missing_functions_read_all_ones),
		T(test_bar_assignment),
		T(test_bar_sizing_32),
		T(test_bar_sizing_64),
		T(test_bar_sizing_large),
		T(test_bar_move_remaps),
		T(test_memory_enable_toggles_decoding),
		T(test_window_dispatch),
		cmocka_unit_test(test_add_bar_invalid),
		cmocka_unit_test(test_window_exhaustion),
		T(test_capability_list),
		cmocka_unit_test(test_capability_fills_exactly),
		T(test_reset),
		cmocka_unit_test(test_add_io_bar_invalid),
		T(test_io_bar),
		T(test_fdt_node),
		cmocka_unit_test(test_fdt_node_without_64bit_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
