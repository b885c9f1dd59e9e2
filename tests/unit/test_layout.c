// SPDX-License-Identifier: GPL-2.0-only
/* The guest memory map: placement, IPA size and limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmm/layout.h"

/* The highest RAM size the map holds: its top (the 64 GiB PCI window above a
 * 64 GiB aligned RAM end) must stay within 52 bits. */
#define RAM_MAX ((1ULL << 52) - LAYOUT_RAM_BASE - 2 * LAYOUT_PCI_MMIO64_ALIGN)

static void test_default_layout(void **state)
{
	struct mem_layout l;

	assert_int_equal(layout_compute(&l, 512 * MiB, 1), 0);
	assert_int_equal(l.ram_base, LAYOUT_RAM_BASE);
	assert_int_equal(l.ram_size, 512 * MiB);
	assert_int_equal(l.nr_cpus, 1);
	assert_int_equal(l.gicr_size, LAYOUT_GICR_STRIDE);
	/* RAM ends at 1.5 GiB: the 64-bit PCI window starts at 64 GiB and ends
	 * at 128 GiB = 2^37. */
	assert_int_equal(l.pci64_base, 64 * GiB);
	assert_int_equal(l.pci64_size, 64 * GiB);
	assert_int_equal(l.ipa_bits, 37);
}

static void test_gicr_size_follows_cpus(void **state)
{
	struct mem_layout l;

	assert_int_equal(layout_compute(&l, 512 * MiB, 8), 0);
	assert_int_equal(l.gicr_size, 8 * 128 * KiB);
	assert_int_equal(layout_compute(&l, 512 * MiB, LAYOUT_MAX_CPUS), 0);
	assert_int_equal(l.gicr_size, LAYOUT_GICR_MAX_SIZE);
	/* The redistributors end where the 32-bit PCI window begins at most. */
	assert_true(LAYOUT_GICR_BASE + l.gicr_size <= LAYOUT_PCI_MMIO32_BASE);
}

static void test_pci64_placement(void **state)
{
	struct mem_layout l;

	/* RAM ending exactly at 64 GiB: the window starts right there. */
	assert_int_equal(layout_compute(&l, 64 * GiB - LAYOUT_RAM_BASE, 1), 0);
	assert_int_equal(layout_ram_end(&l), 64 * GiB);
	assert_int_equal(l.pci64_base, 64 * GiB);
	assert_int_equal(l.ipa_bits, 37);

	/* 2 MiB more and the window moves up to the next 64 GiB boundary. */
	assert_int_equal(layout_compute(&l, 64 * GiB - LAYOUT_RAM_BASE + 2 * MiB, 1), 0);
	assert_int_equal(l.pci64_base, 128 * GiB);
	assert_int_equal(l.ipa_bits, 38);	/* ends at 192 GiB */

	assert_int_equal(layout_compute(&l, 64 * GiB, 1), 0);
	assert_int_equal(l.pci64_base, 128 * GiB);
	assert_true(l.pci64_base >= layout_ram_end(&l));
	assert_int_equal(l.pci64_base % LAYOUT_PCI_MMIO64_ALIGN, 0);
}

static void test_largest_ram(void **state)
{
	struct mem_layout l;

	assert_int_equal(layout_compute(&l, RAM_MAX, 1), 0);
	assert_int_equal(l.ipa_bits, 52);
	assert_true(l.pci64_base + l.pci64_size <= (1ULL << 52));
	assert_int_equal(layout_compute(&l, RAM_MAX + LAYOUT_RAM_ALIGN, 1), -EINVAL);
}

static void test_ram_limits(void **state)
{
	struct mem_layout l;

	assert_int_equal(layout_compute(&l, LAYOUT_RAM_MIN, 1), 0);
	assert_int_equal(layout_compute(&l, LAYOUT_RAM_MIN - LAYOUT_RAM_ALIGN, 1), -EINVAL);
	assert_int_equal(layout_compute(&l, 0, 1), -EINVAL);
	assert_int_equal(layout_compute(&l, 512 * MiB + 4 * KiB, 1), -EINVAL);
	assert_int_equal(layout_compute(&l, 513 * MiB, 1), -EINVAL);
	assert_int_equal(layout_compute(&l, UINT64_MAX, 1), -EINVAL);
}

