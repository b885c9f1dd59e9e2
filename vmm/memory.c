// SPDX-License-Identifier: GPL-2.0-only
/* Guest RAM and KVM: the guest_memfd backend's fd, and the memslot. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "memory.h"

#define GMEM_FLAGS	(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

/*
 * A guest_memfd that tern can mmap and that starts shared (guest and VMM
 * both use it, as with ordinary RAM). Needs the VM: it belongs to it.
 */
static int create_guest_memfd(int vm_fd, uint64_t size)
{
	struct kvm_create_guest_memfd gmem = { .size = size, .flags = GMEM_FLAGS };
	int supported = kvm_check_extension(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS);
	long fd;

	if (!kvm_check_extension(vm_fd, KVM_CAP_GUEST_MEMFD) ||
	    !kvm_check_extension(vm_fd, KVM_CAP_USER_MEMORY2)) {
		pr_err("--memory backend=guest_memfd: this KVM lacks KVM_CAP_GUEST_MEMFD or KVM_CAP_USER_MEMORY2 (arm64 needs Linux 6.18+)");
		return -ENOTSUP;
	}
	if ((supported & GMEM_FLAGS) != GMEM_FLAGS) {
		pr_err("--memory backend=guest_memfd: KVM_CAP_GUEST_MEMFD_FLAGS is %#x, without GUEST_MEMFD_FLAG_MMAP|INIT_SHARED (%#llx): the VMM could not map the RAM (arm64 needs Linux 6.18+, and no MTE)",
		       supported, (unsigned long long)GMEM_FLAGS);
		return -ENOTSUP;
	}
	fd = kvm_ioctl_checked("vm", vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
	return (int)fd;
}

int guest_memory_alloc(struct guest_memory *mem, int vm_fd, enum mem_backend backend,
		       uint64_t gpa, uint64_t size)
{
	int fd = -1, ret;

	if (backend == MEM_BACKEND_GUEST_MEMFD) {
		fd = create_guest_memfd(vm_fd, size);
		if (fd < 0)
			return fd;
	}
	ret = guest_memory_map(mem, backend, fd, gpa, size);
	if (ret < 0 && fd >= 0)
		close(fd);
	return ret;
}

static int register_guest_memfd(const struct guest_memory *mem, int vm_fd, unsigned int slot,
				uint32_t flags)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = slot,
		.flags = KVM_MEM_GUEST_MEMFD | flags,
		.guest_phys_addr = mem->gpa,
		.memory_size = mem->size,
		.userspace_addr = (uint64_t)(unsigned long)mem->hva,
		.guest_memfd = (uint32_t)mem->fd,
		.guest_memfd_offset = mem->fd_offset,
	};

	return (int)kvm_ioctl_checked("vm", vm_fd, KVM_SET_USER_MEMORY_REGION2, &region);
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

	if (mem->backend == MEM_BACKEND_GUEST_MEMFD)
		return register_guest_memfd(mem, vm_fd, slot, flags);
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

