// SPDX-License-Identifier: GPL-2.0-only
/* The arm64 Image header parser and the boot plan, on synthetic files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migration/le.h"
#include "vmm/image.h"
#include "vmm/layout.h"

#define IMG_LEN		4096
#define PE_OFF		0x40
#define OPTHDR_SIZE	0x70

static uint8_t img_buf[IMG_LEN];
static char why[256];

/* A plain Image header (CONFIG_EFI=n kernel): a branch, then the fields. */
static uint8_t *make_image(uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(img_buf, 0xaa, sizeof(img_buf));
	put_le(img_buf, 0x14000010, 4);		/* b #0x40 */
	put_le(img_buf + 4, 0, 4);
	put_le(img_buf + 8, text_offset, 8);
	put_le(img_buf + 16, image_size, 8);
	put_le(img_buf + 24, flags, 8);
	memset(img_buf + 32, 0, 24);
	memcpy(img_buf + 56, "ARM\x64", 4);
	put_le(img_buf + 60, 0, 4);
	return img_buf;
}

/* An EFI-stub Image: "MZ" first and a PE header whose two sections end at
 * @claimed bytes into the file. */
static uint8_t *make_efi_image(uint32_t claimed)
{
	uint8_t *pe, *sect;

	make_image(0, 2 * MiB, 0xa);
	memcpy(img_buf, "MZ\0\0", 4);
	put_le(img_buf + 60, PE_OFF, 4);
	pe = img_buf + PE_OFF;
	memcpy(pe, "PE\0\0", 4);
	put_le(pe + 4, 0xaa64, 2);
	put_le(pe + 6, 2, 2);
	put_le(pe + 20, OPTHDR_SIZE, 2);
	sect = pe + 24 + OPTHDR_SIZE;
	memcpy(sect, ".text\0\0\0", 8);
	put_le(sect + 16, 0x200, 4);		/* SizeOfRawData */
	put_le(sect + 20, 0x400, 4);		/* PointerToRawData */
	sect += 40;
	memcpy(sect, ".data\0\0\0", 8);
	put_le(sect + 16, claimed - 0x600, 4);
	put_le(sect + 20, 0x600, 4);
	return img_buf;
}

static int parse(const void *buf, size_t len, struct arm64_image *img)
{
	why[0] = 0;
	return arm64_image_parse(buf, len, img, why, sizeof(why));
}

/* Asserts @buf is refused with a reason mentioning @word. */
static void assert_refused(const void *buf, size_t len, const char *word)
{
	struct arm64_image img;

	assert_int_equal(parse(buf, len, &img), -ENOEXEC);
	if (!strstr(why, word))
		fail_msg("reason \"%s\" does not mention \"%s\"", why, word);
}

static void test_good_image(void **state)
{
	struct arm64_image img;

	make_image(0, 40 * MiB, 0xa);
	assert_int_equal(parse(img_buf, IMG_LEN, &img), 0);
	assert_int_equal(img.text_offset, 0);
	assert_int_equal(img.image_size, 40 * MiB);
	assert_int_equal(img.flags, 0xa);
	assert_int_equal(img.file_size, IMG_LEN);
}

static void test_text_offset_kept(void **state)
{
	struct arm64_image img;

	make_image(0x80000, 20 * MiB, 0x2);
	assert_int_equal(parse(img_buf, IMG_LEN, &img), 0);
	assert_int_equal(img.text_offset, 0x80000);
}

/* Before 3.17 image_size is 0 and text_offset is to be taken as 0x80000
 * whatever the field holds (its endianness was unspecified). */
