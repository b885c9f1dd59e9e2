// SPDX-License-Identifier: GPL-2.0-only
/*
 * The emulated MSI capability of a passed-through function
 * (devices/msi_cap.c), built by devices/vfio_cfg.c from a device's config
 * space, put on a real host bridge and driven through ECAM as a guest
 * would: Linux's enable sequence, and the nonsense a hostile guest writes
 * (more vectors than offered, reserved encodings, masks of vectors that do
 * not exist, read-only fields).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include "devices/msi_cap.h"
#include "devices/pci.h"
#include "devices/vfio_cfg.h"

#define MSI	0x80	/* where QEMU's ich9-ahci has it */

struct ctx {
	struct pci_host host;
	struct pci_device pci;
	struct vfio_cfg vc;
	char err[160];
};

static void put(uint8_t *cfg, unsigned int off, uint32_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++, v >>= 8)
		cfg[off + i] = v & 0xff;
}

/* An AHCI-like function: one 4 KiB BAR 5, the MSI capability at 0x80 with
 * Message Control @flags (the device's, enable bits and all), then a SATA
 * capability (hidden). */
static void device_cfg(uint8_t cfg[PCI_CFG_SPACE_SIZE], uint64_t sizes[PCI_NUM_BARS],
		       uint16_t flags)
{
	memset(cfg, 0, PCI_CFG_SPACE_SIZE);
	memset(sizes, 0, PCI_NUM_BARS * sizeof(sizes[0]));
	put(cfg, PCI_VENDOR_ID, 0x8086, 2);
	put(cfg, PCI_DEVICE_ID, 0x2922, 2);
	put(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST, 2);
	put(cfg, PCI_CLASS_PROG, 0x010601, 3);
	cfg[PCI_CAPABILITY_LIST] = MSI;
	cfg[MSI] = PCI_CAP_ID_MSI;
	cfg[MSI + 1] = 0xa8;
	put(cfg, MSI + PCI_MSI_FLAGS, flags, 2);
	/* Stale values of a previous user: not what the guest must see. */
	put(cfg, MSI + PCI_MSI_ADDRESS_LO, 0x08090040, 4);
	cfg[0xa8] = PCI_CAP_ID_SATA;
	sizes[5] = 0x1000;
}

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

static void setup(struct ctx *c, uint16_t flags)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];

	device_cfg(cfg, sizes, flags);
	memset(c, 0, sizeof(*c));
	assert_int_equal(pci_host_init(&c->host, NULL), 0);
	assert_int_equal(vfio_cfg_build(&c->pci, cfg, sizes, &c->vc, c->err, sizeof(c->err)), 0);
	assert_int_equal(pci_host_add(&c->host, &c->pci), 0);
}

static void state(struct ctx *c, struct msi_cap_state *s)
{
	msi_cap_state(&c->vc.msi, &c->pci, s);
}

/* QEMU's ich9-ahci: 64-bit, one vector, no masking. Linux's enable
 * sequence (drivers/pci/msi/msi.c): address, data, vector count, enable. */
