/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_FUZZ_INPUT_H
#define TERN_FUZZ_INPUT_H

/*
 * What the fuzz targets share: a property that must hold, and the input read
 * as a program a byte or a number at a time. Past the end of the input every
 * byte reads as zero, so a step never has to ask how much is left.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fuzz_input {
	const uint8_t *in;
	size_t left;
};

/* A broken property aborts, so libFuzzer keeps the input that showed it;
 * which property, and where, goes to stderr first. */
static inline void check_at(bool cond, const char *what, const char *file, int line)
{
	if (cond)
		return;
	fprintf(stderr, "%s:%d: property broken: %s\n", file, line, what);
	abort();
}
#define check(cond) check_at((cond), #cond, __FILE__, __LINE__)

static inline uint8_t next(struct fuzz_input *p)
{
	if (!p->left)
		return 0;
	p->left--;
	return *p->in++;
}

/* The next @bytes bytes (at most 8), the first the most significant. */
static inline uint64_t next_be(struct fuzz_input *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v = v << 8 | next(p);
	return v;
}

/* The next @bytes bytes (at most 8), the first the least significant. */
static inline uint64_t next_le(struct fuzz_input *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)next(p) << (8 * i);
	return v;
}

#endif
