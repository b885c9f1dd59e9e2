// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm.h"
#include "log.h"
#include "memory.h"

int guest_memory_alloc(struct guest_memory *mem, uint64_t gpa, uint64_t size)
{
	/* NORESERVE: the guest touches what it uses; a 4 GiB guest that boots to
	 * a shell should not need 4 GiB of commit charge. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		int err = errno;

		pr_err("cannot map %llu MiB of guest RAM: %s", (unsigned long long)(size >> 20),
		       strerror(err));
		return -err;
	}
	/* Transparent huge pages shorten stage-2 walks; advisory only. */
	madvise(p, size, MADV_HUGEPAGE);
	mem->gpa = gpa;
	mem->size = size;
	mem->hva = p;
	return 0;
}

void guest_memory_free(struct guest_memory *mem)
{
	if (mem->hva)
		munmap(mem->hva, mem->size);
	mem->hva = NULL;
}

static int register_slot(const struct guest_memory *mem, int vm_fd, unsigned int slot,
			 uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = mem->gpa,
		.memory_size = mem->size,
		.userspace_addr = (uint64_t)(unsigned long)mem->hva,
	};

	return (int)kvm_ioctl_checked("vm", vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

int guest_memory_register(const struct guest_memory *mem, int vm_fd, unsigned int slot)
{
	return register_slot(mem, vm_fd, slot, 0);
}

/* Only the flags change: KVM keeps the slot's mappings and contents. */
int guest_memory_set_dirty_log(const struct guest_memory *mem, int vm_fd, unsigned int slot,
			       bool on)
{
	return register_slot(mem, vm_fd, slot, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}


uint64_t guest_memory_resident(const struct guest_memory *mem)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = mem->size / page;
	unsigned char *vec = malloc(pages);
	uint64_t resident = 0;

	if (!vec || mincore(mem->hva, mem->size, vec) < 0) {
		free(vec);
		return 0;
	}
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	free(vec);
	return resident * page;
}
