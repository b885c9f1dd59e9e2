/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMORY_H
#define TERN_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include "memory_map.h"

/* Guest RAM and KVM (memory.c): its creation and its memslot. */

/* Creates the memory, with KVM for guest_memfd (on @vm_fd). -errno. */
int guest_memory_alloc(struct guest_memory *mem, int vm_fd, enum mem_backend backend,
		       uint64_t gpa, uint64_t size);

/* Registers the RAM with KVM as memslot @slot. -errno. */
int guest_memory_register(const struct guest_memory *mem, int vm_fd, unsigned int slot);

/* Re-registers memslot @slot with dirty logging on or off (for a migration). */
int guest_memory_set_dirty_log(const struct guest_memory *mem, int vm_fd, unsigned int slot,
			       bool on);

#endif