static void test_cpu_limits(void **state)
{
	struct mem_layout l;

	assert_int_equal(LAYOUT_MAX_CPUS, 512);
	assert_int_equal(layout_compute(&l, 512 * MiB, 0), -EINVAL);
	assert_int_equal(layout_compute(&l, 512 * MiB, 1), 0);
	assert_int_equal(layout_compute(&l, 512 * MiB, LAYOUT_MAX_CPUS), 0);
	assert_int_equal(layout_compute(&l, 512 * MiB, LAYOUT_MAX_CPUS + 1), -EINVAL);
	assert_int_equal(layout_compute(&l, 512 * MiB, UINT32_MAX), -EINVAL);
}

static void test_check_host(void **state)
{
	struct mem_layout l;

	assert_int_equal(layout_compute(&l, 512 * MiB, 4), 0);
	assert_int_equal(layout_check_host(&l, 40, 4), 0);
	assert_int_equal(layout_check_host(&l, l.ipa_bits, 512), 0);
	assert_int_equal(layout_check_host(&l, l.ipa_bits - 1, 512), -E2BIG);
	assert_int_equal(layout_check_host(&l, 40, 3), -E2BIG);

	/* A host with the 36-bit minimum IPA cannot take even the smallest map. */
	assert_int_equal(layout_compute(&l, LAYOUT_RAM_MIN, 1), 0);
	assert_int_equal(layout_check_host(&l, 36, 1), -E2BIG);

	assert_int_equal(layout_compute(&l, 256 * GiB, 1), 0);
	assert_int_equal(layout_check_host(&l, 40, 1), 0);
	assert_int_equal(layout_compute(&l, 1024 * GiB, 1), 0);	/* map ends at 1152 GiB */
	assert_int_equal(layout_check_host(&l, 40, 1), -E2BIG);
}

/* Nothing in the fixed map overlaps, and every GIC base is 64 KiB aligned. */
static void test_fixed_map_is_consistent(void **state)
{
	const uint64_t r[][2] = {
		{ LAYOUT_GICD_BASE, LAYOUT_GICD_SIZE },
		{ LAYOUT_GITS_BASE, LAYOUT_GITS_SIZE },
		{ LAYOUT_UART_BASE, LAYOUT_UART_SIZE },
		{ LAYOUT_GICR_BASE, LAYOUT_GICR_MAX_SIZE },
		{ LAYOUT_PCI_MMIO32_BASE, LAYOUT_PCI_MMIO32_SIZE },
		{ LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE },
	};
	size_t i;

	for (i = 0; i + 1 < sizeof(r) / sizeof(r[0]); i++)
		assert_true(r[i][0] + r[i][1] <= r[i + 1][0]);
	assert_true(LAYOUT_PCI_ECAM_BASE + LAYOUT_PCI_ECAM_SIZE <= LAYOUT_RAM_BASE);
	assert_int_equal(LAYOUT_GICD_BASE % (64 * KiB), 0);
	assert_int_equal(LAYOUT_GITS_BASE % (64 * KiB), 0);
	assert_int_equal(LAYOUT_GICR_BASE % (64 * KiB), 0);
	assert_int_equal(LAYOUT_RAM_BASE % LAYOUT_RAM_ALIGN, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_layout),
		cmocka_unit_test(test_gicr_size_follows_cpus),
		cmocka_unit_test(test_pci64_placement),
		cmocka_unit_test(test_largest_ram),
		cmocka_unit_test(test_ram_limits),
		cmocka_unit_test(test_cpu_limits),
		cmocka_unit_test(test_check_host),
		cmocka_unit_test(test_fixed_map_is_consistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
