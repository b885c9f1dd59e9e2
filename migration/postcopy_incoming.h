/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_POSTCOPY_INCOMING_H
#define TERN_POSTCOPY_INCOMING_H

#include <stdbool.h>
#include <stdint.h>

#include "migration/channel_sec.h"

struct vm;
struct machine_loader;
struct postcopy_dest;

/*
 * Post-copy, destination side (docs/postcopy.md). migration/incoming.c
 * creates one per incoming migration and hands it the listening socket,
 * which stays open: the source opens the page channel on it, and reopens
 * it after a lost connection. If the stream turns out to be a post-copy
 * one (RAM_MISSING sections), the missing pages are dropped, RAM is
 * registered with userfaultfd and a thread serves faults and incoming
 * pages before the device state is restored.
 */
struct postcopy_dest *postcopy_dest_new(struct vm *vm, const struct channel_spec *cs,
				       int listen_fd);
/* This migration's session token (getrandom), as hex: the destination's
 * "accept" hands it to the source, whose every later connection (the page
 * channel, its reconnections) must start with it, after TLS. */
void postcopy_dest_token_hex(const struct postcopy_dest *pd, char hex[2 * CHANNEL_TOKEN_LEN + 1]);
/* Installs the loader hooks (RAM_MISSING, before the state). */
void postcopy_dest_hook(struct postcopy_dest *pd, struct machine_loader *ld);
/*
 * Starts admitting page channels (migration/postcopy_admit.h) once the
 * source has the session token: its page channel's TLS handshake may begin
 * while this side still reads megabytes of RAM queued in the main stream's
 * sockets, and must not wait for that. -ENOMEM.
 */
int postcopy_dest_admit(struct postcopy_dest *pd);
/* True once the stream switched to post-copy (the thread runs). */
bool postcopy_dest_active(const struct postcopy_dest *pd);
/* The fault thread's error once it stopped on one (0 while it serves, or
 * when it finished): the VM must not be acknowledged then. */
int postcopy_dest_error(const struct postcopy_dest *pd);
/* Why this destination cannot take post-copy, or NULL. */
const char *postcopy_dest_refusal(const struct postcopy_dest *pd);
/* Pre-copy's stream ended: nothing may connect any more. */
void postcopy_dest_stop_listening(struct postcopy_dest *pd);
/* The migration failed before the guest ran: stops the thread, frees. */
void postcopy_dest_abort(struct postcopy_dest *pd);
/* Just before the ack: vm->postcopy_in now owns @pd, freed by
 * postcopy_incoming_finish(). */
void postcopy_dest_adopt(struct postcopy_dest *pd);
/* True while an adopted post-copy still brings pages (the control socket
 * then refuses pause, snapshot and migrate). Main thread. */
bool postcopy_incoming_serving(struct vm *vm);
/* tern is exiting: stops a post-copy still running, joins, frees. */
void postcopy_incoming_finish(struct vm *vm);

#endif
