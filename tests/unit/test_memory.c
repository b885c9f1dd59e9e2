// SPDX-License-Identifier: GPL-2.0-only
/* Guest RAM backends and gpa <-> hva translation, on real host mappings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/memory.h"

#define RAM_GPA		0x40000000ULL
#define RAM_SIZE	(4ULL << 20)	/* two 2 MiB huge pages */

/* Translation both ways, at the edges and in the middle, and accesses
 * through the mapping land where the translation says. */
static void check_translation(struct guest_memory *m)
{
	const uint64_t offs[] = { 0, 1, 4095, 4096, RAM_SIZE / 2 + 17, RAM_SIZE - 1 };
	uint64_t gpa;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint8_t *hva = gpa_to_hva(m, RAM_GPA + offs[i], 1);

		assert_ptr_equal(hva, m->hva + offs[i]);
		*hva = (uint8_t)(0xa5 ^ i);
		assert_int_equal(hva_to_gpa(m, hva, &gpa), 0);
		assert_int_equal(gpa, RAM_GPA + offs[i]);
		assert_int_equal(*(uint8_t *)gpa_to_hva(m, gpa, 1), (uint8_t)(0xa5 ^ i));
	}
	assert_non_null(gpa_to_hva(m, RAM_GPA, RAM_SIZE));
	assert_null(gpa_to_hva(m, RAM_GPA - 1, 1));
	assert_null(gpa_to_hva(m, RAM_GPA + RAM_SIZE, 1));
	assert_null(gpa_to_hva(m, RAM_GPA + RAM_SIZE - 1, 2));
	assert_null(gpa_to_hva(m, RAM_GPA, RAM_SIZE + 1));
	assert_null(gpa_to_hva(m, UINT64_MAX, 2));
	assert_int_equal(hva_to_gpa(m, m->hva - 1, &gpa), -ERANGE);
	assert_int_equal(hva_to_gpa(m, m->hva + RAM_SIZE, &gpa), -ERANGE);
	assert_int_equal(hva_to_gpa(m, NULL, &gpa), -ERANGE);
}

/* A shared backend: what the VMM writes is in the file, which is what KVM
 * (through the same pages) and another mapping see. */
static void check_shared(struct guest_memory *m)
{
	uint8_t byte = 0;

	*(uint8_t *)gpa_to_hva(m, RAM_GPA + 8192, 1) = 0x5a;
	assert_int_equal(pread(m->fd, &byte, 1, (off_t)(m->fd_offset + 8192)), 1);
	assert_int_equal(byte, 0x5a);
}

/* Bytes of free huge pages of the default size (/proc/meminfo). */
static uint64_t free_huge_bytes(void)
{
	unsigned long long free_pages = 0, page_kib = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %llu", &free_pages);
		sscanf(line, "Hugepagesize: %llu kB", &page_kib);
	}
	fclose(f);
	return (uint64_t)free_pages * page_kib * 1024;
}

/*
 * Replacing a page (what tern does to a poisoned one): that page reads as
 * zeros and takes writes again, its neighbours keep their bytes, also
 * through the file for the shared backends; addresses outside RAM refused.
 */
static void check_replace(struct guest_memory *m)
{
	uint64_t pg = m->page_size, gpa = RAM_GPA + pg, start = 0, len = 0;
	uint8_t *before = gpa_to_hva(m, RAM_GPA, pg), *victim = gpa_to_hva(m, gpa, pg);
	/* No third page in RAM_SIZE for 2 MiB huge pages. */
	uint8_t *after = gpa_to_hva(m, gpa + pg, pg), byte = 0xff;

	assert_non_null(victim);
	memset(before, 0x11, pg);
	memset(victim, 0x22, pg);
	if (after)
		memset(after, 0x33, pg);
	assert_int_equal(guest_memory_replace(m, gpa + 100, &start, &len), 0);
	assert_int_equal(start, gpa);
	assert_int_equal(len, pg);
	for (uint64_t i = 0; i < pg; i += 511) {
		assert_int_equal(before[i], 0x11);
		assert_int_equal(victim[i], 0);
		if (after)
			assert_int_equal(after[i], 0x33);
	}
	if (m->fd >= 0) {
		assert_int_equal(pread(m->fd, &byte, 1, (off_t)(m->fd_offset + pg)), 1);
		assert_int_equal(byte, 0);
	}
	victim[7] = 0x44;
	assert_int_equal(victim[7], 0x44);
	guest_memory_touch(before, 2 * pg);
	assert_int_equal(guest_memory_replace(m, RAM_GPA - 1, &start, &len), -ERANGE);
	assert_int_equal(guest_memory_replace(m, RAM_GPA + RAM_SIZE, &start, &len), -ERANGE);
}

