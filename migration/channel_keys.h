/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CHANNEL_KEYS_H
#define TERN_CHANNEL_KEYS_H

#include "migration/channel_sec.h"
#include "vmm/config.h"

struct vm;

/* What migration_keys_load read: vm->keys. */
struct migration_keys {
	struct channel_spec incoming;		/* --incoming */
	struct channel_spec migrate_to[CONFIG_MAX_MIGRATE_TO];	/* --migrate-to */
};

/*
 * The migration channels named on the command line, --incoming and each
 * --migrate-to, parsed into @vm with their key files read (migration/tls.h)
 * before tern confines itself: handshakes later open no file, and a bad or
 * unreadable key fails at start. -errno, logged. vm->keys stays NULL
 * only if this fails for lack of memory.
 */
int migration_keys_load(struct vm *vm);
void migration_keys_free(struct vm *vm);

/*
 * The keys read at start for a 'migrate' to @uri with the options @given:
 * those of the --migrate-to entry for @uri when @given names no options or
 * the same ones; else NULL, and migrate_start reads @given's files itself
 * (which Landlock refuses outside the paths named at start).
 */
const struct channel_sec *migration_target_keys(const struct vm *vm, const char *uri,
						const struct channel_sec *given);

#endif
