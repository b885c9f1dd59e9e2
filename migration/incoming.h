/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_INCOMING_H
#define TERN_INCOMING_H

struct vm;

/*
 * The destination of a live migration: listens on --incoming's URI with its
 * channel options (vm->keys->incoming, loaded by migration_keys_load), takes the first connection
 * that authenticates (others are refused, logged, and the wait goes on;
 * SIGINT/SIGTERM end it: -EINTR), checks the source's machine against this one (refusing with
 * the difference, -EPROTO), reads the VM into the one vm_build made, and
 * acknowledges. The VM may run once this returns 0. -errno (logged).
 */
int migration_incoming(struct vm *vm);

#endif
