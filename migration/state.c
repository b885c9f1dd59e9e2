// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/le.h"
#include "migration/state.h"

void sw_init(struct state_writer *w)
{
	*w = (struct state_writer){ 0 };
}

void sw_free(struct state_writer *w)
{
	free(w->buf);
	sw_init(w);
}

static uint8_t *sw_room(struct state_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *p;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->err = -ENOMEM;
				return NULL;
			}
			cap *= 2;
		}
		p = realloc(w->buf, cap);
		if (!p) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	w->len += n;
	/* Nothing to point at when n is 0 (and buf may be NULL: NULL + 0 is UB). */
	return n ? w->buf + w->len - n : NULL;
}

static void sw_le(struct state_writer *w, uint64_t v, unsigned int n)
{
	uint8_t *p = sw_room(w, n);

	if (p)
		put_le(p, v, n);
}

void sw_u8(struct state_writer *w, uint8_t v) { sw_le(w, v, 1); }
void sw_u16(struct state_writer *w, uint16_t v) { sw_le(w, v, 2); }
void sw_u32(struct state_writer *w, uint32_t v) { sw_le(w, v, 4); }
void sw_u64(struct state_writer *w, uint64_t v) { sw_le(w, v, 8); }

void sw_bytes(struct state_writer *w, const void *src, size_t n)
{
	uint8_t *p = sw_room(w, n);

	if (p && n)
		memcpy(p, src, n);
}

void sw_str(struct state_writer *w, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX)
		n = UINT16_MAX;
	sw_u16(w, (uint16_t)n);
	sw_bytes(w, s, n);
}

void sr_init(struct state_reader *r, const void *buf, size_t len)
{
	*r = (struct state_reader){ .buf = buf, .len = len };
}

int sr_fail(struct state_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err)
		return r->err;
	r->err = -EBADMSG;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return r->err;
}

static const uint8_t *sr_take(struct state_reader *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > r->len - r->pos) {
		sr_fail(r, "truncated: %zu bytes wanted at offset %zu, %zu left", n, r->pos,
			r->len - r->pos);
		return NULL;
	}
	r->pos += n;
	return n ? r->buf + r->pos - n : NULL;
}

static uint64_t sr_le(struct state_reader *r, unsigned int n)
{
	const uint8_t *p = sr_take(r, n);

	return p ? get_le(p, n) : 0;
}

uint8_t sr_u8(struct state_reader *r) { return (uint8_t)sr_le(r, 1); }
uint16_t sr_u16(struct state_reader *r) { return (uint16_t)sr_le(r, 2); }
uint32_t sr_u32(struct state_reader *r) { return (uint32_t)sr_le(r, 4); }
uint64_t sr_u64(struct state_reader *r) { return sr_le(r, 8); }

const uint8_t *sr_view(struct state_reader *r, size_t n)
{
	return sr_take(r, n);
}

void sr_bytes(struct state_reader *r, void *dst, size_t n)
{
	const uint8_t *p = sr_take(r, n);

	if (p)
		memcpy(dst, p, n);
	else if (n)
		memset(dst, 0, n);
}

void sr_str(struct state_reader *r, char *buf, size_t size)
{
	uint16_t n = sr_u16(r);

	buf[0] = '\0';
	if (r->err)
		return;
	if (n >= size) {
		sr_fail(r, "string of %u bytes where at most %zu fit", n, size - 1);
		return;
	}
	sr_bytes(r, buf, n);
	buf[r->err ? 0 : n] = '\0';
}

int sr_finish(struct state_reader *r)
{
	if (!r->err && r->pos != r->len)
		sr_fail(r, "%zu unexpected bytes after the state", r->len - r->pos);
	return r->err;
}
