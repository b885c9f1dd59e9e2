// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest RAM's host mapping for each backend, without KVM (the guest_memfd
 * itself comes from KVM: vmm/memory.c). Unit-tested natively.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "memfault.h"
#include "memory_map.h"
#include "memory_guard.h"

static const char *const backend_names[MEM_BACKEND_NR] = {
	[MEM_BACKEND_ANON]		= "anon",
	[MEM_BACKEND_MEMFD]		= "memfd",
	[MEM_BACKEND_HUGETLB]		= "hugetlb",
	[MEM_BACKEND_GUEST_MEMFD]	= "guest_memfd",
};

const char *mem_backend_name(enum mem_backend backend)
{
	return (unsigned int)backend < MEM_BACKEND_NR ? backend_names[backend] : NULL;
}

int mem_backend_parse(const char *name, size_t len)
{
	for (int i = 0; i < MEM_BACKEND_NR; i++)
		if (strlen(backend_names[i]) == len && !memcmp(backend_names[i], name, len))
			return i;
	return -EINVAL;
}

static int map_failed(const char *what, uint64_t size, int err)
{
	pr_err("cannot map %llu MiB of guest RAM (%s): %s", (unsigned long long)(size >> 20),
	       what, strerror(err));
	return -err;
}

static void *map_anon(uint64_t size)
{
	/* NORESERVE: the guest touches what it uses; a 4 GiB guest that boots to
	 * a shell should not need 4 GiB of commit charge. */
	void *p = guarded_mmap(size, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);

	/* Transparent huge pages shorten stage-2 walks; advisory only. */
	if (p != MAP_FAILED)
		madvise(p, size, MADV_HUGEPAGE);
	return p;
}

/* A memfd of @size: 0 with *fd set, or -errno with a message. */
static int create_memfd(enum mem_backend backend, uint64_t size, int *fd)
{
	unsigned int flags = MFD_CLOEXEC | (backend == MEM_BACKEND_HUGETLB ? MFD_HUGETLB : 0);
	int f = memfd_create("tern-guest-ram", flags), err;

	if (f < 0) {
		err = errno;
		pr_err("memfd_create(%s) for guest RAM failed: %s%s", mem_backend_name(backend),
		       strerror(err), backend == MEM_BACKEND_HUGETLB ?
		       " (the kernel needs CONFIG_HUGETLBFS)" : "");
		return -err;
	}
	if (ftruncate(f, (off_t)size) < 0) {
		err = errno;
		pr_err("sizing the %s guest RAM to %llu MiB failed: %s%s", mem_backend_name(backend),
		       (unsigned long long)(size >> 20), strerror(err),
		       backend == MEM_BACKEND_HUGETLB ? " (is --memory a multiple of the huge page size?)" : "");
		close(f);
		return -err;
	}
	*fd = f;
	return 0;
}

static int hugetlb_shortage(uint64_t size)
{
	long huge = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "Hugepagesize: %ld kB", &huge);
	if (f)
		fclose(f);
	pr_err("not enough free huge pages for %llu MiB of guest RAM (backend=hugetlb): reserve them first, e.g. echo %llu > /proc/sys/vm/nr_hugepages (as root; %ld KiB pages, see HugePages_Free in /proc/meminfo)",
	       (unsigned long long)(size >> 20),
	       huge > 0 ? (unsigned long long)(size / ((uint64_t)huge << 10)) : 0ULL, huge);
	return -ENOMEM;
}

/* hugetlbfs reports its page size as the file's block size. */
static uint64_t huge_page_size(int fd, uint64_t fallback)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || st.st_blksize <= 0 || (st.st_blksize & (st.st_blksize - 1)))
		return fallback;
	return (uint64_t)st.st_blksize;
}

/* MAP_SHARED over a memfd or guest_memfd: the VMM's view of the RAM. */
static void *map_fd(enum mem_backend backend, int fd, uint64_t size)
{
	/* hugetlb: no NORESERVE, so that mmap() reserves the huge pages now
	 * and fails here, rather than the guest getting SIGBUS later. */
	int flags = MAP_SHARED | (backend == MEM_BACKEND_HUGETLB ? 0 : MAP_NORESERVE);

	return guarded_mmap(size, huge_page_size(fd, 0), flags, fd);
}

int guest_memory_map(struct guest_memory *mem, enum mem_backend backend, int fd,
		     uint64_t gpa, uint64_t size)
{
	void *p;
	int ret, err;

	*mem = (struct guest_memory){ .gpa = gpa, .size = size, .backend = backend, .fd = -1,
				      .page_size = (uint64_t)sysconf(_SC_PAGESIZE),
				      .resolve = memfault_resolve_lost_page };
	if (backend == MEM_BACKEND_ANON) {
		p = map_anon(size);
		if (p == MAP_FAILED)
			return map_failed("anon", size, errno);
		mem->hva = p;
		return 0;
	}
	if (backend == MEM_BACKEND_MEMFD || backend == MEM_BACKEND_HUGETLB) {
		ret = create_memfd(backend, size, &fd);
		if (ret < 0)
			return ret;
	}
	p = map_fd(backend, fd, size);
	if (p == MAP_FAILED) {
		err = errno;
		if (backend != MEM_BACKEND_GUEST_MEMFD)
			close(fd);
		if (backend == MEM_BACKEND_HUGETLB && err == ENOMEM)
			return hugetlb_shortage(size);
		return map_failed(mem_backend_name(backend), size, err);
	}
	mem->hva = p;
	mem->fd = fd;
	if (backend == MEM_BACKEND_HUGETLB)
		mem->page_size = huge_page_size(fd, mem->page_size);
	return 0;
}

int guest_memory_replace(const struct guest_memory *mem, uint64_t gpa, uint64_t *start,
			 uint64_t *len)
{
	uint64_t off;
	void *p;

	if (!mem->hva || !gpa_to_hva(mem, gpa, 1))
		return -ERANGE;
	off = (gpa - mem->gpa) & ~(mem->page_size - 1);
	if (mem->backend == MEM_BACKEND_ANON) {
		/* MAP_FIXED replaces the mapping of the page, poison and all;
		 * KVM's MMU notifier drops its stage-2 entry with it. */
		p = mmap(mem->hva + off, mem->page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED || madvise(p, mem->page_size, MADV_DONTDUMP) < 0)
			return -errno;
	} else {
		/* The punched page leaves the file's page cache, poisoned or
		 * not (guest_memfd: kvm_gmem_punch_hole() also invalidates the
		 * stage-2 entries); the next access allocates a new one. */
		if (fallocate(mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(mem->fd_offset + off), (off_t)mem->page_size) < 0)
			return -errno;
		/* A truncation leaves the hwpoison entries of the file's
		 * mappings in place (mm/memory.c: zap_nonpresent_ptes() drops
		 * them only when told to zap COW pages too, as MADV_DONTNEED
		 * does): tern's own, which KVM faults through, must go. */
		if (mem->backend != MEM_BACKEND_GUEST_MEMFD &&
		    madvise(mem->hva + off, mem->page_size, MADV_DONTNEED) < 0)
			return -errno;
	}
	*start = mem->gpa + off;
	*len = mem->page_size;
	return 0;
}

void guest_memory_touch(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(page - 1), end = (uintptr_t)p + len;

	for (; len && a < end; a += page)
		(void)*(const volatile uint8_t *)(a < (uintptr_t)p ? (uintptr_t)p : a);
}

void guest_memory_free(struct guest_memory *mem)
{
	if (mem->hva)
		guarded_munmap(mem->hva, mem->size);
	mem->hva = NULL;
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
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
