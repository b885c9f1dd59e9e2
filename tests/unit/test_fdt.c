// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest device tree: built with 1 and 4 vCPUs, an initrd and a fake
 * device, read back with libfdt, and (when meson found it) decompiled by dtc,
 * which must accept it without a single warning.
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

#include "devices/device.h"
#include "vmm/fdt.h"
#include "vmm/image.h"
#include "vmm/layout.h"

#define FAKE_BASE	0x0e000000ULL	/* free in the map; the fake is never accessed */
#define FAKE_SIZE	0x200ULL
#define FAKE_SPI	5

/* KVM's reset MPIDR_EL1 for vCPU n < 16: RES1 bit 31, Aff0 = n. */
#define KVM_MPIDR(n)	(0x80000000ULL | (n))

static uint8_t dtb[BOOT_DTB_MAX];

static int fake_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	char name[32];
	int node, err;

	snprintf(name, sizeof(name), "fake@%llx", (unsigned long long)dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0)
		return -EINVAL;
	err = fdt_setprop_string(fdt, node, "compatible", "tern,fake");
	if (err)
		return -EINVAL;
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	if (!err)
		err = fdt_prop_spi(fdt, node, dev->spi);
	return err ? err : node;
}

static int failing_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	return -ENOMEM;
}

static const struct device_ops fake_ops = {
	.name = "fake",
	.fdt_node = fake_fdt_node,
};

static const struct device_ops failing_ops = {
	.name = "failing",
	.fdt_node = failing_fdt_node,
};

static struct device fake = {
	.ops = &fake_ops,
	.mmio_base = FAKE_BASE,
	.mmio_size = FAKE_SIZE,
	.spi = FAKE_SPI,
};

struct setup {
	struct mem_layout layout;
	uint64_t mpidr[LAYOUT_MAX_CPUS];
	struct device *devices[2];
	struct fdt_params p;
};

static struct setup s;

static void setup_params(unsigned int nr_cpus, uint64_t ram_size)
{
	unsigned int i;

	memset(&s, 0, sizeof(s));
	assert_int_equal(layout_compute(&s.layout, ram_size, nr_cpus), 0);
	for (i = 0; i < nr_cpus; i++)
		s.mpidr[i] = KVM_MPIDR(i);
	s.devices[0] = &fake;
	s.p = (struct fdt_params){
		.layout = &s.layout,
		.mpidr = s.mpidr,
		.nr_cpus = nr_cpus,
		.bootargs = "console=ttyS0 earlycon",
		.devices = s.devices,
		.nr_devices = 1,
		.console = &fake,
	};
}

static int node(const char *path)
{
	int off = fdt_path_offset(dtb, path);

	if (off < 0)
		fail_msg("no node %s: %s", path, fdt_strerror(off));
	return off;
}

static const fdt32_t *cells(const char *path, const char *prop, int ncells)
{
	int len;
	const fdt32_t *v = fdt_getprop(dtb, node(path), prop, &len);

	if (!v)
		fail_msg("%s has no %s", path, prop);
	if (len != ncells * 4)
		fail_msg("%s %s is %d bytes, want %d", path, prop, len, ncells * 4);
	return v;
}

static uint32_t cell(const char *path, const char *prop)
{
	return fdt32_to_cpu(cells(path, prop, 1)[0]);
}

static uint64_t cell64(const fdt32_t *c)
{
	return (uint64_t)fdt32_to_cpu(c[0]) << 32 | fdt32_to_cpu(c[1]);
}

static const char *string(const char *path, const char *prop)
{
	const char *v = fdt_getprop(dtb, node(path), prop, NULL);

	if (!v)
		fail_msg("%s has no %s", path, prop);
	return v;
}

static bool has_prop(const char *path, const char *prop)
{
	return fdt_getprop(dtb, node(path), prop, NULL) != NULL;
}

static void assert_empty_prop(const char *path, const char *prop)
{
	int len = -1;

	assert_non_null(fdt_getprop(dtb, node(path), prop, &len));
	assert_int_equal(len, 0);
}


static void build(void)
{
	assert_int_equal(fdt_build(&s.p, dtb, sizeof(dtb)), 0);
	assert_int_equal(fdt_check_header(dtb), 0);
	assert_true(fdt_totalsize(dtb) <= sizeof(dtb));
}

static void check_root(void)
{
	assert_string_equal(string("/", "compatible"), "linux,dummy-virt");
	assert_int_equal(cell("/", "#address-cells"), 2);
	assert_int_equal(cell("/", "#size-cells"), 2);
	assert_int_equal(cell("/", "interrupt-parent"), FDT_GIC_PHANDLE);
}

static void check_memory(uint64_t ram_size)
{
	const fdt32_t *reg = cells("/memory@40000000", "reg", 4);

	assert_string_equal(string("/memory@40000000", "device_type"), "memory");
	assert_int_equal(cell64(reg), LAYOUT_RAM_BASE);
	assert_int_equal(cell64(reg + 2), ram_size);
}

