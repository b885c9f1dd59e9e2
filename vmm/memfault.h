/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMFAULT_H
#define TERN_MEMFAULT_H

/*
 * Memory faults, the pure part (no KVM): checking KVM's annotation
 * (run->memory_fault) against the memory map, and the repeat guard. The
 * service that acts on them (vmm/memfault_service.c) is built on this.
 *
 * Why a guard: KVM does not stop a vCPU from faulting on the same address
 * for ever; re-entering without fixing anything gives the same exit again.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory.h"

/* Where a fault came from: the annotation of a failed KVM_RUN, or a SIGBUS. */
enum mem_fault_source {
	MEM_FAULT_FROM_EXIT,		/* KVM_EXIT_MEMORY_FAULT with KVM_RUN's errno */
	MEM_FAULT_FROM_SIGBUS,		/* SIGBUS BUS_MCEERR_AR on the vCPU thread */
};

/* One memory fault of one vCPU, as tern understood it. */
struct mem_fault {
	unsigned int vcpu;
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;			/* KVM_MEMORY_EXIT_FLAG_* */
	int err;			/* EFAULT or EHWPOISON (positive) */
	enum mem_fault_source source;
};

/* The flags tern knows: anything else in an annotation makes it bogus. */
#define MEM_FAULT_KNOWN_FLAGS	(1ULL << 3)	/* KVM_MEMORY_EXIT_FLAG_PRIVATE */

/*
 * Whether @f describes memory of @mem that tern can act on: a non-empty
 * range inside RAM, only known flags, errno EFAULT or EHWPOISON. 0, or
 * -EINVAL with the reason (for the log) in @why.
 */
int memfault_validate(const struct guest_memory *mem, const struct mem_fault *f,
		      char *why, size_t whylen);

/* "vcpu 0: gpa 0x... size 0x... flags 0x... (EHWPOISON)", for messages. */
void memfault_describe(const struct mem_fault *f, char *buf, size_t len);

/*
 * The repeat guard of one vCPU. A fault counts as a repeat when it is the
 * same as the previous one (gpa, flags, errno and the vCPU's pc) and the
 * vCPU made no progress in between (no other exit: memfault_guard_progress()).
 */
struct mem_fault_guard {
	bool armed;			/* last holds a fault */
	uint64_t gpa, flags, pc;
	int err;
	unsigned int count;		/* times in a row, >= 1 once armed */
};

/* Records @f at @pc; returns how many times in a row it has now been seen. */
unsigned int memfault_guard_note(struct mem_fault_guard *g, const struct mem_fault *f,
				 uint64_t pc);
/* The vCPU got somewhere (an exit that is not this fault): forget it. */
void memfault_guard_progress(struct mem_fault_guard *g);

/*
 * Pages of guest RAM that this thread touched while they were poisoned,
 * and that the SIGBUS handler (memfault_service.c) replaced under it with
 * zeroed ones. A device compares the count around its reads of a ring: a
 * change means what it read is not what the driver wrote.
 */
unsigned int memfault_thread_losses(void);
/* The SIGBUS handler replaced a page this thread touched. */
void memfault_thread_note_loss(void);

/*
 * The resolver of every backend tern has today (anon, memfd, hugetlb,
 * guest_memfd): a poisoned page cannot be brought back, so EHWPOISON is
 * MEM_FAULT_POISONED; a plain EFAULT is not something it can fix.
 */
enum mem_fault_verdict memfault_resolve_lost_page(void *owner, const struct mem_fault *f);

#endif