static void check_backend(enum mem_backend b, int fd)
{
	struct guest_memory m;
	int ret;

	/* Without free huge pages hugetlb cannot map: the test is skipped (and
	 * reported so), not passed. With them, the mapping must work. */
	if (b == MEM_BACKEND_HUGETLB && free_huge_bytes() < RAM_SIZE) {
		print_message("hugetlb: fewer than %llu MiB of free huge pages "
			      "(/proc/sys/vm/nr_hugepages): skipped\n", RAM_SIZE >> 20);
		skip();
	}
	ret = guest_memory_map(&m, b, fd, RAM_GPA, RAM_SIZE);
	assert_int_equal(ret, 0);
	assert_int_equal(m.backend, b);
	assert_int_equal(m.gpa, RAM_GPA);
	assert_int_equal(m.size, RAM_SIZE);
	assert_non_null(m.resolve);
	assert_true(b == MEM_BACKEND_ANON ? m.fd == -1 : m.fd >= 0);
	check_translation(&m);
	if (b != MEM_BACKEND_ANON)
		check_shared(&m);
	check_replace(&m);
	guest_memory_free(&m);
	assert_null(m.hva);
	assert_int_equal(m.fd, -1);
}

static void test_anon(void **state)
{
	check_backend(MEM_BACKEND_ANON, -1);
}

static void test_memfd(void **state)
{
	check_backend(MEM_BACKEND_MEMFD, -1);
}

static void test_hugetlb(void **state)
{
	check_backend(MEM_BACKEND_HUGETLB, -1);
}

/* guest_memfd's fd comes from KVM; a memfd of the same size stands in for
 * it: the mapping and translation are the same code. */
static void test_guest_memfd_mapping(void **state)
{
	int fd = memfd_create("gmem-stand-in", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, RAM_SIZE), 0);
	check_backend(MEM_BACKEND_GUEST_MEMFD, fd);	/* takes the fd */
}

static void test_guest_memfd_bad_fd(void **state)
{
	struct guest_memory m;

	assert_true(guest_memory_map(&m, MEM_BACKEND_GUEST_MEMFD, -1, RAM_GPA, RAM_SIZE) < 0);
	assert_null(m.hva);
	assert_int_equal(m.fd, -1);
}

static void test_backend_names(void **state)
{
	for (int b = 0; b < MEM_BACKEND_NR; b++) {
		const char *name = mem_backend_name((enum mem_backend)b);

		assert_non_null(name);
		assert_int_equal(mem_backend_parse(name, strlen(name)), b);
	}
	assert_string_equal(mem_backend_name(MEM_BACKEND_GUEST_MEMFD), "guest_memfd");
	assert_null(mem_backend_name(MEM_BACKEND_NR));
	assert_int_equal(mem_backend_parse("anonx", 5), -EINVAL);
	assert_int_equal(mem_backend_parse("anon", 3), -EINVAL);
	assert_int_equal(mem_backend_parse("", 0), -EINVAL);
}

/* "test_memory hugetlb" runs the hugetlb case alone (meson's memory_hugetlb):
 * exit 77, which meson reports as a skip, when it was skipped. */
int main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anon),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_guest_memfd_mapping),
		cmocka_unit_test(test_guest_memfd_bad_fd),
		cmocka_unit_test(test_backend_names),
	};
	const struct CMUnitTest hugetlb[] = { cmocka_unit_test(test_hugetlb) };
	int failed;

	if (argc < 2 || strcmp(argv[1], "hugetlb"))
		return cmocka_run_group_tests(tests, NULL, NULL);
	failed = cmocka_run_group_tests(hugetlb, NULL, NULL);
	return !failed && free_huge_bytes() < RAM_SIZE ? 77 : failed;
}
