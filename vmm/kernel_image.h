/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_KERNEL_IMAGE_H
#define TERN_KERNEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"

/*
 * The kernels --kernel accepts, told apart by their contents (never by the
 * file's name):
 *  - an arm64 Image (arch/arm64/boot/Image; Debian's vmlinuz), used as it is;
 *  - a gzip-, zstd- or xz-compressed Image (the vmlinuz of Ubuntu, Alpine, Arch);
 *  - an EFI zboot image (vmlinuz.efi, Fedora; CONFIG_EFI_ZBOOT): a PE/COFF
 *    program for arm64 whose header points at a gzip, zstd or xz compressed Image
 *    (drivers/firmware/efi/libstub/zboot-header.S).
 * A compressed Image is decompressed straight into guest RAM at every boot.
 */
enum kernel_packing {
	KERNEL_PLAIN,
	KERNEL_GZIP,
	KERNEL_ZSTD,
	KERNEL_XZ,
};

struct kernel_image {
	enum kernel_packing packing;
	const char *format;		/* "arm64 Image", "EFI zboot image (zstd)", ... */
	const uint8_t *data;		/* the Image, or its compressed stream */
	size_t len;
	uint64_t zboot_size;		/* the Image's size a zstd/xz zboot appends; 0: none */
	/* The Image's header. A compressed one's file_size is the header's
	 * image_size, the most it may decompress to. */
	struct arm64_image image;
};

/*
 * Recognises the file's format and reads the Image header, decompressing just
 * that far. Returns 0, or -ENOEXEC with @why a sentence that says what the
 * file is, what is wrong and what to pass instead (truncated, corrupt header,
 * a zboot image for another architecture, a compression tern does not
 * decompress, no arm64 Image inside). @k points into @file.
 */
int kernel_image_probe(const void *file, size_t len, struct kernel_image *k, char *why,
		       size_t whylen);

/*
 * Writes the Image into @dst, decompressing it if need be, and returns its
 * length: at most @cap, and for a compressed one at most its image_size.
 * Negative errno with @why on a stream that is truncated (-ENOEXEC), fails
 * its check (CRC-32, length, zstd or xz check: -ENOEXEC), decompresses to more
 * than that (-E2BIG), or holds another Image than the one probed (-ENOEXEC).
 * @dst's contents are undefined after a failure.
 */
ssize_t kernel_image_unpack(const struct kernel_image *k, void *dst, size_t cap, char *why,
			    size_t whylen);

#endif
