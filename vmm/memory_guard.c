// SPDX-License-Identifier: GPL-2.0-only
/* Guest RAM between guard regions (vmm/memory_guard.h). */
#include <errno.h>
#include <sys/mman.h>

#include "memory_guard.h"

void *guarded_mmap(uint64_t size, uint64_t align, int flags, int fd)
{
	uint64_t total;
	uintptr_t base, ram, end;
	void *p, *r;
	int err;

	if (align < MEMORY_GUARD_BYTES)
		align = MEMORY_GUARD_BYTES;
	total = size + 2 * MEMORY_GUARD_BYTES + align;
	/* Address space only: PROT_NONE, no commit charge. */
	p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	base = (uintptr_t)p;
	ram = (base + MEMORY_GUARD_BYTES + align - 1) & ~(uintptr_t)(align - 1);
	r = mmap((void *)ram, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
	if (r == MAP_FAILED) {
		err = errno;
		munmap(p, total);
		errno = err;
		return MAP_FAILED;
	}
	/* Keep exactly one guard on each side; give back the alignment slack. */
	end = ram + size + MEMORY_GUARD_BYTES;
	if (ram - MEMORY_GUARD_BYTES > base)
		munmap(p, ram - MEMORY_GUARD_BYTES - base);
	if (base + total > end)
		munmap((void *)end, base + total - end);
	/* Guest memory is the guest's: never in a core file of tern. */
	madvise(r, size, MADV_DONTDUMP);
	return r;
}

void guarded_munmap(void *ram, uint64_t size)
{
	munmap((char *)ram - MEMORY_GUARD_BYTES, size + 2 * MEMORY_GUARD_BYTES);
}