/* The CPUs, in order cpu@0, cpu@1, ..., with 1-cell regs. */
static void check_cpus(unsigned int nr_cpus)
{
	unsigned int n = 0;
	int cpus = node("/cpus"), cpu;

	assert_int_equal(cell("/cpus", "#address-cells"), 1);
	assert_int_equal(cell("/cpus", "#size-cells"), 0);
	fdt_for_each_subnode(cpu, dtb, cpus) {
		char name[32];
		int len;
		const fdt32_t *reg = fdt_getprop(dtb, cpu, "reg", &len);

		snprintf(name, sizeof(name), "cpu@%x", n);
		assert_string_equal(fdt_get_name(dtb, cpu, NULL), name);
		assert_non_null(reg);
		assert_int_equal(len, 4);
		assert_int_equal(fdt32_to_cpu(reg[0]), n);
		assert_string_equal(fdt_getprop(dtb, cpu, "device_type", NULL), "cpu");
		assert_string_equal(fdt_getprop(dtb, cpu, "enable-method", NULL), "psci");
		assert_string_equal(fdt_getprop(dtb, cpu, "compatible", NULL), "arm,armv8");
		n++;
	}
	assert_int_equal(n, nr_cpus);
}

static void check_psci(void)
{
	int len;
	const char *compat = fdt_getprop(dtb, node("/psci"), "compatible", &len);

	assert_non_null(compat);
	assert_int_equal(len, sizeof("arm,psci-1.0\0arm,psci-0.2"));
	assert_memory_equal(compat, "arm,psci-1.0\0arm,psci-0.2", len);
	assert_string_equal(string("/psci", "method"), "hvc");
}

static void check_gic(unsigned int nr_cpus)
{
	const char *gic = "/intc@8000000", *its = "/intc@8000000/its@8080000";
	const fdt32_t *reg = cells(gic, "reg", 8), *irq = cells(gic, "interrupts", 3);

	assert_string_equal(string(gic, "compatible"), "arm,gic-v3");
	assert_int_equal(cell(gic, "#interrupt-cells"), 3);
	assert_empty_prop(gic, "interrupt-controller");
	assert_empty_prop(gic, "ranges");
	assert_int_equal(cell(gic, "#address-cells"), 2);
	assert_int_equal(cell(gic, "#size-cells"), 2);
	assert_int_equal(cell64(reg), LAYOUT_GICD_BASE);
	assert_int_equal(cell64(reg + 2), LAYOUT_GICD_SIZE);
	assert_int_equal(cell64(reg + 4), LAYOUT_GICR_BASE);
	assert_int_equal(cell64(reg + 6), nr_cpus * 128 * KiB);
	assert_int_equal(fdt32_to_cpu(irq[0]), 1);
	assert_int_equal(fdt32_to_cpu(irq[1]), 9);
	assert_int_equal(fdt32_to_cpu(irq[2]), 4);
	assert_int_equal(cell(gic, "phandle"), FDT_GIC_PHANDLE);
	assert_int_equal(fdt_node_offset_by_phandle(dtb, FDT_GIC_PHANDLE), node(gic));

	reg = cells(its, "reg", 4);
	assert_string_equal(string(its, "compatible"), "arm,gic-v3-its");
	assert_empty_prop(its, "msi-controller");
	assert_int_equal(cell(its, "#msi-cells"), 1);
	assert_int_equal(cell64(reg), LAYOUT_GITS_BASE);
	assert_int_equal(cell64(reg + 2), LAYOUT_GITS_SIZE);
	assert_int_equal(cell(its, "phandle"), FDT_ITS_PHANDLE);
}

static void check_timer(void)
{
	const uint32_t want[] = { 1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4 };
	const fdt32_t *irq = cells("/timer", "interrupts", 12);
	unsigned int i;

	assert_string_equal(string("/timer", "compatible"), "arm,armv8-timer");
	assert_empty_prop("/timer", "always-on");
	for (i = 0; i < 12; i++)
		assert_int_equal(fdt32_to_cpu(irq[i]), want[i]);
}

static void check_fake_device(void)
{
	const fdt32_t *reg = cells("/fake@e000000", "reg", 4);
	const fdt32_t *irq = cells("/fake@e000000", "interrupts", 3);

	assert_int_equal(cell64(reg), FAKE_BASE);
	assert_int_equal(cell64(reg + 2), FAKE_SIZE);
	assert_int_equal(fdt32_to_cpu(irq[0]), 0);	/* GIC_SPI */
	assert_int_equal(fdt32_to_cpu(irq[1]), FAKE_SPI);
	assert_int_equal(fdt32_to_cpu(irq[2]), 4);	/* level high */
}

static void check_whole_tree(unsigned int nr_cpus, uint64_t ram_size)
{
	check_root();
	check_memory(ram_size);
	check_cpus(nr_cpus);
	check_psci();
	check_gic(nr_cpus);
	check_timer();
	check_fake_device();
}

