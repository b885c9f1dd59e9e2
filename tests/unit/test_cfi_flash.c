// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CFI flash command state machine driven through its MMIO handlers with
 * the command sequences EDK2's VirtNorFlashDxe sends (two x16 chips: every
 * command written to both halves of a 32-bit word), and with the ones a
 * hostile guest could send instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/cfi_flash.h"

#define BANK_SIZE	(4 * CFI_BLOCK_SIZE)
#define GUARD		4096
#define DUAL(c)		((uint32_t)(c) << 16 | (c))
#define SR_READY	DUAL(0x80)

struct ctx {
	uint8_t *mem;		/* GUARD | bank | GUARD */
	uint8_t *array;
	struct device *dev;
	bool mapped;		/* as the map callback last said */
	unsigned int map_calls;
};

static void on_map(void *opaque, bool mapped)
{
	struct ctx *c = opaque;

	assert_true(mapped != c->mapped);	/* told only of changes */
	c->mapped = mapped;
	c->map_calls++;
}

static struct ctx *setup(bool readonly)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->mem = malloc(BANK_SIZE + 2 * GUARD);
	assert_non_null(c->mem);
	memset(c->mem, 0x5a, BANK_SIZE + 2 * GUARD);
	c->array = c->mem + GUARD;
	memset(c->array, 0xff, BANK_SIZE);
	c->mapped = true;
	c->dev = cfi_flash_create(0x04000000, c->array, BANK_SIZE, readonly, on_map, c);
	assert_non_null(c->dev);
	return c;
}

static void teardown(struct ctx *c)
{
	for (size_t i = 0; i < GUARD; i++) {
		assert_int_equal(c->mem[i], 0x5a);
		assert_int_equal(c->mem[GUARD + BANK_SIZE + i], 0x5a);
	}
	c->dev->ops->destroy(c->dev);
	free(c->mem);
	free(c);
}

static void wr(struct ctx *c, uint64_t off, uint32_t v)
{
	c->dev->ops->mmio_write(c->dev, off, (uint8_t *)&v, 4);
}

static uint32_t rd(struct ctx *c, uint64_t off)
{
	uint32_t v;

	c->dev->ops->mmio_read(c->dev, off, (uint8_t *)&v, 4);
	return v;
}

static uint32_t word(struct ctx *c, uint64_t off)
{
	uint32_t v;

	memcpy(&v, c->array + off, 4);
	return v;
}

static uint32_t status(struct ctx *c)
{
	wr(c, 0, DUAL(0x70));
	return rd(c, 0);
}

static void test_read_array_and_status(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	memcpy(c->array + 8, "\x11\x22\x33\x44", 4);
	assert_int_equal(rd(c, 8), 0x44332211);
	assert_true(cfi_flash_array_mode(c->dev));
	assert_int_equal(status(c), SR_READY);
	/* Leaving read-array mode unmaps the array so that reads trap. */
	assert_false(c->mapped);
	assert_false(cfi_flash_array_mode(c->dev));
	wr(c, 0, DUAL(0xff));
	assert_true(c->mapped);
	assert_int_equal(rd(c, 8), 0x44332211);
	teardown(c);
}

/* NorFlashWriteSingleWord: 0x40, the data, status, 0x50, 0xFF. */
static void test_word_program_clears_bits_only(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	wr(c, 0x100, DUAL(0x40));
	wr(c, 0x100, 0x12345678);
	assert_int_equal(status(c), SR_READY);
	wr(c, 0, DUAL(0x50));
	wr(c, 0, DUAL(0xff));
	assert_int_equal(word(c, 0x100), 0x12345678);
	/* Programming again only clears more bits. */
	wr(c, 0x100, DUAL(0x10));
	wr(c, 0x100, 0xffff0000);
	assert_int_equal(word(c, 0x100), 0x12340000);
	assert_int_equal(word(c, 0x104), 0xffffffff);
	teardown(c);
}

