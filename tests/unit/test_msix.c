// SPDX-License-Identifier: GPL-2.0-only
/*
 * MSI-X on a fake PCI function behind a real host bridge: the guest's side
 * through ECAM (capability) and the BAR window (table, PBA), the device's
 * side through msix_notify, the interrupt controller's side through a sink
 * that records routes and deliveries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "vmm/layout.h"

#define NR_VECTORS	70	/* two PBA words */
#define MSIX_BAR	1
#define BAR_SIZE	(16 * KiB)
#define TABLE_OFF	0x0000
#define PBA_OFF		0x2000
#define MAX_EVENTS	64

#define ITS_DOORBELL	0x08090040ULL	/* GITS_TRANSLATER */

struct event {
	char kind;		/* 'r'oute or 'f'ire */
	unsigned int vec;
	uint64_t addr;
	uint32_t data;
};

struct ctx {
	struct pci_host host;
	struct pci_device pci;
	struct msix m;
	struct event ev[MAX_EVENTS];
	unsigned int nr_ev, routes, fires;
	int route_err;		/* what the next route returns */
	uint64_t bar;		/* where the MSI-X BAR answers */
};

static struct ctx *to_ctx(struct pci_device *pdev)
{
	return (struct ctx *)((char *)pdev - offsetof(struct ctx, pci));
}

static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct ctx *c = opaque;

	assert_true(vec < NR_VECTORS);
	if (c->route_err)
		return c->route_err;
	assert_true(c->nr_ev < MAX_EVENTS);
	c->ev[c->nr_ev++] = (struct event){ 'r', vec, addr, data };
	c->routes++;
	return 0;
}

static void sink_fire(void *opaque, unsigned int vec)
{
	struct ctx *c = opaque;

	assert_true(vec < NR_VECTORS);
	assert_true(c->nr_ev < MAX_EVENTS);
	c->ev[c->nr_ev++] = (struct event){ 'f', vec, 0, 0 };
	c->fires++;
}

static const struct msi_sink_ops sink = {
	.route = sink_route,
	.fire = sink_fire,
};

static void fn_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			unsigned int len)
{
	struct ctx *c = to_ctx(pdev);

	if (off >= PBA_OFF)
		msix_pba_read(&c->m, off - PBA_OFF, data, len);
	else
		msix_table_read(&c->m, off - TABLE_OFF, data, len);
}

static void fn_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			 unsigned int len)
{
	struct ctx *c = to_ctx(pdev);

	if (off < PBA_OFF)
		msix_table_write(&c->m, off - TABLE_OFF, data, len);
}

static void fn_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct ctx *c = to_ctx(pdev);

	if (off < c->m.cap + PCI_CAP_MSIX_SIZEOF + 0u && off + len > c->m.cap)
		msix_config_written(&c->m);
}

