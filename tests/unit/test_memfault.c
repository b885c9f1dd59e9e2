// SPDX-License-Identifier: GPL-2.0-only
/* Memory faults: checking KVM's annotation, the repeat guard, the default resolver. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/memfault.h"

#define RAM_GPA		0x40000000ULL
#define RAM_SIZE	(256ULL << 20)

static uint8_t fake_ram[1];	/* never dereferenced: validation is arithmetic */

static struct guest_memory ram(void)
{
	return (struct guest_memory){ .gpa = RAM_GPA, .size = RAM_SIZE, .hva = fake_ram,
				      .fd = -1 };
}

static struct mem_fault fault(uint64_t gpa, uint64_t size, uint64_t flags, int err)
{
	return (struct mem_fault){ .vcpu = 1, .gpa = gpa, .size = size, .flags = flags,
				   .err = err };
}

static void assert_valid(struct mem_fault f)
{
	struct guest_memory m = ram();
	char why[160] = "";

	if (memfault_validate(&m, &f, why, sizeof(why)))
		fail_msg("valid fault refused: %s", why);
}

static void assert_bogus(struct mem_fault f, const char *reason)
{
	struct guest_memory m = ram();
	char why[160] = "";

	assert_int_equal(memfault_validate(&m, &f, why, sizeof(why)), -EINVAL);
	if (!strstr(why, reason))
		fail_msg("reason '%s' does not contain '%s'", why, reason);
}

static void test_valid_annotations(void **state)
{
	assert_valid(fault(RAM_GPA, 4096, 0, EHWPOISON));
	assert_valid(fault(RAM_GPA, 4096, 0, EFAULT));
	assert_valid(fault(RAM_GPA + RAM_SIZE - 4096, 4096, 0, EHWPOISON));
	assert_valid(fault(RAM_GPA + 0x1234, 1, 0, EHWPOISON));
	assert_valid(fault(RAM_GPA, RAM_SIZE, 0, EHWPOISON));
	assert_valid(fault(RAM_GPA, 4096, MEM_FAULT_KNOWN_FLAGS, EHWPOISON));	/* PRIVATE */
}

/* Every rule, each with a case that breaks only it. */
static void test_bogus_annotations(void **state)
{
	/* errno */
	assert_bogus(fault(RAM_GPA, 4096, 0, EINVAL), "neither EFAULT nor EHWPOISON");
	assert_bogus(fault(RAM_GPA, 4096, 0, 0), "neither EFAULT nor EHWPOISON");
	/* flags */
	assert_bogus(fault(RAM_GPA, 4096, 1, EHWPOISON), "unknown flags 0x1");
	assert_bogus(fault(RAM_GPA, 4096, MEM_FAULT_KNOWN_FLAGS | (1ULL << 63), EHWPOISON),
		     "unknown flags 0x8000000000000000");
	/* size */
	assert_bogus(fault(RAM_GPA, 0, 0, EHWPOISON), "size 0");
	/* gpa/size inside RAM */
	assert_bogus(fault(RAM_GPA - 4096, 4096, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(RAM_GPA - 1, 2, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(RAM_GPA + RAM_SIZE, 4096, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(RAM_GPA + RAM_SIZE - 4096, 8192, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(0, 4096, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(RAM_GPA, RAM_SIZE + 1, 0, EHWPOISON), "not inside RAM");
	/* Sums that would wrap around. */
	assert_bogus(fault(UINT64_MAX - 4095, 4096, 0, EHWPOISON), "not inside RAM");
	assert_bogus(fault(RAM_GPA + 4096, UINT64_MAX, 0, EHWPOISON), "not inside RAM");
}

static void test_describe(void **state)
{
	struct mem_fault f = fault(RAM_GPA + 0x3000, 4096, 0, EHWPOISON);
	char buf[160];

	memfault_describe(&f, buf, sizeof(buf));
	assert_string_equal(buf, "vcpu 1: gpa 0x40003000 size 0x1000 flags 0x0 (EHWPOISON)");
	f.source = MEM_FAULT_FROM_SIGBUS;
	f.err = EFAULT;
	f.flags = 8;
	memfault_describe(&f, buf, sizeof(buf));
	assert_string_equal(buf, "vcpu 1: gpa 0x40003000 size 0x1000 flags 0x8 (EFAULT, SIGBUS BUS_MCEERR_AR)");
}

static void test_guard_counts_repeats(void **state)
{
	struct mem_fault_guard g = { 0 };
	struct mem_fault f = fault(RAM_GPA, 4096, 0, EHWPOISON);

	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 2);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 3);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 4);
}

/* Any difference makes it a new fault: counting starts again. */
static void test_guard_new_fault_restarts(void **state)
{
	struct mem_fault_guard g = { 0 };
	struct mem_fault f = fault(RAM_GPA, 4096, 0, EHWPOISON), other;

	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 2);
	other = f;
	other.gpa += 4096;
	assert_int_equal(memfault_guard_note(&g, &other, 0x1000), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	other = f;
	other.flags = MEM_FAULT_KNOWN_FLAGS;
	assert_int_equal(memfault_guard_note(&g, &other, 0x1000), 1);
	other = f;
	other.err = EFAULT;
	assert_int_equal(memfault_guard_note(&g, &other, 0x1000), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	/* The same access from another instruction: the guest moved on. */
	assert_int_equal(memfault_guard_note(&g, &f, 0x1004), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1004), 2);
}

static void test_guard_progress_resets(void **state)
{
	struct mem_fault_guard g = { 0 };
	struct mem_fault f = fault(RAM_GPA, 4096, 0, EHWPOISON);

	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 2);
	memfault_guard_progress(&g);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
	/* Progress on a guard that holds nothing is harmless. */
	memfault_guard_progress(&g);
	memfault_guard_progress(&g);
	assert_int_equal(memfault_guard_note(&g, &f, 0x1000), 1);
}

/* The guard's decision as the service makes it: stop once count > retries,
 * i.e. when the fault comes back for the retries-th time. */
static void test_guard_fires_after_retries(void **state)
{
	const unsigned int retries = 3;
	struct mem_fault_guard g = { 0 };
	struct mem_fault f = fault(RAM_GPA, 4096, 0, EHWPOISON);
	unsigned int entries = 0;

	while (memfault_guard_note(&g, &f, 0x2000) <= retries)
		entries++;
	/* Served: the first fault and retries - 1 comebacks. */
	assert_int_equal(entries, retries);
}

static void test_default_resolver(void **state)
{
	struct mem_fault f = fault(RAM_GPA, 4096, 0, EHWPOISON);

	assert_int_equal(memfault_resolve_lost_page(NULL, &f), MEM_FAULT_POISONED);
	f.err = EFAULT;
	assert_int_equal(memfault_resolve_lost_page(NULL, &f), MEM_FAULT_UNRESOLVED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_annotations),
		cmocka_unit_test(test_bogus_annotations),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_guard_counts_repeats),
		cmocka_unit_test(test_guard_new_fault_restarts),
		cmocka_unit_test(test_guard_progress_resets),
		cmocka_unit_test(test_guard_fires_after_retries),
		cmocka_unit_test(test_default_resolver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
