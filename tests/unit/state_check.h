/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Checks shared by the device-state tests: a model's saved state must load
 * into a fresh instance, and damaged states must be refused with a reason.
 */
#ifndef TERN_TEST_STATE_CHECK_H
#define TERN_TEST_STATE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "migration/le.h"
#include "migration/state.h"

/*
 * A model under test, as the refusal checks see it: make a fresh instance,
 * load a state into it, free it. @ctx is the test's.
 */
struct model {
	void *(*create)(void *ctx);
	int (*load)(void *obj, struct state_reader *r);
	void (*destroy)(void *obj);
	void *ctx;
};

/* Equal lengths and bytes, both written without error. */
void assert_same_state(const struct state_writer *a, const struct state_writer *b);
/* @w loads into a fresh instance of @m. */
void assert_loads(const struct model *m, const struct state_writer *w);
/* Refused, with a message that contains @why. */
void assert_refused(const struct model *m, const void *buf, size_t len, const char *why);
/* @w's bytes with the @n-byte little-endian field at @off set to @v: refused. */
void assert_refused_with(const struct model *m, const struct state_writer *w, size_t off,
			 uint64_t v, unsigned int n, const char *why);
/* Every proper prefix of a good state is refused as truncated, and so is
 * one byte more. */
void assert_truncations_refused(const struct model *m, const struct state_writer *w);
/* The first bytes of every state: a u16-prefixed model name, a u16 version. */
size_t header_len(const char *model);

#endif
