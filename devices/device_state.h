/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DEVICE_STATE_H
#define TERN_DEVICE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "migration/state.h"

/*
 * Small helpers shared by the devices' save/load (migration/state.h does
 * the encoding). A device's state starts with its model's name and the
 * version of its format, so that state saved by one model is refused by
 * every other one with a message that says so, before any field is read.
 */
#define DEV_STATE_NAME_MAX	32

static inline void dev_state_begin(struct state_writer *w, const char *model, uint16_t version)
{
	sw_str(w, model);
	sw_u16(w, version);
}

/* Whether @s is a name a model could have: printable ASCII, so it can go
 * into a message as it is. */
static inline bool dev_state_name_ok(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* 0 if what follows is @model's state in format @version; else refuses. */
static inline int dev_state_check(struct state_reader *r, const char *model, uint16_t version)
{
	char name[DEV_STATE_NAME_MAX];
	uint16_t v;

	sr_str(r, name, sizeof(name));
	v = sr_u16(r);
	if (!sr_ok(r))
		return r->err;
	if (strcmp(name, model))
		return sr_fail(r, "state of a %s, not of a %s", dev_state_name_ok(name) ?
			       name : "device of another kind", model);
	if (v != version)
		return sr_fail(r, "%s state format %u; this tern reads format %u", model, v,
			       version);
	return 0;
}

/* A flag saved as one byte: 0 or 1, anything else refused as @what. */
static inline bool dev_state_bool(struct state_reader *r, const char *what)
{
	uint8_t v = sr_u8(r);

	if (v > 1)
		sr_fail(r, "%s is %u, not 0 or 1", what, v);
	return v == 1;
}

#endif
