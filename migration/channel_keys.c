// SPDX-License-Identifier: GPL-2.0-only
/* Migration channels' keys, read at start (migration/channel_keys.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/channel_keys.h"
#include "migration/tls.h"
#include "vmm/log.h"
#include "vmm/vm.h"

static int load_one(const char *what, const char *arg, bool server, struct channel_spec *cs)
{
	char err[400];
	int ret = channel_spec_parse(arg, cs, err, sizeof(err));

	if (!ret)
		ret = tls_creds_load(&cs->sec, server, err, sizeof(err));
	if (ret)
		pr_err("%s: %s", what, err);
	return ret;
}

/* "tcp:HOST:PORT" alone only lists a target ('migrate' names the options). */
static int load_target(const char *arg, struct channel_spec *cs)
{
	if (!strchr(arg, ',')) {
		memset(cs, 0, sizeof(*cs));
		snprintf(cs->uri, sizeof(cs->uri), "%s", arg);
		return 0;
	}
	return load_one("--migrate-to", arg, false, cs);
}

int migration_keys_load(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct migration_keys *k = calloc(1, sizeof(*k));
	int ret = 0;

	if (!k) {
		pr_err("migration keys: out of memory");
		return -ENOMEM;
	}
	vm->keys = k;
	if (cfg->incoming_uri)
		ret = load_one("--incoming", cfg->incoming_uri, true, &k->incoming);
	for (unsigned int i = 0; !ret && i < cfg->nr_migrate_to; i++)
		ret = load_target(cfg->migrate_to[i], &k->migrate_to[i]);
	return ret;
}

void migration_keys_free(struct vm *vm)
{
	struct migration_keys *k = vm->keys;

	if (!k)
		return;
	tls_creds_free(&k->incoming.sec);
	for (unsigned int i = 0; i < CONFIG_MAX_MIGRATE_TO; i++)
		tls_creds_free(&k->migrate_to[i].sec);
	free(k);
	vm->keys = NULL;
}

static bool names_options(const struct channel_sec *s)
{
	return s->tls_psk[0] || s->tls_creds[0] || s->tls_hostname[0] || s->insecure;
}

static bool same_options(const struct channel_sec *a, const struct channel_sec *b)
{
	return !strcmp(a->tls_psk, b->tls_psk) && !strcmp(a->tls_creds, b->tls_creds) &&
	       !strcmp(a->tls_hostname, b->tls_hostname) && a->insecure == b->insecure;
}

const struct channel_sec *migration_target_keys(const struct vm *vm, const char *uri,
						const struct channel_sec *given)
{
	for (unsigned int i = 0; vm->keys && i < vm->cfg->nr_migrate_to; i++) {
		const struct channel_spec *cs = &vm->keys->migrate_to[i];

		if (strcmp(cs->uri, uri) || !names_options(&cs->sec))
			continue;
		if (!names_options(given) || same_options(given, &cs->sec))
			return &cs->sec;
	}
	return NULL;
}