static const struct pci_device_ops fn_ops = {
	.bar_read = fn_bar_read,
	.bar_write = fn_bar_write,
	.config_written = fn_config_written,
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(pci_host_init(&c->host, NULL), 0);
	c->pci.ops = &fn_ops;
	pci_device_init(&c->pci, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1);
	assert_int_equal(pci_device_add_bar(&c->pci, MSIX_BAR, BAR_SIZE, false), 0);
	assert_int_equal(msix_init(&c->m, &c->pci, NR_VECTORS, MSIX_BAR, TABLE_OFF, PBA_OFF,
				   &sink, c), 0);
	assert_int_equal(pci_host_add(&c->host, &c->pci), 0);
	c->bar = c->pci.bars[MSIX_BAR].assigned;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	msix_destroy(&c->m);
	c->host.ecam.ops->destroy(&c->host.ecam);
	free(c);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static uint32_t cfg_rd(struct ctx *c, unsigned int reg, unsigned int len)
{
	uint32_t v = 0;

	c->host.ecam.ops->mmio_read(&c->host.ecam, reg, (uint8_t *)&v, len);
	return v;
}

static void cfg_wr(struct ctx *c, unsigned int reg, uint32_t v, unsigned int len)
{
	c->host.ecam.ops->mmio_write(&c->host.ecam, reg, (const uint8_t *)&v, len);
}

static void set_flags(struct ctx *c, uint16_t flags)
{
	cfg_wr(c, c->m.cap + PCI_MSIX_FLAGS, flags, 2);
}

static uint64_t bar_rd(struct ctx *c, uint64_t off, unsigned int len)
{
	uint64_t v = 0x5a5a5a5a5a5a5a5aULL;

	c->host.mmio.ops->mmio_read(&c->host.mmio, c->bar + off - c->host.mmio.mmio_base,
				    (uint8_t *)&v, len);
	return len < 8 ? v & ((1ULL << (8 * len)) - 1) : v;
}

static void bar_wr(struct ctx *c, uint64_t off, uint64_t v, unsigned int len)
{
	c->host.mmio.ops->mmio_write(&c->host.mmio, c->bar + off - c->host.mmio.mmio_base,
				     (const uint8_t *)&v, len);
}

static uint64_t entry(unsigned int vec, unsigned int field)
{
	return TABLE_OFF + vec * PCI_MSIX_ENTRY_SIZE + field;
}

/* As Linux does: the message with the vector masked, then the mask bit. */
static void program(struct ctx *c, unsigned int vec, uint64_t addr, uint32_t data)
{
	bar_wr(c, entry(vec, PCI_MSIX_ENTRY_LOWER_ADDR), (uint32_t)addr, 4);
	bar_wr(c, entry(vec, PCI_MSIX_ENTRY_UPPER_ADDR), addr >> 32, 4);
	bar_wr(c, entry(vec, PCI_MSIX_ENTRY_DATA), data, 4);
}

static void mask(struct ctx *c, unsigned int vec, bool masked)
{
	bar_wr(c, entry(vec, PCI_MSIX_ENTRY_VECTOR_CTRL), masked, 4);
}

static bool pending(struct ctx *c, unsigned int vec)
{
	return bar_rd(c, PBA_OFF + vec / 64 * 8, 8) & (1ULL << (vec % 64));
}

static void assert_event(struct ctx *c, unsigned int i, char kind, unsigned int vec,
			 uint64_t addr, uint32_t data)
{
	assert_true(i < c->nr_ev);
	assert_int_equal(c->ev[i].kind, kind);
	assert_int_equal(c->ev[i].vec, vec);
	if (kind == 'r') {
		assert_int_equal(c->ev[i].addr, addr);
		assert_int_equal(c->ev[i].data, data);
	}
}

/* Memory decoding on (so the BAR answers), MSI-X enabled, function unmasked. */
static void enable(struct ctx *c)
{
	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	set_flags(c, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_enabled(&c->m));
}

/* ---------------------------------------------------------------- tests */

static void test_capability(void **state)
{
	struct ctx *c = *state;
	unsigned int cap = cfg_rd(c, PCI_CAPABILITY_LIST, 1);

	assert_int_equal(cap, c->m.cap);
	assert_int_equal(cfg_rd(c, cap + PCI_CAP_LIST_ID, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd(c, cap + PCI_CAP_LIST_NEXT, 1), 0);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_FLAGS, 2), NR_VECTORS - 1);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_TABLE, 4), TABLE_OFF | MSIX_BAR);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_PBA, 4), PBA_OFF | MSIX_BAR);
	assert_true(cfg_rd(c, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_false(msix_enabled(&c->m));

	/* Enable and Function Mask are the only writable bits. */
	set_flags(c, 0xffff);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_FLAGS, 2),
			 PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NR_VECTORS - 1));
	assert_true(msix_enabled(&c->m));
	cfg_wr(c, cap + PCI_MSIX_TABLE, 0xffffffff, 4);
	cfg_wr(c, cap + PCI_MSIX_PBA, 0xffffffff, 4);
	cfg_wr(c, cap, 0xffff, 2);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_TABLE, 4), TABLE_OFF | MSIX_BAR);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_PBA, 4), PBA_OFF | MSIX_BAR);
	assert_int_equal(cfg_rd(c, cap, 2), PCI_CAP_ID_MSIX);
	set_flags(c, 0);
	assert_int_equal(cfg_rd(c, cap + PCI_MSIX_FLAGS, 2), NR_VECTORS - 1);
	assert_false(msix_enabled(&c->m));
	/* Byte access to the upper half, as some drivers do. */
	cfg_wr(c, cap + PCI_MSIX_FLAGS + 1, PCI_MSIX_FLAGS_ENABLE >> 8, 1);
	assert_true(msix_enabled(&c->m));
}

