/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMORY_MAP_H
#define TERN_MEMORY_MAP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "config.h"
#include "written_log.h"

struct mem_fault;

/* The host's page size: the unit of KVM's dirty log, of guest_memory's
 * mappings and of a stream's RAM sections. */
static inline size_t host_page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* What a memory owner says about a fault in its memory (memfault.h). */
enum mem_fault_verdict {
	MEM_FAULT_RETRY,	/* fixed (or may be): run the vCPU again */
	MEM_FAULT_POISONED,	/* the page is lost: the guest must take an abort */
	MEM_FAULT_UNRESOLVED,	/* nothing the owner can do: stop the VM */
};

/*
 * The owner of a range of guest memory decides what a memory fault in it
 * means. One function per backend today. KVM's userfault exits (missing
 * pages reported as memory faults) would plug in here by installing their
 * own resolver; post-copy over userfaultfd needs none, since a missing page
 * waits inside KVM's fault path and never becomes an exit.
 */
typedef enum mem_fault_verdict mem_fault_resolver(void *owner, const struct mem_fault *fault);

/*
 * Guest RAM: one host mapping behind one memslot, whatever the backend.
 * hva stays valid (and is how tern itself reads and writes the RAM) for
 * every backend: for guest_memfd it is the mmap of the guest_memfd.
 */
struct guest_memory {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	enum mem_backend backend;
	int fd;				/* memfd, hugetlb memfd or guest_memfd; -1: anon */
	uint64_t fd_offset;		/* of gpa in fd */
	uint64_t page_size;		/* the backing's page: the huge page for hugetlb */
	mem_fault_resolver *resolve;
	void *owner;			/* the resolver's state */
	struct written_log *written;	/* what tern writes, for migration; or NULL */
};

/* "anon", "memfd", ...; NULL for a value out of range. */
const char *mem_backend_name(enum mem_backend backend);
/* The backend called @name, or -EINVAL. */
int mem_backend_parse(const char *name, size_t len);

/*
 * Guest RAM's host side, no KVM (memory_map.c, unit-tested): the mapping of
 * each backend, the replacement of a poisoned page, and address
 * translation. memory.h adds what KVM does with it.
 */

/*
 * Maps @size bytes for @mem with @backend, except guest_memfd (whose fd
 * comes from KVM: pass it in @fd, and the mapping of it is made here).
 * Pure host work, no KVM: unit-tested. -errno with a message.
 */
int guest_memory_map(struct guest_memory *mem, enum mem_backend backend, int fd,
		     uint64_t gpa, uint64_t size);
void guest_memory_free(struct guest_memory *mem);

/*
 * Replaces the host page behind @gpa with a fresh, zeroed one: a new
 * anonymous mapping over it (anon), or a hole punched in the file (memfd,
 * hugetlb, guest_memfd), which the next access fills again. For a page the
 * kernel poisoned: the guest's next use of that guest-physical page finds
 * healthy memory. The whole backing page goes (a huge page for hugetlb): its
 * start and length in @start and @len. Only system calls, no locks and no
 * messages: safe in a signal handler. 0, or -errno (-ERANGE: not RAM).
 */
int guest_memory_replace(const struct guest_memory *mem, uint64_t gpa, uint64_t *start,
			 uint64_t *len);

/* Reads one byte of each page of [@p, @p + @len): a poisoned one among them
 * raises SIGBUS now, on this thread (memfault_service.c replaces it). */
void guest_memory_touch(const void *p, size_t len);

/* Bytes of guest RAM resident in the host (mincore), for RSS accounting. */
uint64_t guest_memory_resident(const struct guest_memory *mem);

/* Host address of [gpa, gpa + len), or NULL if any of it is outside RAM.
 * Written so that no sum can overflow: gpa and len come from the guest. */
static inline void *gpa_to_hva(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	if (gpa < mem->gpa || len > mem->size || gpa - mem->gpa > mem->size - len)
		return NULL;
	return mem->hva + (gpa - mem->gpa);
}

/* tern wrote [@hva, @hva + @len) (inside RAM): logged for a migration. */
static inline void guest_memory_note_write(const struct guest_memory *mem, const void *hva,
					   uint64_t len)
{
	uintptr_t p = (uintptr_t)hva, base = (uintptr_t)mem->hva;

	if (mem->written && p >= base && p - base < mem->size)
		written_log_mark(mem->written, p - base, len);
}

/* The guest address of host address @hva, if it is in RAM: 0, or -ERANGE. */
static inline int hva_to_gpa(const struct guest_memory *mem, const void *hva, uint64_t *gpa)
{
	uintptr_t p = (uintptr_t)hva, base = (uintptr_t)mem->hva;

	if (!mem->hva || p < base || p - base >= mem->size)
		return -ERANGE;
	*gpa = mem->gpa + (p - base);
	return 0;
}

#endif
