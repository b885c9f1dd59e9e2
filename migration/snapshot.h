/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_SNAPSHOT_H
#define TERN_SNAPSHOT_H

#include <stddef.h>

struct vm;

/*
 * Saves the whole VM to @path (docs/stream-format.md). The VM is paused for
 * the duration if it was running, and resumed after. On failure nothing is
 * left at @path and the VM keeps running. -errno, with a message in @err.
 */
int snapshot_save(struct vm *vm, const char *path, char *err, size_t errlen);

/*
 * Brings the VM built by vm_build (same configuration, nothing run yet)
 * to the state in @path. -errno; the reason is logged.
 */
int snapshot_restore(struct vm *vm, const char *path);

#endif
