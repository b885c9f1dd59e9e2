/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMORY_GUARD_H
#define TERN_MEMORY_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* Inaccessible bytes on each side of guest RAM's host mapping: a device
 * model's access that runs off either end faults instead of reaching
 * tern's own memory. A multiple of 2 MiB, so the RAM stays aligned for
 * transparent huge pages. */
#define MEMORY_GUARD_BYTES	(2ULL << 20)

/*
 * mmap(2) of guest RAM (PROT_READ | PROT_WRITE, @flags, @fd) between two
 * PROT_NONE guard regions, aligned to @align (a power of two, at least
 * MEMORY_GUARD_BYTES: a huge page size for hugetlb), and excluded from core
 * dumps (MADV_DONTDUMP). Returns the RAM's address, or MAP_FAILED with
 * errno set. Undone by guarded_munmap().
 */
void *guarded_mmap(uint64_t size, uint64_t align, int flags, int fd);
void guarded_munmap(void *ram, uint64_t size);

#endif