static void test_old_kernel_text_offset(void **state)
{
	struct arm64_image img;

	make_image(0x8000000000000ULL, 0, 0);
	assert_int_equal(parse(img_buf, IMG_LEN, &img), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_int_equal(img.image_size, 0);
}

static void test_header_only_is_enough(void **state)
{
	struct arm64_image img;

	make_image(0, 2 * MiB, 0);
	assert_int_equal(parse(img_buf, 64, &img), 0);
	assert_int_equal(img.file_size, 64);
}

static void test_empty(void **state)
{
	assert_refused(img_buf, 0, "empty");
}

static void test_truncated_header(void **state)
{
	make_image(0, 2 * MiB, 0);
	assert_refused(img_buf, 63, "truncated");
	assert_refused(img_buf, 63, "63 bytes");
	assert_refused(img_buf, 1, "truncated");
	assert_refused(img_buf, 59, "truncated");
}

static void test_not_an_image(void **state)
{
	memset(img_buf, 0, IMG_LEN);
	assert_refused(img_buf, IMG_LEN, "not an arm64 Linux Image");
}

static void test_gzip(void **state)
{
	static const uint8_t gz[64] = { 0x1f, 0x8b, 0x08, 0x00 };

	assert_refused(gz, sizeof(gz), "gzip");
	assert_refused(gz, sizeof(gz), "decompress");
	/* Even a file too short for an Image header is named by its magic. */
	assert_refused(gz, 2, "gzip");
}

static void test_other_compressors(void **state)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *word;
	} cases[] = {
		{ "\xfd" "7zXZ\0", 6, "xz" },
		{ "\x28\xb5\x2f\xfd", 4, "zstd" },
		{ "\x04\x22\x4d\x18", 4, "lz4" },
		{ "\x02\x21\x4c\x18", 4, "lz4" },
		{ "BZh9", 4, "bzip2" },
		{ "\x89LZO", 4, "lzo" },
	};
	uint8_t buf[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, cases[i].magic, cases[i].len);
		assert_refused(buf, sizeof(buf), cases[i].word);
	}
}

static void test_efi_zboot(void **state)
{
	uint8_t buf[256] = { 0 };

	memcpy(buf, "MZ\0\0zimg", 8);
	memcpy(buf + 24, "zstd", 5);
	assert_refused(buf, sizeof(buf), "EFI zboot");
	assert_refused(buf, sizeof(buf), "(zstd)");
	assert_refused(buf, sizeof(buf), "arch/arm64/boot/Image");
	/* An unreadable compression name is left out, not printed. */
	memcpy(buf + 24, "\x01\x02", 3);
	assert_refused(buf, sizeof(buf), "EFI zboot compressed kernel:");
}

static void test_x86_bzimage(void **state)
{
	uint8_t buf[1024] = { 0 };

	memcpy(buf, "MZ", 2);
	memcpy(buf + 0x202, "HdrS", 4);
	assert_refused(buf, sizeof(buf), "x86 kernel (bzImage)");
	/* An old bzImage without "MZ" still has "HdrS". */
	memset(buf, 0, 2);
	assert_refused(buf, sizeof(buf), "bzImage");
}

static void test_pe_without_arm64_magic(void **state)
{
	uint8_t buf[1024] = { 0 };

	memcpy(buf, "MZ", 2);
	assert_refused(buf, sizeof(buf), "without the arm64 Image header");
}

static void test_elf(void **state)
{
	uint8_t buf[128] = { 0 };

	memcpy(buf, "\x7f" "ELF\x02\x01\x01", 7);
	assert_refused(buf, sizeof(buf), "ELF");
	assert_refused(buf, sizeof(buf), "vmlinux");
}

static void test_other_mistakes(void **state)
{
	uint8_t buf[128] = { 0 };

	memcpy(buf, "070701", 6);
	assert_refused(buf, sizeof(buf), "--initrd");
	memcpy(buf, "\xd0\x0d\xfe\xed", 4);
	assert_refused(buf, sizeof(buf), "device tree");
	memcpy(buf, "\x27\x05\x19\x56", 4);
	assert_refused(buf, sizeof(buf), "uImage");
}

static void test_big_endian(void **state)
{
	make_image(0, 2 * MiB, 0x1 | 0x2);
	assert_refused(img_buf, IMG_LEN, "big-endian");
}

static void test_bad_text_offset(void **state)
{
	make_image(2 * MiB, 4 * MiB, 0);
	assert_refused(img_buf, IMG_LEN, "text_offset");
	make_image(0x80001, 4 * MiB, 0);
	assert_refused(img_buf, IMG_LEN, "text_offset");
}

static void test_efi_image_whole(void **state)
{
	struct arm64_image img;

	make_efi_image(IMG_LEN);
	assert_int_equal(parse(img_buf, IMG_LEN, &img), 0);
	assert_int_equal(img.image_size, 2 * MiB);
}

static void test_efi_image_truncated(void **state)
{
	make_efi_image(IMG_LEN);
	assert_refused(img_buf, IMG_LEN - 1, "truncated");
	assert_refused(img_buf, IMG_LEN - 1, "4096");
	/* Cut inside the section table, and before the PE header itself. */
	assert_refused(img_buf, PE_OFF + 24 + OPTHDR_SIZE + 40, "truncated");
	assert_refused(img_buf, PE_OFF + 2, "truncated");
}

