// SPDX-License-Identifier: GPL-2.0-only
/*
 * Zero pages of guest RAM (migration/ram_pages.c): the zero test sees a
 * single byte anywhere in a page; a reader's RAM_ZERO run clears every page
 * it names, and on fresh RAM reads only the pages a RAM section wrote: the
 * others sit behind PROT_NONE here, so reading one would kill the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "migration/ram_pages.h"

#define NPAGES	8

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static uint8_t *map_pages(void)
{
	uint8_t *ram = mmap(NULL, NPAGES * page_size(), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(ram != MAP_FAILED);
	return ram;
}

static void test_is_zero(void **state)
{
	const size_t page = page_size();
	const size_t at[] = { 0, 7, 8, 63, 64, 65, 2048, page - 64, page - 1 };
	uint8_t *ram = map_pages();

	(void)state;
	assert_true(ram_page_is_zero(ram, page));
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ram[at[i]] = 0x80;
		assert_false(ram_page_is_zero(ram, page));
		ram[at[i]] = 0;
		assert_true(ram_page_is_zero(ram, page));
	}
	/* Only its own page: data in the next one is not seen. */
	ram[page] = 1;
	assert_true(ram_page_is_zero(ram, page));
	munmap(ram, NPAGES * page);
}

static void test_clear_every_page(void **state)
{
	const size_t page = page_size();
	uint8_t *ram = map_pages();

	(void)state;
	for (unsigned int p = 0; p < NPAGES; p += 2)
		memset(ram + p * page + 100, 0xa5, 10);
	ram_pages_clear(ram, page, NULL, 1, NPAGES - 2);
	for (unsigned int p = 1; p < NPAGES - 1; p++)
		assert_true(ram_page_is_zero(ram + p * page, page));
	/* Outside the run: untouched. */
	assert_false(ram_page_is_zero(ram, page));
	assert_true(ram_page_is_zero(ram + (NPAGES - 1) * page, page));
	munmap(ram, NPAGES * page);
}

static void test_clear_loaded_only(void **state)
{
	const size_t page = page_size();
	uint8_t *ram = map_pages();
	struct dirty_bitmap loaded;

	(void)state;
	assert_int_equal(dirty_bitmap_init(&loaded, NPAGES), 0);
	/* A RAM section wrote pages 2-4, page 3 with zeroes. */
	ram_pages_mark(&loaded, 2, 3);
	memset(ram + 2 * page, 0x11, page);
	memset(ram + 4 * page, 0x44, 1);
	assert_int_equal(mprotect(ram, 2 * page, PROT_NONE), 0);
	assert_int_equal(mprotect(ram + 5 * page, 3 * page, PROT_NONE), 0);

	ram_pages_clear(ram, page, &loaded, 0, NPAGES);
	for (unsigned int p = 2; p <= 4; p++)
		assert_true(ram_page_is_zero(ram + p * page, page));
	assert_int_equal(dirty_bitmap_count(&loaded), 0);
	/* Zero now, and known to be: the pages are not read again. */
	assert_int_equal(mprotect(ram + 2 * page, 3 * page, PROT_NONE), 0);
	ram_pages_clear(ram, page, &loaded, 0, NPAGES);
	dirty_bitmap_free(&loaded);
	munmap(ram, NPAGES * page);
}

static void test_clear_part_of_loaded(void **state)
{
	const size_t page = page_size();
	uint8_t *ram = map_pages();
	struct dirty_bitmap loaded;

	(void)state;
	assert_int_equal(dirty_bitmap_init(&loaded, NPAGES), 0);
	ram_pages_mark(&loaded, 0, NPAGES);
	memset(ram, 0x5a, NPAGES * page);
	ram_pages_clear(ram, page, &loaded, 3, 2);
	for (unsigned int p = 0; p < NPAGES; p++) {
		assert_int_equal(ram_page_is_zero(ram + p * page, page), p == 3 || p == 4);
		assert_int_equal(dirty_bitmap_test(&loaded, p), p != 3 && p != 4);
	}
	dirty_bitmap_free(&loaded);
	munmap(ram, NPAGES * page);
}

static void test_mark_bounds(void **state)
{
	struct dirty_bitmap loaded;

	(void)state;
	assert_int_equal(dirty_bitmap_init(&loaded, 130), 0);
	/* Across a word's end, and past the bitmap's: the rest is ignored. */
	ram_pages_mark(&loaded, 60, 10);
	assert_int_equal(dirty_bitmap_count(&loaded), 10);
	assert_int_equal(dirty_bitmap_next(&loaded, 0), 60);
	assert_int_equal(dirty_bitmap_next_clean(&loaded, 60), 70);
	ram_pages_mark(&loaded, 125, 100);
	assert_int_equal(dirty_bitmap_count(&loaded), 15);
	ram_pages_mark(&loaded, UINT64_MAX - 1, 1);
	assert_int_equal(dirty_bitmap_count(&loaded), 15);
	dirty_bitmap_free(&loaded);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_zero),
		cmocka_unit_test(test_clear_every_page),
		cmocka_unit_test(test_clear_loaded_only),
		cmocka_unit_test(test_clear_part_of_loaded),
		cmocka_unit_test(test_mark_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