/* NorFlashEraseSingleBlock: 0x20, 0xD0 at the block. */
static void test_block_erase(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	memset(c->array, 0, BANK_SIZE);
	wr(c, CFI_BLOCK_SIZE + 0x40, DUAL(0x20));
	wr(c, CFI_BLOCK_SIZE + 0x40, DUAL(0xd0));
	assert_int_equal(status(c), SR_READY);
	for (size_t i = 0; i < BANK_SIZE; i++)
		assert_int_equal(c->array[i], i / CFI_BLOCK_SIZE == 1 ? 0xff : 0);
	teardown(c);
}

static void test_erase_bad_confirm_is_sequence_error(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	memset(c->array, 0, BANK_SIZE);
	wr(c, 0, DUAL(0x20));
	wr(c, 0, DUAL(0x40));		/* not 0xD0 */
	assert_int_equal(status(c), SR_READY | DUAL(0x30));
	assert_int_equal(word(c, 0), 0);
	wr(c, 0, DUAL(0x50));
	assert_int_equal(status(c), SR_READY);
	teardown(c);
}

/* NorFlashWriteBuffer: 0xE8 and read SR.7 at the target, count - 1, the
 * words, 0xD0, status. */
static void test_buffered_program(void **state)
{
	struct ctx *c = setup(false);
	const uint64_t base = 2 * CFI_BLOCK_SIZE + 0x80;

	(void)state;
	wr(c, base, DUAL(0xe8));
	assert_int_equal(rd(c, base) & SR_READY, SR_READY);
	wr(c, base, DUAL(3));
	for (uint32_t i = 0; i < 4; i++)
		wr(c, base + 4 * i, 0xa0a0a0a0 + i);
	assert_int_equal(word(c, base), 0xffffffff);	/* not before the confirm */
	wr(c, 0, DUAL(0xd0));
	assert_int_equal(status(c), SR_READY);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(word(c, base + 4 * i), 0xa0a0a0a0 + i);
	assert_int_equal(word(c, base + 16), 0xffffffff);
	teardown(c);
}

static void expect_buffer_refused(struct ctx *c, uint64_t base, uint32_t count)
{
	wr(c, base, DUAL(0xe8));
	wr(c, base, count);
	for (uint32_t i = 0; i < 40; i++)
		wr(c, (base + 4 * i) % BANK_SIZE, 0);
	wr(c, 0, DUAL(0xd0));
	assert_int_not_equal(status(c) & DUAL(0x30), 0);
	for (size_t i = 0; i < BANK_SIZE; i++)
		assert_int_equal(c->array[i], 0xff);
	wr(c, 0, DUAL(0x50));
}

static void test_buffered_program_hostile(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	expect_buffer_refused(c, 0, DUAL(32));			/* 33 words */
	expect_buffer_refused(c, 0, 0xffff);			/* 65536 words */
	expect_buffer_refused(c, CFI_BLOCK_SIZE - 8, DUAL(3));	/* crosses its block */
	expect_buffer_refused(c, BANK_SIZE - 8, DUAL(3));	/* past the bank */
	teardown(c);
}

static void test_buffer_data_outside_window(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	wr(c, 0x100, DUAL(0xe8));
	wr(c, 0x100, DUAL(1));
	wr(c, 0x200, 0);		/* not at 0x100 or 0x104 */
	assert_int_equal(status(c), SR_READY | DUAL(0x30));
	assert_int_equal(word(c, 0x200), 0xffffffff);
	/* The same word twice is refused too. */
	wr(c, 0, DUAL(0x50));
	wr(c, 0x100, DUAL(0xe8));
	wr(c, 0x100, DUAL(1));
	wr(c, 0x100, 0);
	wr(c, 0x100, 0);
	wr(c, 0, DUAL(0xd0));
	assert_int_not_equal(status(c) & DUAL(0x30), 0);
	assert_int_equal(word(c, 0x100), 0xffffffff);
	teardown(c);
}

/* The firmware's code bank is a ROM: no write changes it or unmaps it,
 * whatever the value (EDK2 stores to globals of its image in place). */