static void test_efi_image_without_pe_signature(void **state)
{
	struct arm64_image img;

	/* Not a PE header we can read: nothing to check the length against. */
	make_efi_image(IMG_LEN);
	memcpy(img_buf + PE_OFF, "XX", 2);
	assert_int_equal(parse(img_buf, 256, &img), 0);
}

static void test_why_may_be_null(void **state)
{
	struct arm64_image img;

	assert_int_equal(arm64_image_parse(img_buf, 0, &img, NULL, 0), -ENOEXEC);
}

static struct arm64_image image_of(uint64_t text_offset, uint64_t image_size, size_t file_size)
{
	return (struct arm64_image){ .text_offset = text_offset, .image_size = image_size,
				     .file_size = file_size };
}

static void test_plan_placement(void **state)
{
	struct arm64_image img = image_of(0, 40 * MiB, 30 * MiB);
	const uint64_t ram_end = LAYOUT_RAM_BASE + 512 * MiB;
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 512 * MiB, 5000000, &plan,
					   why, sizeof(why)), 0);
	assert_int_equal(plan.kernel_addr, LAYOUT_RAM_BASE);
	assert_int_equal(plan.kernel_end, LAYOUT_RAM_BASE + 40 * MiB);
	assert_int_equal(plan.dtb_addr, ram_end - BOOT_DTB_MAX);
	assert_int_equal(plan.dtb_addr % (2 * MiB), 0);
	assert_int_equal(plan.initrd_size, 5000000);
	assert_int_equal(plan.initrd_addr % (64 * KiB), 0);
	assert_true(plan.initrd_addr + plan.initrd_size <= plan.dtb_addr);
	assert_true(plan.dtb_addr - (plan.initrd_addr + plan.initrd_size) < 64 * KiB);
	assert_true(plan.kernel_end <= plan.initrd_addr);
}

static void test_plan_text_offset_and_file_size(void **state)
{
	/* Old kernel: image_size 0, so the file's own length is what it needs. */
	struct arm64_image img = image_of(0x80000, 0, 7 * MiB);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 64 * MiB, 0, &plan, why,
					   sizeof(why)), 0);
	assert_int_equal(plan.kernel_addr, LAYOUT_RAM_BASE + 0x80000);
	assert_int_equal(plan.kernel_end, LAYOUT_RAM_BASE + 0x80000 + 7 * MiB);
	assert_int_equal(plan.initrd_addr, 0);
	assert_int_equal(plan.initrd_size, 0);
}

static void test_plan_exact_fit(void **state)
{
	/* Kernel, a 64 KiB multiple of initrd and the DTB block fill RAM exactly. */
	struct arm64_image img = image_of(0, 20 * MiB, 1 * MiB);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 32 * MiB, 10 * MiB, &plan,
					   why, sizeof(why)), 0);
	assert_int_equal(plan.kernel_end, plan.initrd_addr);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 32 * MiB, 10 * MiB + 1, &plan,
					   why, sizeof(why)), -E2BIG);
}

static void test_plan_kernel_too_big(void **state)
{
	struct arm64_image img = image_of(0, 48 * MiB, 30 * MiB);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 32 * MiB, 0, &plan, why,
					   sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "kernel (48 MiB) needs 50 MiB"));
	assert_non_null(strstr(why, "--memory is 32 MiB"));
}

static void test_plan_initrd_too_big(void **state)
{
	struct arm64_image img = image_of(0, 48 * MiB, 30 * MiB);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 256 * MiB, 300 * MiB, &plan,
					   why, sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "kernel (48 MiB) and initrd (300 MiB) need 350 MiB"));
	assert_non_null(strstr(why, "--memory is 256 MiB"));
}

static void test_plan_huge_values_do_not_wrap(void **state)
{
	struct arm64_image img = image_of(0, UINT64_MAX - 4096, 4096);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 512 * MiB, 0, &plan, why,
					   sizeof(why)), -E2BIG);
	img = image_of(0, 2 * MiB, 4096);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 512 * MiB, UINT64_MAX, &plan,
					   why, sizeof(why)), -E2BIG);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 512 * MiB,
					   UINT64_MAX - 64 * KiB, &plan, why, sizeof(why)), -E2BIG);
}