static void test_one_vector_64bit(void **st)
{
	struct msi_cap_state s;
	struct ctx c;

	setup(&c, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
	assert_int_equal(c.vc.msi.cap, MSI);
	assert_true(c.vc.msi.is64 && !c.vc.msi.pvm);
	assert_int_equal(c.vc.msi.max_vectors, 1);
	assert_int_equal(c.vc.msi.data, MSI + PCI_MSI_DATA_64);
	assert_int_equal(c.vc.msi.size, 14);
	/* The list: MSI only, SATA unlinked. */
	assert_int_equal(ecam_rd(&c, PCI_CAPABILITY_LIST, 1), MSI);
	assert_int_equal(ecam_rd(&c, MSI, 2), PCI_CAP_ID_MSI);
	assert_int_equal(c.vc.nr_hidden, 1);
	/* Disabled, the device's stale address gone. */
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_FLAGS, 2), PCI_MSI_FLAGS_64BIT);
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_ADDRESS_LO, 4), 0);
	state(&c, &s);
	assert_false(s.enabled);
	assert_false(msi_cap_vector_live(&s, 0));

	ecam_wr(&c, MSI + PCI_MSI_ADDRESS_LO, 0x08090040, 4);
	ecam_wr(&c, MSI + PCI_MSI_ADDRESS_HI, 0x1, 4);
	ecam_wr(&c, MSI + PCI_MSI_DATA_64, 0x0003, 2);
	ecam_wr(&c, MSI + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT, 2);
	state(&c, &s);
	assert_false(s.enabled);
	ecam_wr(&c, MSI + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE, 2);
	state(&c, &s);
	assert_true(s.enabled);
	assert_int_equal(s.nr_vectors, 1);
	assert_int_equal(s.addr, 0x108090040ULL);
	assert_int_equal(s.data, 3);
	assert_int_equal(msi_cap_vector_data(&s, 0), 3);
	assert_true(msi_cap_vector_live(&s, 0));
	assert_false(msi_cap_vector_live(&s, 1));
	/* A one-vector function has no mask: writes past the data do nothing. */
	ecam_wr(&c, MSI + PCI_MSI_MASK_64, 0xffffffff, 4);
	state(&c, &s);
	assert_int_equal(s.mask, 0);
	assert_true(msi_cap_vector_live(&s, 0));
	/* Guest reset: disabled, nothing left. */
	pci_host_reset(&c.host);
	state(&c, &s);
	assert_false(s.enabled);
	assert_int_equal(s.addr, 0);
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_FLAGS, 2), PCI_MSI_FLAGS_64BIT);
	pthread_mutex_destroy(&c.host.lock);
}

/* Nonsense from the guest: every bit of the capability written; reserved
 * and too-large vector counts; address bits that must read 0. */
static void test_guest_nonsense(void **st)
{
	struct msi_cap_state s;
	struct ctx c;

	setup(&c, 1 << 1);	/* 32-bit, 2 vectors, no masking */
	assert_false(c.vc.msi.is64);
	assert_int_equal(c.vc.msi.max_vectors, 2);
	assert_int_equal(c.vc.msi.data, MSI + PCI_MSI_DATA_32);
	for (unsigned int off = MSI; off < MSI + 0x18; off += 4)
		ecam_wr(&c, off, 0xffffffff, 4);
	/* Read-only: ID, next, the capability bits; address bits 1:0. */
	/* Enable, the reserved count 7 asked, 2 offered; SATA unlinked. */
	assert_int_equal(ecam_rd(&c, MSI, 4), (uint32_t)(PCI_MSI_FLAGS_ENABLE | 7 << 4 | 1 << 1) << 16 | PCI_CAP_ID_MSI);
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_ADDRESS_LO, 4), 0xfffffffc);
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_DATA_32, 4), 0xffff);
	state(&c, &s);
	assert_true(s.enabled);
	assert_int_equal(s.nr_vectors, 2);	/* clamped to what is offered */
	assert_int_equal(s.addr, 0xfffffffc);
	assert_int_equal(msi_cap_vector_data(&s, 0), 0xfffe);
	assert_int_equal(msi_cap_vector_data(&s, 1), 0xffff);
	/* Enabled with address 0 and data 0: a state like any other. */
	ecam_wr(&c, MSI + PCI_MSI_ADDRESS_LO, 0, 4);
	ecam_wr(&c, MSI + PCI_MSI_DATA_32, 0, 2);
	ecam_wr(&c, MSI + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 7 << 4, 2);	/* reserved */
	state(&c, &s);
	assert_true(s.enabled);
	assert_int_equal(s.nr_vectors, 2);
	assert_int_equal(s.addr, 0);
	assert_true(msi_cap_vector_live(&s, 1) && !msi_cap_vector_live(&s, 2));
	pthread_mutex_destroy(&c.host.lock);
}

/* 32 vectors with per-vector masking (64-bit): mask bits, vector data in
 * the low bits, the pending register patched in. */