static void test_table_read_write(void **state)
{
	struct ctx *c = *state;

	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	/* Power-on: message 0, masked. */
	assert_int_equal(bar_rd(c, entry(5, 0), 8), 0);
	assert_int_equal(bar_rd(c, entry(5, 8), 8), (uint64_t)PCI_MSIX_ENTRY_CTRL_MASKBIT << 32);

	program(c, 5, 0x1234567808090040ULL, 0xabcd);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0x08090040);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_UPPER_ADDR), 4), 0x12345678);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_DATA), 4), 0xabcd);
	assert_int_equal(bar_rd(c, entry(5, 0), 8), 0x1234567808090040ULL);

	/* 8-byte writes: address, then data + control. */
	bar_wr(c, entry(6, 0), 0x0000000108090040ULL, 8);
	bar_wr(c, entry(6, 8), 0x0000000000000042ULL, 8);	/* data 0x42, unmasked */
	assert_int_equal(bar_rd(c, entry(6, 0), 8), 0x0000000108090040ULL);
	assert_int_equal(bar_rd(c, entry(6, 8), 8), 0x42);

	/* Address bits 1:0 and Vector Control's reserved bits read 0. */
	bar_wr(c, entry(7, PCI_MSIX_ENTRY_LOWER_ADDR), 0x08090043, 4);
	bar_wr(c, entry(7, PCI_MSIX_ENTRY_VECTOR_CTRL), 0xfffffffe, 4);
	assert_int_equal(bar_rd(c, entry(7, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0x08090040);
	assert_int_equal(bar_rd(c, entry(7, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);

	/* Other widths and misaligned accesses: ignored, read 0. */
	bar_wr(c, entry(5, PCI_MSIX_ENTRY_DATA), 0xff, 1);
	bar_wr(c, entry(5, PCI_MSIX_ENTRY_DATA), 0xffff, 2);
	bar_wr(c, entry(5, PCI_MSIX_ENTRY_DATA + 2), 0xffffffff, 4);
	bar_wr(c, entry(5, 4), 0xffffffffffffffffULL, 8);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_DATA), 4), 0xabcd);
	assert_int_equal(bar_rd(c, entry(5, 0), 8), 0x1234567808090040ULL);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_DATA), 1), 0);
	assert_int_equal(bar_rd(c, entry(5, PCI_MSIX_ENTRY_DATA), 2), 0);
	assert_int_equal(bar_rd(c, entry(5, 2), 4), 0);
	assert_int_equal(bar_rd(c, entry(5, 4), 8), 0);
	/* Disabled MSI-X: no routes were needed for any of this. */
	assert_int_equal(c->routes + c->fires, 0);
}

static void test_vector_mask_pending_unmask(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 3, ITS_DOORBELL, 33);
	msix_notify(&c->m, 3);			/* masked: pending */
	assert_int_equal(c->nr_ev, 0);
	assert_true(pending(c, 3));
	assert_false(pending(c, 4));
	msix_notify(&c->m, 3);			/* still one pending bit */
	assert_int_equal(bar_rd(c, PBA_OFF, 8), 1ULL << 3);

	mask(c, 3, false);			/* unmask: route, then deliver once */
	assert_int_equal(c->nr_ev, 2);
	assert_event(c, 0, 'r', 3, ITS_DOORBELL, 33);
	assert_event(c, 1, 'f', 3, 0, 0);
	assert_false(pending(c, 3));

	msix_notify(&c->m, 3);			/* live: at once, no new route */
	assert_int_equal(c->nr_ev, 3);
	assert_event(c, 2, 'f', 3, 0, 0);

	mask(c, 3, true);
	mask(c, 3, true);
	assert_int_equal(c->nr_ev, 3);
	mask(c, 3, false);			/* nothing pending: nothing fires */
	assert_int_equal(c->nr_ev, 3);
}

static void test_unmask_routes_without_pending(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 0, ITS_DOORBELL, 1);
	mask(c, 0, false);			/* about to be used: routed now */
	assert_int_equal(c->routes, 1);
	assert_int_equal(c->fires, 0);
	assert_event(c, 0, 'r', 0, ITS_DOORBELL, 1);
	msix_notify(&c->m, 0);
	assert_int_equal(c->routes, 1);
	assert_int_equal(c->fires, 1);
}

