/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MEMORY_H
#define TERN_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest RAM: one anonymous mapping behind one memslot. */
struct guest_memory {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

int guest_memory_alloc(struct guest_memory *mem, uint64_t gpa, uint64_t size);
void guest_memory_free(struct guest_memory *mem);

/* Registers the RAM with KVM as memslot @slot. -errno. */
int guest_memory_register(const struct guest_memory *mem, int vm_fd, unsigned int slot);

/* Re-registers memslot @slot with dirty logging on or off (for a migration). */
int guest_memory_set_dirty_log(const struct guest_memory *mem, int vm_fd, unsigned int slot,
			       bool on);

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

#endif
