// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: any file passed as --kernel goes through
 * kernel_image_probe() (format detection, zboot header, the Image header read
 * out of a gzip or zstd stream), and an accepted one through
 * kernel_image_unpack() into a bounded buffer. Nothing may read or write out
 * of bounds, and what unpack reports must fit its room and the header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmm/kernel_image.h"

#define ROOM	(1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t room[ROOM];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kernel_image k;
	char why[256];
	ssize_t n;

	if (kernel_image_probe(data, size, &k, why, sizeof(why)))
		return 0;
	/* The payload lies inside the file. */
	if (k.data < data || k.len > size || (size_t)(k.data - data) > size - k.len)
		abort();
	if (k.packing != KERNEL_PLAIN && k.image.image_size == 0)
		abort();
	n = kernel_image_unpack(&k, room, ROOM, why, sizeof(why));
	if (n < 0)
		return 0;
	if ((size_t)n > ROOM || (k.packing != KERNEL_PLAIN && (uint64_t)n > k.image.image_size))
		abort();
	if (k.packing == KERNEL_PLAIN && (size_t)n != size)
		abort();
	return 0;
}