static void test_function_mask(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 1, ITS_DOORBELL, 11);
	program(c, 2, ITS_DOORBELL, 12);
	mask(c, 1, false);
	c->nr_ev = c->routes = 0;
	set_flags(c, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	msix_notify(&c->m, 1);
	msix_notify(&c->m, 2);			/* also masked on its own */
	assert_int_equal(c->nr_ev, 0);
	assert_true(pending(c, 1));
	assert_true(pending(c, 2));
	/* The function mask does not show in Vector Control. */
	assert_int_equal(bar_rd(c, entry(1, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);

	set_flags(c, PCI_MSIX_FLAGS_ENABLE);	/* vector 1 goes; 2 waits */
	assert_int_equal(c->nr_ev, 1);
	assert_event(c, 0, 'f', 1, 0, 0);	/* its route was current */
	assert_false(pending(c, 1));
	assert_true(pending(c, 2));
	set_flags(c, PCI_MSIX_FLAGS_ENABLE);	/* no change: nothing */
	assert_int_equal(c->nr_ev, 1);
	mask(c, 2, false);
	assert_int_equal(c->nr_ev, 3);
	assert_event(c, 1, 'r', 2, ITS_DOORBELL, 12);
	assert_event(c, 2, 'f', 2, 0, 0);
}

static void test_disabled_sets_pending(void **state)
{
	struct ctx *c = *state;

	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	program(c, 65, ITS_DOORBELL, 65);
	mask(c, 65, false);			/* MSI-X off: not live, no route */
	msix_notify(&c->m, 65);
	assert_int_equal(c->nr_ev, 0);
	assert_true(pending(c, 65));
	assert_int_equal(bar_rd(c, PBA_OFF + 8, 4), 1u << 1);
	assert_int_equal(bar_rd(c, PBA_OFF + 12, 4), 0);
	assert_int_equal(bar_rd(c, PBA_OFF, 8), 0);

	set_flags(c, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(c->nr_ev, 2);
	assert_event(c, 0, 'r', 65, ITS_DOORBELL, 65);
	assert_event(c, 1, 'f', 65, 0, 0);
	assert_false(pending(c, 65));

	set_flags(c, 0);			/* disabled again */
	msix_notify(&c->m, 65);
	assert_int_equal(c->nr_ev, 2);
	assert_true(pending(c, 65));
}

static void test_route_only_on_change(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 9, ITS_DOORBELL, 90);
	mask(c, 9, false);
	for (int i = 0; i < 5; i++)
		msix_notify(&c->m, 9);
	assert_int_equal(c->routes, 1);
	assert_int_equal(c->fires, 5);

	/* Rewritten with the same message, masked and unmasked: no route. */
	mask(c, 9, true);
	program(c, 9, ITS_DOORBELL, 90);
	mask(c, 9, false);
	msix_notify(&c->m, 9);
	assert_int_equal(c->routes, 1);

	/* Changed many times while masked: one route, the last message. */
	mask(c, 9, true);
	for (uint32_t d = 100; d < 110; d++)
		program(c, 9, ITS_DOORBELL, d);
	assert_int_equal(c->routes, 1);
	mask(c, 9, false);
	assert_int_equal(c->routes, 2);
	assert_event(c, c->nr_ev - 1, 'r', 9, ITS_DOORBELL, 109);

	/* Changed while live: routed at the next delivery, before the fire. */
	bar_wr(c, entry(9, PCI_MSIX_ENTRY_DATA), 200, 4);
	assert_int_equal(c->routes, 2);
	msix_notify(&c->m, 9);
	assert_int_equal(c->routes, 3);
	assert_event(c, c->nr_ev - 2, 'r', 9, ITS_DOORBELL, 200);
	assert_event(c, c->nr_ev - 1, 'f', 9, 0, 0);

	/* Changed and changed back before use: nothing to tell the sink. */
	mask(c, 9, true);
	bar_wr(c, entry(9, PCI_MSIX_ENTRY_DATA), 201, 4);
	bar_wr(c, entry(9, PCI_MSIX_ENTRY_DATA), 200, 4);
	mask(c, 9, false);
	assert_int_equal(c->routes, 3);

	/* Other vectors were never routed: not the whole table each time. */
	for (unsigned int i = 0; i < c->nr_ev; i++)
		assert_int_equal(c->ev[i].vec, 9);
}

static void test_route_failure_keeps_pending(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 4, ITS_DOORBELL, 44);
	c->route_err = -ENOSPC;
	mask(c, 4, false);			/* the route fails: warned, nothing else */
	msix_notify(&c->m, 4);			/* cannot deliver: stays pending */
	assert_int_equal(c->fires, 0);
	assert_true(pending(c, 4));
	c->route_err = 0;
	msix_notify(&c->m, 4);
	assert_int_equal(c->routes, 1);
	assert_int_equal(c->fires, 1);
	assert_false(pending(c, 4));
}

static void test_out_of_range_is_harmless(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[8];

	enable(c);
	msix_notify(&c->m, NR_VECTORS);
	msix_notify(&c->m, 0xffff);		/* VIRTIO_MSI_NO_VECTOR */
	msix_notify(&c->m, UINT32_MAX);
	assert_int_equal(c->nr_ev, 0);
	assert_int_equal(bar_rd(c, PBA_OFF, 8) | bar_rd(c, PBA_OFF + 8, 8), 0);

	/* Past the table and the PBA, directly and through the BAR. */
	memset(buf, 0xee, sizeof(buf));
	msix_table_read(&c->m, NR_VECTORS * PCI_MSIX_ENTRY_SIZE, buf, 8);
	assert_int_equal(buf[0] | buf[7], 0);
	msix_table_read(&c->m, UINT64_MAX - 3, buf, 4);
	msix_table_write(&c->m, NR_VECTORS * PCI_MSIX_ENTRY_SIZE, buf, 8);
	msix_table_write(&c->m, UINT64_MAX - 7, buf, 8);
	msix_table_write(&c->m, 0, buf, 3);
	memset(buf, 0xee, sizeof(buf));
	msix_pba_read(&c->m, 16, buf, 8);	/* two words for 70 vectors */
	assert_int_equal(buf[0] | buf[7], 0);
	msix_pba_read(&c->m, UINT64_MAX - 7, buf, 8);
	msix_pba_read(&c->m, 1, buf, 4);
	assert_int_equal(bar_rd(c, BAR_SIZE - 8, 8), 0);
	/* The PBA is read-only. */
	bar_wr(c, PBA_OFF, UINT64_MAX, 8);
	assert_int_equal(bar_rd(c, PBA_OFF, 8), 0);
	assert_int_equal(c->nr_ev, 0);
}

static void test_init_checks(void **state)
{
	struct pci_device pci;
	struct msix m;
	uint8_t body[200] = { 0 };

	memset(&pci, 0, sizeof(pci));
	pci_device_init(&pci, 1, 2, 0, 0, 0, 0);
	assert_int_equal(pci_device_add_bar(&pci, 0, 4 * KiB, false), 0);
	assert_int_equal(msix_init(&m, &pci, 0, 0, 0, 0x800, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 2049, 0, 0, 0x800, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 6, 0, 0x800, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, -1, 0, 0x800, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 4, 0x800, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0, 0x804, &sink, NULL), -EINVAL);
	/* Table and PBA overlapping, adjacent, past the BAR's end. */
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0, 0x38, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0x40, 0, &sink, NULL), 0);
	msix_destroy(&m);
	assert_int_equal(msix_init(&m, &pci, 256, 0, 0, 0x1000, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0, 0x1000, &sink, NULL), -EINVAL);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0, 0x800, NULL, NULL), -EINVAL);
	/* BAR not declared yet: no size check. 2048 vectors: 32 KiB table. */
	assert_int_equal(msix_init(&m, &pci, 2048, 2, 0, 0x8000, &sink, NULL), 0);
	assert_int_equal(pci_cfg_read(&pci, m.cap + PCI_MSIX_FLAGS, 2), 2047);
	msix_destroy(&m);
	msix_destroy(&m);			/* twice: harmless */
	/* No room left for the capability (two MSI-X ones end at 0x58). */
	assert_int_equal(pci_device_add_cap(&pci, PCI_CAP_ID_VNDR, body, 160), 0x58);
	assert_int_equal(msix_init(&m, &pci, 4, 0, 0, 0x800, &sink, NULL), -ENOSPC);
}

