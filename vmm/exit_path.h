/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_EXIT_PATH_H
#define TERN_EXIT_PATH_H

#include <stdint.h>
#include <string.h>

/*
 * EXIT_PATH marks what a vCPU thread runs between KVM_RUN's return and its
 * next KVM_RUN for an exit a device serves: the run loop, the dispatch, the
 * PCI host's decoding. GCC's "hot" puts each such function in .text.hot,
 * which the linker gathers in one place at the front of .text, so an exit's
 * own code spans two or three pages instead of one per source file. Few
 * pages matter most right after a guest exit, when the CPU's TLBs and caches
 * hold the guest's translations, not tern's (bench/exits.sh measures the
 * difference). Error paths stay unmarked.
 */
#define EXIT_PATH __attribute__((hot))
/* The run loop itself: kept out of its thread's function, whose set-up and
 * teardown are not on the path, so that it is placed with the rest. */
#define EXIT_PATH_LOOP __attribute__((hot, noinline))

/*
 * Copies an MMIO access's @len bytes (1, 2, 4 or 8, the sizes an access
 * has; any other length is copied too, by memcpy). The fixed-size cases
 * compile to one load and one store: no call into the C library, whose
 * string functions sit pages away from the exit path.
 */
static inline void mmio_copy(void *dst, const void *src, unsigned int len)
{
	switch (len) {
	case 1: memcpy(dst, src, 1); break;
	case 2: memcpy(dst, src, 2); break;
	case 4: memcpy(dst, src, 4); break;
	case 8: memcpy(dst, src, 8); break;
	default: memcpy(dst, src, len); break;
	}
}

/* Fills an MMIO access's @len bytes with @byte, as mmio_copy. */
static inline void mmio_fill(void *dst, uint8_t byte, unsigned int len)
{
	uint64_t pattern = 0x0101010101010101ULL * byte;

	if (len > sizeof(pattern))
		memset(dst, byte, len);
	else
		mmio_copy(dst, &pattern, len);
}

#endif
