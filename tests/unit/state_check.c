// SPDX-License-Identifier: GPL-2.0-only
/* The checks of state_check.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "state_check.h"

void assert_same_state(const struct state_writer *a, const struct state_writer *b)
{
	assert_int_equal(a->err, 0);
	assert_int_equal(b->err, 0);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/* Loads @len bytes of @buf into a fresh instance; the message in @msg. */
static int try_load(const struct model *m, const void *buf, size_t len, char *msg)
{
	void *obj = m->create(m->ctx);
	struct state_reader r;
	int ret;

	assert_non_null(obj);
	sr_init(&r, buf, len);
	ret = m->load(obj, &r);
	if (!ret)
		ret = sr_finish(&r);
	snprintf(msg, STATE_MSG_MAX, "%s", r.msg);
	m->destroy(obj);
	return ret;
}

void assert_loads(const struct model *m, const struct state_writer *w)
{
	char msg[STATE_MSG_MAX];

	if (try_load(m, w->buf, w->len, msg))
		fail_msg("refused its own state: %s", msg);
}

/* Refused, with a message that contains @why. */
void assert_refused(const struct model *m, const void *buf, size_t len, const char *why)
{
	char msg[STATE_MSG_MAX];

	assert_int_equal(try_load(m, buf, len, msg), -EBADMSG);
	if (!strstr(msg, why))
		fail_msg("refused with \"%s\", not for \"%s\"", msg, why);
}

/* @w's bytes with the @n-byte little-endian field at @off set to @v. */
void assert_refused_with(const struct model *m, const struct state_writer *w, size_t off,
				uint64_t v, unsigned int n, const char *why)
{
	uint8_t *copy = malloc(w->len);

	assert_non_null(copy);
	assert_true(off + n <= w->len);
	memcpy(copy, w->buf, w->len);
	for (unsigned int i = 0; i < n; i++)
		copy[off + i] = (uint8_t)(v >> (8 * i));
	assert_refused(m, copy, w->len, why);
	free(copy);
}

/* Every proper prefix of a good state is refused as truncated (values are
 * checked only once read whole), and so is one byte more. */
void assert_truncations_refused(const struct model *m, const struct state_writer *w)
{
	uint8_t *longer = calloc(1, w->len + 1);

	for (size_t len = 0; len < w->len; len++)
		assert_refused(m, w->buf, len, "truncated");
	assert_non_null(longer);
	memcpy(longer, w->buf, w->len);
	assert_refused(m, longer, w->len + 1, "unexpected bytes");
	free(longer);
}

/* The first bytes of every state: a u16-prefixed model name, a u16 version. */
size_t header_len(const char *model)
{
	return 2 + strlen(model) + 2;
}
