/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_STATE_H
#define TERN_STATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Byte-level encoding of a piece of saved state: what a device, a vCPU or
 * the GIC puts in its section of a snapshot (migration/stream.h frames the
 * sections). Integers are little-endian, fixed width; no padding, no
 * pointers. Errors are sticky: a writer that ran out of memory, or a reader
 * that ran past the end or met a value it refuses, keeps its first error and
 * ignores the rest, so callers check once at the end.
 *
 * A reader trusts nothing: whatever it returns after an error is zero, and
 * sr_fail() lets a loader refuse a value with a message that names it.
 */
struct state_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err;			/* 0 or -ENOMEM */
};

void sw_init(struct state_writer *w);
void sw_free(struct state_writer *w);
void sw_u8(struct state_writer *w, uint8_t v);
void sw_u16(struct state_writer *w, uint16_t v);
void sw_u32(struct state_writer *w, uint32_t v);
void sw_u64(struct state_writer *w, uint64_t v);
void sw_bytes(struct state_writer *w, const void *p, size_t n);
/* A length-prefixed (u16) string. */
void sw_str(struct state_writer *w, const char *s);

#define STATE_MSG_MAX 192

struct state_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err;			/* 0, -EBADMSG (truncated/refused) */
	char msg[STATE_MSG_MAX];	/* why, once err is set */
};

void sr_init(struct state_reader *r, const void *buf, size_t len);
uint8_t sr_u8(struct state_reader *r);
uint16_t sr_u16(struct state_reader *r);
uint32_t sr_u32(struct state_reader *r);
uint64_t sr_u64(struct state_reader *r);
void sr_bytes(struct state_reader *r, void *p, size_t n);
/* The next @n bytes where they are in the buffer, consumed; NULL (and the
 * reader failed as truncated) if fewer are left. For large fields read in
 * place. */
const uint8_t *sr_view(struct state_reader *r, size_t n);
/* Reads a string written by sw_str into @buf (@size with the NUL); a longer
 * one is an error. */
void sr_str(struct state_reader *r, char *buf, size_t size);
/* Records the first error with a message; returns -EBADMSG. */
int sr_fail(struct state_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 0 if everything was read without error and nothing is left over. */
int sr_finish(struct state_reader *r);

static inline bool sr_ok(const struct state_reader *r)
{
	return r->err == 0;
}

#endif