static void test_plan_misaligned_ram(void **state)
{
	struct arm64_image img = image_of(0, 2 * MiB, 4096);
	struct boot_plan plan;

	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE + 4096, 512 * MiB, 0, &plan,
					   why, sizeof(why)), -EINVAL);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 512 * MiB + 4096, 0, &plan,
					   why, sizeof(why)), -EINVAL);
	assert_int_equal(boot_plan_compute(&img, UINT64_MAX - 2 * MiB + 1, 4 * MiB, 0, &plan,
					   why, sizeof(why)), -EINVAL);
}

/* A parsed header and a plan together, as main() uses them. */
static void test_parse_then_plan(void **state)
{
	struct arm64_image img;
	struct boot_plan plan;

	make_image(0, 31 * MiB, 0xa);
	assert_int_equal(parse(img_buf, IMG_LEN, &img), 0);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 32 * MiB, 0, &plan, why,
					   sizeof(why)), -E2BIG);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 34 * MiB, 0, &plan, why,
					   sizeof(why)), 0);
	assert_int_equal(plan.kernel_end, LAYOUT_RAM_BASE + 31 * MiB);
}

/* --kernel-format raw: no header to check, placed where an old Image would be. */
static void test_raw_describe_and_plan(void **state)
{
	struct arm64_image img;
	struct boot_plan plan;

	/* Bytes that are no Image at all (an ELF magic even) are taken as they are. */
	memset(img_buf, 0, sizeof(img_buf));
	memcpy(img_buf, "\x7f" "ELF", 4);
	assert_int_equal(arm64_raw_describe(100000, &img, why, sizeof(why)), 0);
	assert_int_equal(img.text_offset, 0x80000);
	assert_int_equal(img.file_size, 100000);
	assert_int_equal(img.image_size, 0);
	assert_int_equal(img.flags, 0);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 128 * MiB, 4096, &plan, why,
					   sizeof(why)), 0);
	assert_int_equal(plan.kernel_addr, LAYOUT_RAM_BASE + 0x80000);
	/* kvm-unit-tests' binaries need their start 64 KiB aligned. */
	assert_int_equal(plan.kernel_addr % (64 * KiB), 0);
	assert_int_equal(plan.kernel_end, LAYOUT_RAM_BASE + 0x80000 + 100000);
	assert_true(plan.kernel_end <= plan.initrd_addr);

	/* Too big for RAM: the same refusal as an Image's. */
	assert_int_equal(arm64_raw_describe(31 * MiB, &img, why, sizeof(why)), 0);
	assert_int_equal(boot_plan_compute(&img, LAYOUT_RAM_BASE, 32 * MiB, 0, &plan, why,
					   sizeof(why)), -E2BIG);
	assert_non_null(strstr(why, "--memory is 32 MiB"));
}

static void test_raw_empty_refused(void **state)
{
	struct arm64_image img;

	assert_int_equal(arm64_raw_describe(0, &img, why, sizeof(why)), -ENOEXEC);
	assert_string_equal(why, "empty file");
	assert_int_equal(arm64_raw_describe(0, &img, NULL, 0), -ENOEXEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_image),
		cmocka_unit_test(test_text_offset_kept),
		cmocka_unit_test(test_old_kernel_text_offset),
		cmocka_unit_test(test_header_only_is_enough),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_not_an_image),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_other_compressors),
		cmocka_unit_test(test_efi_zboot),
		cmocka_unit_test(test_x86_bzimage),
		cmocka_unit_test(test_pe_without_arm64_magic),
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_other_mistakes),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_bad_text_offset),
		cmocka_unit_test(test_efi_image_whole),
		cmocka_unit_test(test_efi_image_truncated),
		cmocka_unit_test(test_efi_image_without_pe_signature),
		cmocka_unit_test(test_why_may_be_null),
		cmocka_unit_test(test_plan_placement),
		cmocka_unit_test(test_plan_text_offset_and_file_size),
		cmocka_unit_test(test_plan_exact_fit),
		cmocka_unit_test(test_plan_kernel_too_big),
		cmocka_unit_test(test_plan_initrd_too_big),
		cmocka_unit_test(test_plan_huge_values_do_not_wrap),
		cmocka_unit_test(test_plan_misaligned_ram),
		cmocka_unit_test(test_parse_then_plan),
		cmocka_unit_test(test_raw_describe_and_plan),
		cmocka_unit_test(test_raw_empty_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
