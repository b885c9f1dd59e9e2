/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CLI_SANDBOX_H
#define TERN_CLI_SANDBOX_H

#include <stdio.h>

#include "config.h"

/* The confinement options of 'run' (README, "Security model"). Each
 * returns 0 or -EINVAL after a message naming the option and the value. */
int cli_parse_sandbox(const char *arg, struct vm_config *cfg);	/* --sandbox */
int cli_parse_user(const char *arg, struct vm_config *cfg);	/* --user UID:GID */
int cli_add_migrate_to(const char *uri, struct vm_config *cfg);	/* --migrate-to */
/* What they say together with the other options. */
int cli_check_sandbox(const struct vm_config *cfg);
void cli_sandbox_usage(FILE *out);

#endif