static void test_reset(void **state)
{
	struct ctx *c = *state;

	enable(c);
	program(c, 2, ITS_DOORBELL, 22);
	mask(c, 2, false);
	set_flags(c, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	msix_notify(&c->m, 2);
	assert_true(pending(c, 2));

	msix_reset(&c->m);
	assert_false(msix_enabled(&c->m));
	assert_int_equal(cfg_rd(c, c->m.cap + PCI_MSIX_FLAGS, 2), NR_VECTORS - 1);
	assert_false(pending(c, 2));
	assert_int_equal(bar_rd(c, entry(2, 0), 8), 0);
	assert_int_equal(bar_rd(c, entry(2, 8), 8), (uint64_t)PCI_MSIX_ENTRY_CTRL_MASKBIT << 32);
	/* The sink still has vector 2's old route: the same message needs none. */
	c->nr_ev = c->routes = c->fires = 0;
	enable(c);
	program(c, 2, ITS_DOORBELL, 22);
	mask(c, 2, false);
	msix_notify(&c->m, 2);
	assert_int_equal(c->routes, 0);
	assert_int_equal(c->fires, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_capability),
		T(test_table_read_write),
		T(test_vector_mask_pending_unmask),
		T(test_unmask_routes_without_pending),
		T(test_function_mask),
		T(test_disabled_sets_pending),
		T(test_route_only_on_change),
		T(test_route_failure_keeps_pending),
		T(test_out_of_range_is_harmless),
		cmocka_unit_test(test_init_checks),
		T(test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