static void test_masking(void **st)
{
	struct msi_cap_state s;
	uint8_t buf[4];
	struct ctx c;

	setup(&c, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | 5 << 1);
	assert_true(c.vc.msi.pvm);
	assert_int_equal(c.vc.msi.max_vectors, 32);
	assert_int_equal(c.vc.msi.mask, MSI + PCI_MSI_MASK_64);
	assert_int_equal(c.vc.msi.pending, MSI + PCI_MSI_PENDING_64);
	assert_int_equal(c.vc.msi.size, 24);
	ecam_wr(&c, MSI + PCI_MSI_DATA_64, 0x1234, 2);
	ecam_wr(&c, MSI + PCI_MSI_MASK_64, 0x80000005, 4);
	ecam_wr(&c, MSI + PCI_MSI_PENDING_64, 0xffffffff, 4);	/* read-only */
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_PENDING_64, 4), 0);
	ecam_wr(&c, MSI + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 3 << 4, 2);	/* 8 vectors */
	state(&c, &s);
	assert_int_equal(s.nr_vectors, 8);
	assert_int_equal(s.mask, 0x80000005);
	assert_false(msi_cap_vector_live(&s, 0));
	assert_true(msi_cap_vector_live(&s, 1));
	assert_false(msi_cap_vector_live(&s, 2));
	assert_true(msi_cap_vector_live(&s, 7));
	assert_false(msi_cap_vector_live(&s, 31));	/* not enabled (and masked) */
	assert_int_equal(msi_cap_vector_data(&s, 0), 0x1230);
	assert_int_equal(msi_cap_vector_data(&s, 5), 0x1235);
	assert_int_equal(msi_cap_vector_data(&s, 9), 0x1231);	/* wraps in the block */
	/* Pending: only the bytes of the pending register change. */
	memset(buf, 0xaa, sizeof(buf));
	msi_cap_read_pending(&c.vc.msi, MSI + PCI_MSI_PENDING_64 - 2, buf, 4, 0x00000105);
	assert_int_equal(buf[0], 0xaa);
	assert_int_equal(buf[1], 0xaa);
	assert_int_equal(buf[2], 0x05);
	assert_int_equal(buf[3], 0x01);
	assert_true(msi_cap_touches(&c.vc.msi, MSI + 23, 1));
	assert_false(msi_cap_touches(&c.vc.msi, MSI + 24, 4));
	assert_false(msi_cap_touches(&c.vc.msi, MSI - 4, 4));
	pthread_mutex_destroy(&c.host.lock);
}

/* The masks of vectors the function does not offer are not writable. */
static void test_mask_width(void **st)
{
	struct ctx c;

	setup(&c, PCI_MSI_FLAGS_MASKBIT | 2 << 1);	/* 32-bit, 4 vectors */
	ecam_wr(&c, MSI + PCI_MSI_MASK_32, 0xffffffff, 4);
	assert_int_equal(ecam_rd(&c, MSI + PCI_MSI_MASK_32, 4), 0xf);
	pthread_mutex_destroy(&c.host.lock);
}

/* A capability that does not fit in config space is refused. */
static void test_past_the_end(void **st)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	struct ctx c;

	device_cfg(cfg, sizes, 0);
	cfg[PCI_CAPABILITY_LIST] = 0xfc;
	cfg[0xfc] = PCI_CAP_ID_MSI;
	cfg[0xfd] = 0;
	memset(&c, 0, sizeof(c));
	assert_int_equal(pci_host_init(&c.host, NULL), 0);
	assert_int_equal(vfio_cfg_build(&c.pci, cfg, sizes, &c.vc, c.err, sizeof(c.err)), -EINVAL);
	assert_non_null(strstr(c.err, "MSI capability at 0xfc"));
	/* 64-bit with masking is 24 bytes: at 0xec it ends past 0x100. */
	device_cfg(cfg, sizes, 0);
	cfg[PCI_CAPABILITY_LIST] = 0xec;
	cfg[0xec] = PCI_CAP_ID_MSI;
	cfg[0xed] = 0;
	put(cfg, 0xec + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT, 2);
	assert_int_equal(vfio_cfg_build(&c.pci, cfg, sizes, &c.vc, c.err, sizeof(c.err)), -EINVAL);
	assert_non_null(strstr(c.err, "runs past config space"));
	/* Two MSI capabilities. */
	device_cfg(cfg, sizes, 0);
	cfg[0xa8] = PCI_CAP_ID_MSI;
	assert_int_equal(vfio_cfg_build(&c.pci, cfg, sizes, &c.vc, c.err, sizeof(c.err)), -EINVAL);
	assert_non_null(strstr(c.err, "a second MSI capability"));
	pthread_mutex_destroy(&c.host.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_vector_64bit),
		cmocka_unit_test(test_guest_nonsense),
		cmocka_unit_test(test_masking),
		cmocka_unit_test(test_mask_width),
		cmocka_unit_test(test_past_the_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
