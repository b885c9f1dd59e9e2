/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_LANDLOCK_H
#define TERN_LANDLOCK_H

#include <stddef.h>

#include "config.h"

/*
 * The Landlock ruleset of a VM (README, "Security model"): once a thread is
 * confined, the file system is reachable only where the command line
 * pointed, and TCP only at the migration endpoints it names (kernel ABI 4+).
 * Built before the VM (the paths are opened then), enforced by the main
 * thread in sandbox_enter(SANDBOX_MAIN) before it creates any other thread.
 *
 * Returns the ruleset's fd; 0 when the kernel has no Landlock (a notice
 * says so, the seccomp filters still apply); -errno after a message.
 * *@abi: the ABI version used (0: none).
 */
int landlock_build(const struct vm_config *cfg, int *abi);

/* The calling thread enforces the ruleset @fd (no_new_privs set first). */
int landlock_enforce(int fd);

/*
 * Whether 'snapshot' may write @path under --snapshot-dir (the lexical and
 * resolved parent must be inside it). 0, or -EACCES with the reason in @err.
 */
int landlock_check_snapshot(const struct vm_config *cfg, const char *path, char *err,
			    size_t errlen);

/* Whether 'migrate' may go to @uri: any when no --migrate-to was given, else
 * one of those. 0, or -EACCES with the reason in @err. */
int landlock_check_migrate(const struct vm_config *cfg, const char *uri, char *err,
			   size_t errlen);

#endif