static void test_readonly_bank_ignores_writes(void **state)
{
	struct ctx *c = setup(true);
	uint64_t q = 0x17384;

	(void)state;
	c->dev->ops->mmio_write(c->dev, 0x1cb20, (uint8_t *)&q, 8);
	wr(c, 0, DUAL(0x70));
	assert_int_equal(rd(c, 0), 0xffffffff);		/* still array, not status */
	assert_true(c->mapped);
	assert_int_equal(c->map_calls, 0);
	wr(c, 0, DUAL(0x40));
	wr(c, 0, 0);
	wr(c, 0, DUAL(0x20));
	wr(c, 0, DUAL(0xd0));
	wr(c, 0x80, DUAL(0xe8));
	wr(c, 0x80, DUAL(0));
	wr(c, 0x80, 0);
	wr(c, 0x80, DUAL(0xd0));
	for (size_t i = 0; i < BANK_SIZE; i++)
		assert_int_equal(c->array[i], 0xff);
	assert_true(c->mapped && cfi_flash_array_mode(c->dev));
	teardown(c);
}

static void test_odd_writes_do_nothing(void **state)
{
	struct ctx *c = setup(false);
	uint8_t b = 0x40;
	uint64_t q = 0;

	(void)state;
	c->dev->ops->mmio_write(c->dev, 0x10, &b, 1);
	c->dev->ops->mmio_write(c->dev, 0x10, (uint8_t *)&q, 8);
	c->dev->ops->mmio_write(c->dev, 0x12, (uint8_t *)&q, 4);
	/* Nothing left read-array mode: the array stays mapped. */
	assert_true(c->mapped);
	assert_int_equal(c->map_calls, 0);
	assert_int_equal(status(c), SR_READY | DUAL(0x30));
	for (size_t i = 0; i < BANK_SIZE; i++)
		assert_int_equal(c->array[i], 0xff);
	teardown(c);
}

/* NorFlashBlockIsLocked reads word 2 of the block in identifier mode. */
static void test_identifier_and_query(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	wr(c, CFI_BLOCK_SIZE + 8, DUAL(0x90));
	assert_int_equal(rd(c, CFI_BLOCK_SIZE), DUAL(0x89));
	assert_int_equal(rd(c, CFI_BLOCK_SIZE + 4), DUAL(0x18));
	assert_int_equal(rd(c, CFI_BLOCK_SIZE + 8), 0);	/* unlocked */
	wr(c, 0, DUAL(0x98));
	assert_int_equal(rd(c, 0x10 * 4), DUAL('Q'));
	assert_int_equal(rd(c, 0x11 * 4), DUAL('R'));
	assert_int_equal(rd(c, 0x12 * 4), DUAL('Y'));
	assert_int_equal(rd(c, 0x2c * 4), DUAL(1));
	assert_int_equal(rd(c, 0x2d * 4), DUAL(3));	/* 4 blocks */
	teardown(c);
}

static void test_reset_back_to_array(void **state)
{
	struct ctx *c = setup(false);

	(void)state;
	wr(c, 0, DUAL(0xe8));
	assert_false(c->mapped);
	c->dev->ops->reset(c->dev);
	assert_true(c->mapped);
	assert_int_equal(rd(c, 0), 0xffffffff);
	/* The half-done buffered program is gone: this is a command again. */
	wr(c, 0, DUAL(0x70));
	assert_int_equal(rd(c, 0), SR_READY);
	teardown(c);
}

static void test_create_refuses_bad_sizes(void **state)
{
	uint8_t buf[16];

	(void)state;
	assert_null(cfi_flash_create(0, buf, 0, false, NULL, NULL));
	assert_null(cfi_flash_create(0, buf, CFI_BLOCK_SIZE + 4, false, NULL, NULL));
	assert_null(cfi_flash_create(0, NULL, CFI_BLOCK_SIZE, false, NULL, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_array_and_status),
		cmocka_unit_test(test_word_program_clears_bits_only),
		cmocka_unit_test(test_block_erase),
		cmocka_unit_test(test_erase_bad_confirm_is_sequence_error),
		cmocka_unit_test(test_buffered_program),
		cmocka_unit_test(test_buffered_program_hostile),
		cmocka_unit_test(test_buffer_data_outside_window),
		cmocka_unit_test(test_readonly_bank_ignores_writes),
		cmocka_unit_test(test_odd_writes_do_nothing),
		cmocka_unit_test(test_identifier_and_query),
		cmocka_unit_test(test_reset_back_to_array),
		cmocka_unit_test(test_create_refuses_bad_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
