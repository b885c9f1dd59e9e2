// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: any file passed as --kernel goes through
 * arm64_image_parse(), and an accepted header through boot_plan_compute().
 * Neither may read out of bounds, overflow, or produce a plan outside RAM.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/image.h"
#include "vmm/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A plan must keep kernel, initrd and DTB inside RAM and apart. */
static void check_plan(const struct boot_plan *p, uint64_t ram_base, uint64_t ram_size)
{
	uint64_t ram_end = ram_base + ram_size;
	uint64_t next = p->initrd_size ? p->initrd_addr : p->dtb_addr;

	if (p->kernel_addr < ram_base || p->kernel_end < p->kernel_addr || p->kernel_end > next)
		abort();
	if (p->initrd_size && p->initrd_addr + p->initrd_size > p->dtb_addr)
		abort();
	if (p->dtb_addr % 8 || p->dtb_addr + BOOT_DTB_MAX > ram_end)
		abort();
}

static void plan(const struct arm64_image *img, uint64_t ram_size, uint64_t initrd_size)
{
	struct boot_plan p;
	char why[256];

	if (boot_plan_compute(img, LAYOUT_RAM_BASE, ram_size, initrd_size, &p, why,
			      sizeof(why)) == 0)
		check_plan(&p, LAYOUT_RAM_BASE, ram_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arm64_image img;
	uint64_t initrd_size = 0;
	char why[256];

	if (arm64_image_parse(data, size, &img, why, sizeof(why)))
		return 0;
	if (img.file_size != size)
		abort();
	/* Let the input pick an initrd size too: its last 8 bytes. */
	if (size >= 72)
		memcpy(&initrd_size, data + size - 8, 8);
	plan(&img, LAYOUT_RAM_MIN, 0);
	plan(&img, 512 * MiB, initrd_size);
	plan(&img, 512 * MiB, initrd_size % (512 * MiB));
	plan(&img, 64 * GiB, initrd_size);
	return 0;
}
