/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_LE_H
#define TERN_LE_H

#include <stdint.h>

/* The little-endian fields of tern's wire formats and of PCI config space,
 * byte by byte: no alignment and no host byte order assumed. */

static inline void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
