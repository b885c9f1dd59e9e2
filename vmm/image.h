/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_IMAGE_H
#define TERN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The arm64 Linux boot image ("Image"), Documentation/arch/arm64/booting.rst:
 * a 64-byte little-endian header with magic "ARM\x64" at offset 56,
 * text_offset at 8, image_size at 16 (0 on kernels before 3.17: then assume
 * text_offset 0x80000), flags at 24 (bit 0 big-endian, bits 1-2 page size,
 * bit 3 "may be placed anywhere in physical memory").
 */
struct arm64_image {
	uint64_t text_offset;
	uint64_t image_size;	/* bytes the kernel occupies once running (incl. bss) */
	uint64_t flags;
	size_t file_size;
};

/*
 * Parses the header of a file's contents. On a file that is not a bootable
 * little-endian arm64 Image returns -ENOEXEC and writes into @why a sentence
 * saying what the file is and what to pass instead, e.g. "gzip-compressed
 * (a vmlinuz.gz?): decompress it and pass the arm64 Image", "EFI zboot
 * compressed kernel: pass the uncompressed Image (arch/arm64/boot/Image)",
 * "x86 kernel (bzImage)", "ELF file (vmlinux?)", "truncated: N bytes, an Image
 * header needs 64", "big-endian arm64 kernel: tern runs little-endian guests".
 */
int arm64_image_parse(const void *buf, size_t len, struct arm64_image *img, char *why,
		      size_t whylen);

/*
 * arm64_image_parse() in two halves, for a compressed kernel whose header is
 * known before the rest is decompressed: the header checks on the first bytes
 * (at least 64), then, on the whole Image, the check that an EFI-stub Image is
 * as long as its PE header says (-ENOEXEC, "truncated: ...").
 */
int arm64_image_parse_header(const void *buf, size_t len, struct arm64_image *img, char *why,
			     size_t whylen);
int arm64_image_check_whole(const void *buf, size_t len, char *why, size_t whylen);

/* The length the section table of a PE/COFF file ("MZ", PE header offset at
 * 0x3c) says the file has: may exceed @len (a cut-off file); 0 if there is no
 * PE header to go by. */
uint64_t pe_claimed_size(const void *buf, size_t len);

/*
 * Describes a flat binary with no header (--kernel-format raw: a bare-metal
 * test payload such as kvm-unit-tests' .flat files) as an Image would be:
 * loaded ARM64_RAW_LOAD_OFFSET into RAM, where QEMU's and kvmtool's raw
 * loaders put it, and entered at its first byte with x0 = the DTB. Its size
 * in memory is its file size: a raw binary says nothing about its bss.
 * -ENOEXEC with @why for an empty file.
 */
#define ARM64_RAW_LOAD_OFFSET	0x80000ULL

int arm64_raw_describe(size_t len, struct arm64_image *img, char *why, size_t whylen);

/* Writes the reason for a refusal into @why (when given) and returns @err:
 * the loaders' one way of saying what is wrong with a file. */
int image_fail(int err, char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Where the kernel, initrd and DTB go in guest RAM. */
struct boot_plan {
	uint64_t kernel_addr;	/* 2 MiB aligned base + text_offset */
	uint64_t kernel_end;	/* kernel_addr + max(image_size, file_size) */
	uint64_t initrd_addr;	/* 0 if no initrd */
	uint64_t initrd_size;
	uint64_t dtb_addr;	/* 8-byte aligned (we use 2 MiB), at most BOOT_DTB_MAX bytes */
};

#define BOOT_DTB_MAX	(2ULL << 20)

/*
 * Places the kernel at the start of RAM (ram_base is 2 MiB aligned), the DTB
 * in the top 2 MiB block of RAM, and the initrd just below the DTB (page
 * aligned). Returns -E2BIG with @why naming what does not fit and by how much
 * (e.g. "kernel (48 MiB) and initrd (300 MiB) need 350 MiB of RAM; --memory is
 * 256 MiB").
 */
int boot_plan_compute(const struct arm64_image *img, uint64_t ram_base, uint64_t ram_size,
		      uint64_t initrd_size, struct boot_plan *plan, char *why, size_t whylen);

#endif
