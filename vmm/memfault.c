// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "exit_path.h"
#include "memfault.h"

/* Written by this thread's SIGBUS handler, read by the thread itself. */
static __thread volatile sig_atomic_t thread_losses;

unsigned int memfault_thread_losses(void)
{
	return (unsigned int)thread_losses;
}

void memfault_thread_note_loss(void)
{
	thread_losses = thread_losses + 1;
}

static const char *errno_name(int err)
{
	switch (err) {
	case EFAULT: return "EFAULT";
	case EHWPOISON: return "EHWPOISON";
	default: return "unexpected errno";
	}
}

int memfault_validate(const struct guest_memory *mem, const struct mem_fault *f,
		      char *why, size_t whylen)
{
	if (f->err != EFAULT && f->err != EHWPOISON) {
		snprintf(why, whylen, "errno %d is neither EFAULT nor EHWPOISON", f->err);
		return -EINVAL;
	}
	if (f->flags & ~MEM_FAULT_KNOWN_FLAGS) {
		snprintf(why, whylen, "unknown flags %#llx (known: %#llx)",
			 (unsigned long long)(f->flags & ~MEM_FAULT_KNOWN_FLAGS),
			 (unsigned long long)MEM_FAULT_KNOWN_FLAGS);
		return -EINVAL;
	}
	if (!f->size) {
		snprintf(why, whylen, "size 0");
		return -EINVAL;
	}
	/* gpa_to_hva() checks without overflow that the whole range is RAM. */
	if (!gpa_to_hva(mem, f->gpa, f->size)) {
		snprintf(why, whylen, "[%#" PRIx64 ", +%#" PRIx64 ") is not inside RAM [%#" PRIx64 ", +%#" PRIx64 ")",
			 f->gpa, f->size, mem->gpa, mem->size);
		return -EINVAL;
	}
	return 0;
}

void memfault_describe(const struct mem_fault *f, char *buf, size_t len)
{
	snprintf(buf, len, "vcpu %u: gpa 0x%" PRIx64 " size 0x%" PRIx64 " flags 0x%" PRIx64 " (%s%s)",
		 f->vcpu, f->gpa, f->size, f->flags, errno_name(f->err),
		 f->source == MEM_FAULT_FROM_SIGBUS ? ", SIGBUS BUS_MCEERR_AR" : "");
}

unsigned int memfault_guard_note(struct mem_fault_guard *g, const struct mem_fault *f,
				 uint64_t pc)
{
	bool same = g->armed && g->gpa == f->gpa && g->flags == f->flags && g->err == f->err &&
		    g->pc == pc;

	if (same) {
		if (g->count < UINT32_MAX)
			g->count++;
		return g->count;
	}
	*g = (struct mem_fault_guard){
		.armed = true, .gpa = f->gpa, .flags = f->flags, .pc = pc, .err = f->err, .count = 1,
	};
	return 1;
}

EXIT_PATH void memfault_guard_progress(struct mem_fault_guard *g)
{
	g->armed = false;
	g->count = 0;
}

enum mem_fault_verdict memfault_resolve_lost_page(void *owner, const struct mem_fault *f)
{
	(void)owner;
	return f->err == EHWPOISON ? MEM_FAULT_POISONED : MEM_FAULT_UNRESOLVED;
}