static void test_one_cpu(void **state)
{
	setup_params(1, 512 * MiB);
	build();
	check_whole_tree(1, 512 * MiB);
	assert_string_equal(string("/chosen", "bootargs"), "console=ttyS0 earlycon");
	assert_string_equal(string("/chosen", "stdout-path"), "/fake@e000000");
	assert_false(has_prop("/chosen", "linux,initrd-start"));
	assert_false(has_prop("/chosen", "linux,initrd-end"));
	assert_true(fdt_path_offset(dtb, "/pmu") < 0);
	check_with_dtc(dtb);
}

static void test_four_cpus_initrd_pmu(void **state)
{
	const uint64_t start = LAYOUT_RAM_BASE + 200 * MiB, size = 12345678;

	setup_params(4, 1 * GiB);
	s.p.initrd_start = start;
	s.p.initrd_size = size;
	s.p.has_pmu = 1;
	build();
	check_whole_tree(4, 1 * GiB);
	assert_int_equal(cell64(cells("/chosen", "linux,initrd-start", 2)), start);
	assert_int_equal(cell64(cells("/chosen", "linux,initrd-end", 2)), start + size);
	assert_string_equal(string("/pmu", "compatible"), "arm,armv8-pmuv3");
	assert_int_equal(fdt32_to_cpu(cells("/pmu", "interrupts", 3)[1]), 7);
	check_with_dtc(dtb);
}

/* 17 vCPUs: KVM puts vCPU 16 at Aff1 = 1, so its node is cpu@100. */
static void test_cpu_unit_address_is_affinity(void **state)
{
	setup_params(17, 512 * MiB);
	s.mpidr[16] = 0x80000100;
	build();
	node("/cpus/cpu@100");
	assert_int_equal(cell("/cpus/cpu@100", "reg"), 0x100);
	check_with_dtc(dtb);
}

/* An Aff3 affinity does not fit one cell: every reg becomes two cells. */
static void test_aff3_needs_two_cells(void **state)
{
	const fdt32_t *reg;

	setup_params(2, 512 * MiB);
	s.mpidr[1] = 0x0100000000ULL | 0x80000000ULL | 0x3;
	build();
	assert_int_equal(cell("/cpus", "#address-cells"), 2);
	reg = cells("/cpus/cpu@0", "reg", 2);
	assert_int_equal(cell64(reg), 0);
	reg = cells("/cpus/cpu@100000003", "reg", 2);
	assert_int_equal(cell64(reg), 0x100000003ULL);
	check_with_dtc(dtb);
}

static void test_no_console_no_devices(void **state)
{
	setup_params(1, 512 * MiB);
	s.p.nr_devices = 0;
	s.p.console = NULL;
	s.p.bootargs = NULL;
	build();
	assert_false(has_prop("/chosen", "stdout-path"));
	assert_false(has_prop("/chosen", "bootargs"));
	assert_true(fdt_path_offset(dtb, "/fake@e000000") < 0);
	check_with_dtc(dtb);
}

static void test_buffer_too_small(void **state)
{
	setup_params(4, 512 * MiB);
	assert_int_equal(fdt_build(&s.p, dtb, 512), -ENOSPC);
	assert_int_equal(fdt_build(&s.p, dtb, 16), -ENOSPC);
}

static void test_device_error_is_returned(void **state)
{
	struct device failing = { .ops = &failing_ops };

	setup_params(1, 512 * MiB);
	s.devices[1] = &failing;
	s.p.nr_devices = 2;
	assert_int_equal(fdt_build(&s.p, dtb, sizeof(dtb)), -ENOMEM);
}

static void test_bad_params(void **state)
{
	setup_params(2, 512 * MiB);
	s.p.nr_cpus = 1;		/* layout says 2 */
	assert_int_equal(fdt_build(&s.p, dtb, sizeof(dtb)), -EINVAL);
	setup_params(1, 512 * MiB);
	s.p.mpidr = NULL;
	assert_int_equal(fdt_build(&s.p, dtb, sizeof(dtb)), -EINVAL);
	setup_params(1, 512 * MiB);
	s.p.initrd_start = UINT64_MAX - 10;
	s.p.initrd_size = 100;
	assert_int_equal(fdt_build(&s.p, dtb, sizeof(dtb)), -EINVAL);
}

static void test_prop_helpers_report_errors(void **state)
{
	uint8_t small[128];

	assert_int_equal(fdt_create_empty_tree(small, sizeof(small)), 0);
	/* 128 bytes hold the header and an empty root, then one reg. */
	assert_int_equal(fdt_prop_reg(small, 0, 0x123456789ULL, 0x1000), 0);
	assert_int_equal(fdt_prop_spi(small, 0, 3), -ENOSPC);
	assert_int_equal(fdt_prop_spi(small, 12345, 3), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_four_cpus_initrd_pmu),
		cmocka_unit_test(test_cpu_unit_address_is_affinity),
		cmocka_unit_test(test_aff3_needs_two_cells),
		cmocka_unit_test(test_no_console_no_devices),
		cmocka_unit_test(test_buffer_too_small),
		cmocka_unit_test(test_device_error_is_returned),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_prop_helpers_report_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
