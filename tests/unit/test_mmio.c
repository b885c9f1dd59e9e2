// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmm/mmio.c: an MMIO exit reaches the device whose window holds it, at the
 * right offset, through the vCPU's hint or past a stale one; what no device
 * claims is told apart from the vGIC's frames and from a bad length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/device.h"
#include "vmm/exit_path.h"
#include "vmm/layout.h"
#include "vmm/mmio.h"
#include "vmm/vm.h"

struct fake {
	struct device dev;
	unsigned int reads, writes;
	uint64_t last_off;
	unsigned int last_len;
};

static void fake_read(struct device *dev, uint64_t off, uint8_t *data, unsigned int len)
{
	struct fake *f = (struct fake *)dev;

	f->reads++;
	f->last_off = off;
	f->last_len = len;
	memset(data, 0xab, len);
}

static void fake_write(struct device *dev, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct fake *f = (struct fake *)dev;

	f->writes++;
	f->last_off = off;
	f->last_len = len;
}

static const struct device_ops fake_ops = {
	.name = "fake",
	.mmio_read = fake_read,
	.mmio_write = fake_write,
};

struct ctx {
	struct vm vm;
	struct fake a, b;	/* a: 4 KiB at 0x09000000, b: 64 KiB right after it */
	struct device *hint;
};

static int setup(void **state)
{
	static struct ctx c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(layout_compute(&c.vm.layout, 256ULL << 20, 4), 0);
	c.a.dev = (struct device){ .ops = &fake_ops, .mmio_base = 0x09000000, .mmio_size = 0x1000 };
	c.b.dev = (struct device){ .ops = &fake_ops, .mmio_base = 0x09001000, .mmio_size = 0x10000 };
	c.vm.devices[c.vm.nr_devices++] = &c.a.dev;
	c.vm.devices[c.vm.nr_devices++] = &c.b.dev;
	*state = &c;
	return 0;
}

static enum mmio_result rd(struct ctx *c, uint64_t gpa, unsigned int len, uint64_t *v)
{
	*v = 0;
	return mmio_access(&c->vm, &c->hint, gpa, (uint8_t *)v, len, false);
}

static void test_served_at_offset(void **state)
{
	struct ctx *c = *state;
	uint64_t v, w = 7;

	assert_int_equal(rd(c, 0x09000010, 4, &v), MMIO_DONE);
	assert_int_equal(v, 0xabababab);
	assert_int_equal(c->a.last_off, 0x10);
	assert_int_equal(c->a.last_len, 4);
	assert_ptr_equal(c->hint, &c->a.dev);
	assert_int_equal(mmio_access(&c->vm, &c->hint, 0x09010ff8, (uint8_t *)&w, 8, true),
			 MMIO_DONE);
	assert_int_equal(c->b.writes, 1);
	assert_int_equal(c->b.last_off, 0xfff8);
	assert_int_equal(c->b.last_len, 8);
	assert_ptr_equal(c->hint, &c->b.dev);
}

/* A hint that does not hold the address is passed over, and replaced. */
static void test_stale_hint(void **state)
{
	struct ctx *c = *state;
	uint64_t v;

	c->hint = &c->b.dev;
	assert_int_equal(rd(c, 0x09000ffc, 4, &v), MMIO_DONE);
	assert_int_equal(c->a.reads, 1);
	assert_int_equal(c->b.reads, 0);
	assert_ptr_equal(c->hint, &c->a.dev);
	/* An access straddling a's end belongs to neither. */
	assert_int_equal(rd(c, 0x09000ffe, 4, &v), MMIO_UNCLAIMED);
	assert_int_equal(c->a.reads + c->b.reads, 1);
	assert_ptr_equal(c->hint, &c->a.dev);
}

static void test_unclaimed_and_gic(void **state)
{
	struct ctx *c = *state;
	uint64_t v;

	assert_int_equal(rd(c, 0x09011000, 1, &v), MMIO_UNCLAIMED);
	assert_int_equal(rd(c, LAYOUT_GICD_BASE + 4, 4, &v), MMIO_GIC_FRAME);
	assert_int_equal(rd(c, LAYOUT_GITS_BASE, 8, &v), MMIO_GIC_FRAME);
	/* Four vCPUs' redistributors, and not one more. */
	assert_int_equal(rd(c, LAYOUT_GICR_BASE + 4 * LAYOUT_GICR_STRIDE - 4, 4, &v),
			 MMIO_GIC_FRAME);
	assert_int_equal(rd(c, LAYOUT_GICR_BASE + 4 * LAYOUT_GICR_STRIDE, 4, &v), MMIO_UNCLAIMED);
	assert_ptr_equal(c->hint, NULL);
	assert_int_equal(c->a.reads + c->b.reads, 0);
}

static void test_bad_length(void **state)
{
	struct ctx *c = *state;
	uint64_t v[2];

	assert_int_equal(mmio_access(&c->vm, &c->hint, 0x09000000, (uint8_t *)v, 0, false),
			 MMIO_BAD_LENGTH);
	assert_int_equal(mmio_access(&c->vm, &c->hint, 0x09000000, (uint8_t *)v, 9, false),
			 MMIO_BAD_LENGTH);
	assert_int_equal(c->a.reads, 0);
}

/* Each length writes exactly its bytes: the fixed sizes inline, the others
 * through memcpy or memset. */
static void test_copy_and_fill_lengths(void **state)
{
	static const unsigned int lens[] = { 1, 2, 3, 4, 5, 7, 8, 12 };
	uint8_t src[16], dst[16];

	(void)state;
	for (unsigned int i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0xa0 + i);
	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned int len = lens[i];

		memset(dst, 0x5a, sizeof(dst));
		mmio_copy(dst, src, len);
		assert_memory_equal(dst, src, len);
		for (unsigned int j = len; j < sizeof(dst); j++)
			assert_int_equal(dst[j], 0x5a);

		memset(dst, 0x5a, sizeof(dst));
		mmio_fill(dst, 0xff, len);
		for (unsigned int j = 0; j < sizeof(dst); j++)
			assert_int_equal(dst[j], j < len ? 0xff : 0x5a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_served_at_offset, setup),
		cmocka_unit_test_setup(test_stale_hint, setup),
		cmocka_unit_test_setup(test_unclaimed_and_gic, setup),
		cmocka_unit_test_setup(test_bad_length, setup),
		cmocka_unit_test(test_copy_and_fill_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
