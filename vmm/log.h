/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Messages to stderr, prefixed "tern: ". Library code reports and returns
 * -errno; only main() decides to exit.
 */
#define pr_err(...)	log_msg("error: ", __VA_ARGS__)
#define pr_warn(...)	log_msg("warning: ", __VA_ARGS__)
#define pr_info(...)	log_msg("", __VA_ARGS__)

void log_msg(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A rate limiter for one kind of message, for everything a guest can make
 * tern say as often as it likes (bad rings, stray MMIO, resets, lost
 * kicks...): at most @burst messages per @period; the rest are counted, and
 * the next message let through says how many were left out. One limiter per
 * call site, living in the object the message is about (the VM, a device),
 * never in a global. Safe from any thread.
 */
struct ratelimit {
	pthread_mutex_t lock;
	uint64_t period_ns;
	unsigned int burst;
	uint64_t window_start_ns;	/* start of the current period */
	unsigned int in_window;		/* messages let through in it */
	uint64_t suppressed;		/* left out since the last one let through */
	uint64_t total;			/* every event, let through or not */
};

/* Defaults for guest-triggered messages: 10 per 5 s at most per call site. */
#define RATELIMIT_BURST		10
#define RATELIMIT_PERIOD_MS	5000

/* @burst 0 lets nothing through (every event is counted). */
void ratelimit_init(struct ratelimit *rl, unsigned int burst, unsigned int period_ms);
void ratelimit_destroy(struct ratelimit *rl);

/*
 * The decision, with the clock given (tests inject it): true if a message
 * may be printed at @now_ns; then *@suppressed (if not NULL) is how many
 * were left out since the previous one let through, and the count restarts.
 */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

/* Events seen so far, let through or not. */
uint64_t ratelimit_total(struct ratelimit *rl);

/* log_msg through @rl on CLOCK_MONOTONIC; a message let through after some
 * were left out ends with "(N similar messages suppressed)". */
void log_ratelimited(struct ratelimit *rl, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define pr_err_ratelimited(rl, ...)	log_ratelimited(rl, "error: ", __VA_ARGS__)
#define pr_warn_ratelimited(rl, ...)	log_ratelimited(rl, "warning: ", __VA_ARGS__)
#define pr_info_ratelimited(rl, ...)	log_ratelimited(rl, "", __VA_ARGS__)

#endif
