/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_ADMISSION_H
#define TERN_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A migration port's door (destination): every accepted connection is
 * checked (TLS, a token, a header: the caller's check) on a thread of its
 * own, so a stranger that connects and then stalls, or trickles its bytes,
 * holds only its own thread, up to the check's timeouts, never the real
 * source's check beside it. At most ADMISSION_MAX checks at once: a
 * connection beyond them is closed at once. Refusals are logged,
 * rate-limited (anyone who reaches the port can try). Used by --incoming's
 * wait for the source (incoming.c) and by post-copy's page channel
 * (postcopy_admit.c).
 */
#define ADMISSION_MAX	4

struct admission;

/* 0 when @fd may pass, with what the check learnt in @out (out_size
 * bytes); else -errno with the reason in @err. Runs on a check thread,
 * confined like post-copy's fault thread; reads the peer's bytes. */
typedef int admission_check_fn(void *opaque, int fd, void *out, char *err, size_t errlen);

struct admission_ops {
	admission_check_fn *check;
	void *opaque;		/* must outlive admission_end */
	size_t out_size;
	/* An admitted connection replaces one not taken yet (post-copy: the
	 * source reconnects only when it lost the last one); otherwise the
	 * first stays and later ones are refused. */
	bool newest_wins;
	const char *what;	/* the log lines' prefix: "--incoming" */
	const char *uri;	/* for the log lines; copied */
	const char *waiting;	/* appended to a refusal: "; still waiting for the source" */
};

struct admission *admission_new(const struct admission_ops *ops);
/* Readable (POLLIN) once a connection was admitted, until admission_take. */
int admission_efd(const struct admission *a);
/* Accepts one connection on @lfd and starts its check (or closes it). */
void admission_accept(struct admission *a, int lfd);
/* The admitted connection not taken yet, with its check's @out, or -EAGAIN. */
int admission_take(struct admission *a, void *out);
/* Cuts off the checks under way, waits for them, frees @a (which the last
 * check thread may outlive by its final unlock only). NULL is fine. */
void admission_end(struct admission *a);

#endif
