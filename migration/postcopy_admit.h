/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_POSTCOPY_ADMIT_H
#define TERN_POSTCOPY_ADMIT_H

#include <stdint.h>

#include "migration/channel_sec.h"
#include "migration/stream.h"

/*
 * Post-copy's door (destination): a thread that accepts connections on the
 * migration's listening socket and admits only the source's page channel:
 * TLS as the main stream (or none), then the session token (compared in
 * constant time), then the stream header, each bounded by a short timeout,
 * each connection checked on a thread of its own (admission.h), so that
 * strangers holding connections open do not delay the source's. Anything
 * else is closed and logged (rate-limited). The fault-serving thread never
 * reads a new connection: it takes admitted ones from here
 * (docs/postcopy.md, "Who may connect").
 */
struct pc_admit;

struct pc_admit *pc_admit_start(int listen_fd, const char *uri, const struct channel_sec *sec,
				const uint8_t token[CHANNEL_TOKEN_LEN], uint32_t page_size);
/* Readable (POLLIN) while an admitted connection waits to be taken. */
int pc_admit_efd(const struct pc_admit *a);
/* The admitted connection, its reader positioned after the header (reads
 * with stream_fd_read; the caller may swap the read function), or -EAGAIN. */
int pc_admit_take(struct pc_admit *a, struct stream_reader *sr);
/* Stops and joins the thread, closes a connection not taken. The listening
 * socket stays the caller's. NULL is fine. */
void pc_admit_stop(struct pc_admit *a);

#endif
