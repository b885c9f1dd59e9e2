// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pure half of VFIO passthrough (devices/vfio_cfg.c) and the MSI-X
 * liveness a passed-through function's sink hears of (devices/msix.c):
 * a config space shaped like QEMU's modern virtio-blk-pci (MSI-X in BAR 1,
 * the virtio structures in 64-bit prefetchable BAR 4 behind vendor
 * capabilities, an MSI capability as well, PCI Express), put on a real
 * host bridge and driven through ECAM and the BAR window as a guest would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/vfio_cfg.h"
#include "vmm/layout.h"

#define NR_VECTORS	3

static void put(uint8_t *cfg, unsigned int off, uint32_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++, v >>= 8)
		cfg[off + i] = v & 0xff;
}

/* Capability @id at @off, next @next, @len bytes with a body of 0xc0 + i. */
static void cap(uint8_t *cfg, unsigned int off, uint8_t id, uint8_t next, unsigned int len)
{
	cfg[off] = id;
	cfg[off + 1] = next;
	for (unsigned int i = 2; i < len; i++)
		cfg[off + i] = (uint8_t)(0xc0 + i);
}

/* A modern virtio-blk as QEMU builds it (BAR1: MSI-X, BAR4: 64-bit pref). */
static void virtio_blk_cfg(uint8_t cfg[PCI_CFG_SPACE_SIZE], uint64_t sizes[PCI_NUM_BARS])
{
	memset(cfg, 0, PCI_CFG_SPACE_SIZE);
	memset(sizes, 0, PCI_NUM_BARS * sizeof(sizes[0]));
	put(cfg, PCI_VENDOR_ID, 0x1af4, 2);
	put(cfg, PCI_DEVICE_ID, 0x1042, 2);
	put(cfg, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	put(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	cfg[PCI_REVISION_ID] = 1;
	put(cfg, PCI_CLASS_PROG, 0x010000, 3);
	put(cfg, PCI_BASE_ADDRESS_1, 0x10041000, 4);
	put(cfg, PCI_BASE_ADDRESS_4, 0x0000000c | 0x80000000u, 4);	/* 64-bit, prefetchable */
	put(cfg, PCI_BASE_ADDRESS_5, 0x80, 4);
	put(cfg, PCI_SUBSYSTEM_VENDOR_ID, 0x1af4, 2);
	put(cfg, PCI_SUBSYSTEM_ID, 0x1100, 2);
	put(cfg, PCI_ROM_ADDRESS, 0xfeb00001, 4);
	cfg[PCI_INTERRUPT_PIN] = 1;
	cfg[PCI_CAPABILITY_LIST] = 0x98;
	/* MSI-X (0x98) -> vendor (0x84) -> PCIe (0x40) -> MSI (0xa8) -> VPD (0xb8) */
	cap(cfg, 0x98, PCI_CAP_ID_MSIX, 0x84, PCI_CAP_MSIX_SIZEOF);
	put(cfg, 0x98 + PCI_MSIX_FLAGS, NR_VECTORS - 1, 2);
	put(cfg, 0x98 + PCI_MSIX_TABLE, 0x000 | 1, 4);
	put(cfg, 0x98 + PCI_MSIX_PBA, 0x800 | 1, 4);
	cap(cfg, 0x84, PCI_CAP_ID_VNDR, 0x40, 0x14);
	cfg[0x84 + PCI_CAP_FLAGS] = 0x14;
	cap(cfg, 0xa8, PCI_CAP_ID_MSI, 0xb8, 0x0e);
	/* 64-bit, 4 vectors, no per-vector masking; enabled by the host's
	 * last user: the guest must see it disabled. */
	put(cfg, 0xa8 + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | 2 << 1 | 2 << 4 | PCI_MSI_FLAGS_ENABLE, 2);
	/* A hidden one: Vital Product Data. */
	cap(cfg, 0xb8, PCI_CAP_ID_VPD, 0x00, 0x08);
	cap(cfg, 0x40, PCI_CAP_ID_EXP, 0xa8, PCI_CAP_EXP_ENDPOINT_SIZEOF_V2);
	sizes[1] = 0x1000;
	sizes[4] = 0x4000;
}

struct ctx {
	struct pci_host host;
	struct pci_device pci;
	struct vfio_cfg vc;
	struct msix m;
	char err[160];
	unsigned int routes, lives, deaths;
	bool live[NR_VECTORS];
	uint64_t routed_addr[NR_VECTORS];
};

static uint32_t ecam_rd(struct ctx *c, uint32_t reg, unsigned int len)
{
	uint8_t b[4] = { 0 };

	c->host.ecam.ops->mmio_read(&c->host.ecam, (uint64_t)c->pci.devfn << 12 | reg, b, len);
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static void ecam_wr(struct ctx *c, uint32_t reg, uint32_t v, unsigned int len)
{
	uint8_t b[4];

	put(b, 0, v, len);
	c->host.ecam.ops->mmio_write(&c->host.ecam, (uint64_t)c->pci.devfn << 12 | reg, b, len);
}

static int build(struct ctx *c, const uint8_t *cfg, const uint64_t *sizes)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(pci_host_init(&c->host, NULL), 0);
	return vfio_cfg_build(&c->pci, cfg, sizes, &c->vc, c->err, sizeof(c->err));
}

static void test_config_space(void **state)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	virtio_blk_cfg(cfg, sizes);
	assert_int_equal(build(&c, cfg, sizes), 0);
	assert_int_equal(pci_host_add(&c.host, &c.pci), 0);
	assert_int_equal(ecam_rd(&c, PCI_VENDOR_ID, 4), 0x10421af4);
	assert_int_equal(ecam_rd(&c, PCI_CLASS_REVISION, 4), 0x01000001);
	assert_int_equal(ecam_rd(&c, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	/* Hidden: ROM, INTx pin, command bits until the guest sets them. */
	assert_int_equal(ecam_rd(&c, PCI_ROM_ADDRESS, 4), 0);
	assert_int_equal(ecam_rd(&c, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(ecam_rd(&c, PCI_COMMAND, 2), 0);
	/* BARs: 1 (32-bit) and 4+5 (64-bit); none where the device has none. */
	assert_true(c.vc.bars[4].is64 && c.vc.bars[4].prefetch && !c.vc.bars[1].is64);
	assert_int_equal(c.pci.bars[1].size, 0x1000);
	assert_int_equal(c.pci.bars[4].size, 0x4000);
	assert_int_equal(c.pci.bars[0].size, 0);
	ecam_wr(&c, PCI_BASE_ADDRESS_4, 0xffffffff, 4);
	assert_int_equal(ecam_rd(&c, PCI_BASE_ADDRESS_4, 4), 0xffffc00c);	/* 64-bit, prefetchable */
	ecam_wr(&c, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(ecam_rd(&c, PCI_BASE_ADDRESS_0, 4), 0);
	/* Capabilities: MSI-X -> vendor -> PCIe -> MSI; VPD unlinked. */
	assert_true(ecam_rd(&c, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(ecam_rd(&c, PCI_CAPABILITY_LIST, 1), 0x98);
	assert_int_equal(ecam_rd(&c, 0x98 + PCI_CAP_LIST_NEXT, 1), 0x84);
	assert_int_equal(ecam_rd(&c, 0x84 + PCI_CAP_LIST_NEXT, 1), 0x40);
	assert_int_equal(ecam_rd(&c, 0x40 + PCI_CAP_LIST_NEXT, 1), 0xa8);
	assert_int_equal(ecam_rd(&c, 0xa8 + PCI_CAP_LIST_NEXT, 1), 0);
	assert_int_equal(ecam_rd(&c, 0xb8, 4), 0);
	assert_int_equal(c.vc.nr_hidden, 1);
	assert_int_equal(c.vc.hidden_ids[0], PCI_CAP_ID_VPD);
	/* MSI emulated: disabled, one vector enabled, the device's 64-bit and
	 * 4-vector bits; its address and data not the device's. */
	assert_int_equal(c.vc.msi.cap, 0xa8);
	assert_int_equal(c.vc.msi.max_vectors, 4);
	assert_int_equal(ecam_rd(&c, 0xa8, 4), (uint32_t)(PCI_MSI_FLAGS_64BIT | 2 << 1) << 16 | 0x05);
	assert_int_equal(ecam_rd(&c, 0xa8 + PCI_MSI_ADDRESS_LO, 4), 0);
	assert_int_equal(ecam_rd(&c, 0xa8 + PCI_MSI_DATA_64, 2), 0);
	assert_false(c.vc.live[0xaa] || c.vc.live[0xa8 + PCI_MSI_DATA_64]);
	/* Live: the kept bodies but MSI-X's and MSI's, not the headers. */
	assert_true(c.vc.live[0x86] && c.vc.live[0x84 + 0x13] && !c.vc.live[0x84 + 0x14]);
	assert_true(c.vc.live[0x42] && c.vc.live[0x40 + PCI_CAP_EXP_ENDPOINT_SIZEOF_V2 - 1]);
	assert_false(c.vc.live[0x84] || c.vc.live[0x85] || c.vc.live[0x9a] || c.vc.live[0xba]);
	/* MSI-X geometry. */
	assert_int_equal(c.vc.msix.cap, 0x98);
	assert_int_equal(c.vc.msix.nr_vectors, NR_VECTORS);
	assert_int_equal(c.vc.msix.bar, 1);
	assert_int_equal(c.vc.msix.pba_off, 0x800);
	/* No extended capabilities. */
	assert_int_equal(ecam_rd(&c, 0x100, 4), 0);
	pthread_mutex_destroy(&c.host.lock);
}

/* With a 64-bit window, the prefetchable BAR is placed there, the other in
 * the 32-bit window, and the window device decodes it. */
static void test_prefetchable_in_64bit_window(void **state)
{
	struct mem_layout layout = { .pci64_base = 64 * GiB, .pci64_size = 64 * GiB };
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	virtio_blk_cfg(cfg, sizes);
	memset(&c, 0, sizeof(c));
	assert_int_equal(pci_host_init(&c.host, &layout), 0);
	assert_int_equal(c.host.mmio64.mmio_base, 64 * GiB);
	assert_int_equal(vfio_cfg_build(&c.pci, cfg, sizes, &c.vc, c.err, sizeof(c.err)), 0);
	assert_true(c.pci.bars[4].prefetch && !c.pci.bars[1].prefetch);
	assert_int_equal(pci_host_add(&c.host, &c.pci), 0);
	assert_int_equal(c.pci.bars[4].assigned, 64 * GiB);
	assert_true(c.pci.bars[1].assigned >= LAYOUT_PCI_MMIO32_BASE &&
		    c.pci.bars[1].assigned < LAYOUT_PCI_MMIO32_BASE + LAYOUT_PCI_MMIO32_SIZE);
	assert_int_equal(ecam_rd(&c, PCI_BASE_ADDRESS_5, 4), 0x10);
	ecam_wr(&c, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(pci_bar_addr(&c.pci, 4), 64 * GiB);
	/* A 32-bit BAR cannot be made prefetchable here. */
	assert_int_equal(pci_device_set_prefetchable(&c.pci, 1), -EINVAL);
	pthread_mutex_destroy(&c.host.lock);
}

static void test_refusals(void **state)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	virtio_blk_cfg(cfg, sizes);
	cfg[0x40 + PCI_CAP_LIST_NEXT] = 0x98;	/* a loop */
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);
	assert_non_null(strstr(c.err, "loop"));

	virtio_blk_cfg(cfg, sizes);
	put(cfg, 0x98 + PCI_MSIX_PBA, 0x1000 | 1, 4);	/* PBA past BAR 1 */
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);
	assert_non_null(strstr(c.err, "past the end of BAR 1"));

	virtio_blk_cfg(cfg, sizes);
	sizes[4] = 0x3000;
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);
	assert_non_null(strstr(c.err, "power of two"));

	virtio_blk_cfg(cfg, sizes);
	cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_BRIDGE;
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);
	assert_non_null(strstr(c.err, "type 0"));

	virtio_blk_cfg(cfg, sizes);
	cfg[PCI_CAPABILITY_LIST] = 0x10;	/* into the header */
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);

	/* An MSI-X capability in the last dword: refused before its table
	 * and PBA words (past config space) are read (found by fuzz_vfio_cfg). */
	virtio_blk_cfg(cfg, sizes);
	cfg[PCI_CAPABILITY_LIST] = 0xfc;
	cap(cfg, 0xfc, PCI_CAP_ID_MSIX, 0x00, 4);
	assert_int_equal(build(&c, cfg, sizes), -EINVAL);
	assert_non_null(strstr(c.err, "runs past config space"));
	pthread_mutex_destroy(&c.host.lock);
}

static void test_small_and_io_bars(void **state)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	virtio_blk_cfg(cfg, sizes);
	put(cfg, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_IO, 4);
	sizes[0] = 0x20;
	put(cfg, PCI_BASE_ADDRESS_2, 0, 4);
	sizes[2] = 0x100;			/* below a page: offered as 4 KiB */
	assert_int_equal(build(&c, cfg, sizes), 0);
	assert_true(c.vc.bars[0].io);
	assert_int_equal(c.pci.bars[0].size, 0);
	assert_int_equal(c.vc.bars[2].size, 0x100);
	assert_int_equal(c.pci.bars[2].size, 0x1000);
	pthread_mutex_destroy(&c.host.lock);
}

static void test_pieces(void **state)
{
	const struct vfio_span whole = { 0, 0x4000 };
	const struct vfio_span msix[2] = { { 0x0, 0x30 }, { 0x800, 8 } };
	const struct vfio_span mid[1] = { { 0x1800, 0x10 } };
	const struct vfio_span sparse[2] = { { 0x0, 0x2000 }, { 0x3000, 0x1000 } };
	struct vfio_span out[VFIO_MAX_PIECES];

	assert_int_equal(vfio_bar_pieces(&whole, 1, NULL, 0, 0x1000, out, 4), 1);
	assert_true(out[0].off == 0 && out[0].size == 0x4000);
	/* Table and PBA in page 0: the rest maps. */
	assert_int_equal(vfio_bar_pieces(&whole, 1, msix, 2, 0x1000, out, 4), 1);
	assert_true(out[0].off == 0x1000 && out[0].size == 0x3000);
	/* A hole in the middle, widened to its page. */
	assert_int_equal(vfio_bar_pieces(&whole, 1, mid, 1, 0x1000, out, 4), 2);
	assert_true(out[0].off == 0 && out[0].size == 0x1000);
	assert_true(out[1].off == 0x2000 && out[1].size == 0x2000);
	/* Sparse areas, each cut by the holes it holds. */
	assert_int_equal(vfio_bar_pieces(sparse, 2, mid, 1, 0x1000, out, 4), 2);
	assert_true(out[0].off == 0 && out[0].size == 0x1000);
	assert_true(out[1].off == 0x3000 && out[1].size == 0x1000);
	/* 64 KiB pages swallow the whole BAR. */
	assert_int_equal(vfio_bar_pieces(&whole, 1, msix, 2, 0x10000, out, 4), 0);
	assert_int_equal(vfio_bar_pieces(&whole, 1, mid, 1, 0x1000, out, 1), -ENOSPC);
	assert_int_equal(vfio_bar_pieces(&whole, 1, NULL, 0, 0x1800, out, 4), -EINVAL);
}

/* ---- MSI-X liveness, as devices/vfio.c's sink hears it ---------------------- */

static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct ctx *c = opaque;

	c->routes++;
	c->routed_addr[vec] = addr;
	return 0;
}

static void sink_fire(void *opaque, unsigned int vec)
{
	fail_msg("a passed-through device's vector %u was fired by msix.c", vec);
}

static void sink_set_live(void *opaque, unsigned int vec, bool live)
{
	struct ctx *c = opaque;

	assert_true(vec < NR_VECTORS);
	assert_true(c->live[vec] != live);	/* only changes are reported */
	c->live[vec] = live;
	if (live)
		c->lives++;
	else
		c->deaths++;
}

static const struct msi_sink_ops sink = {
	.route = sink_route, .fire = sink_fire, .set_live = sink_set_live,
};

static void table_wr(struct ctx *c, unsigned int vec, unsigned int field, uint32_t v)
{
	uint8_t b[4];
	uint64_t bar = pci_bar_addr(&c->pci, 1);

	put(b, 0, v, 4);
	assert_true(bar != 0);
	/* What devices/vfio.c does with a trapped table access. */
	msix_table_write(&c->m, vec * MSIX_ENTRY_SIZE + field, b, 4);
}

static void test_msix_liveness(void **state)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	virtio_blk_cfg(cfg, sizes);
	assert_int_equal(build(&c, cfg, sizes), 0);
	assert_int_equal(msix_init_at(&c.m, &c.pci, c.vc.msix.cap, c.vc.msix.nr_vectors, 1,
				      c.vc.msix.table_off, c.vc.msix.pba_off, &sink, &c), 0);
	/* The device's capability stays as it was, Enable/Mask now writable. */
	assert_int_equal(c.pci.cfg[0x98 + PCI_MSIX_TABLE], 1);
	assert_int_equal(c.pci.wmask[0x98 + PCI_MSIX_FLAGS + 1], 0xc0);
	assert_int_equal(pci_host_add(&c.host, &c.pci), 0);
	ecam_wr(&c, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);

	table_wr(&c, 0, PCI_MSIX_ENTRY_LOWER_ADDR, 0x08090040);
	table_wr(&c, 0, PCI_MSIX_ENTRY_VECTOR_CTRL, 0);		/* unmasked, MSI-X off */
	assert_int_equal(c.lives, 0);
	ecam_wr(&c, 0x98 + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	msix_config_written(&c.m);
	assert_true(c.live[0] && !c.live[1] && c.lives == 1);
	assert_int_equal(c.routed_addr[0], 0x08090040);
	/* A live vector's new message is routed at once. */
	table_wr(&c, 0, PCI_MSIX_ENTRY_LOWER_ADDR, 0x08090044);
	assert_int_equal(c.routed_addr[0], 0x08090044);
	/* Mask, unmask, function mask, disable. */
	table_wr(&c, 0, PCI_MSIX_ENTRY_VECTOR_CTRL, 1);
	assert_false(c.live[0]);
	table_wr(&c, 0, PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	assert_true(c.live[0]);
	ecam_wr(&c, 0x98 + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
	msix_config_written(&c.m);
	assert_false(c.live[0]);
	ecam_wr(&c, 0x98 + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	msix_config_written(&c.m);
	assert_true(c.live[0]);
	msix_reset(&c.m);
	assert_false(c.live[0]);
	assert_int_equal(c.lives, 3);
	assert_int_equal(c.deaths, 3);
	msix_destroy(&c.m);
	pthread_mutex_destroy(&c.host.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_prefetchable_in_64bit_window),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_small_and_io_bars),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_msix_liveness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
