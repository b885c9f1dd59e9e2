// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static void log_line(const char *level, const char *fmt, va_list ap, uint64_t suppressed)
{
	char line[1024];

	/* One write per message, so lines from several threads never interleave. */
	vsnprintf(line, sizeof(line), fmt, ap);
	if (suppressed)
		fprintf(stderr, "tern: %s%s (%" PRIu64 " similar messages suppressed)\n", level,
			line, suppressed);
	else
		fprintf(stderr, "tern: %s%s\n", level, line);
}

void log_msg(const char *level, const char *fmt, ...)
{
	int saved = errno;	/* callers' %m */
	va_list ap;

	va_start(ap, fmt);
	errno = saved;
	log_line(level, fmt, ap, 0);
	va_end(ap);
}

void ratelimit_init(struct ratelimit *rl, unsigned int burst, unsigned int period_ms)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->period_ns = (uint64_t)period_ms * 1000000;
	rl->burst = burst;
	rl->window_start_ns = 0;
	rl->in_window = 0;
	rl->suppressed = 0;
	rl->total = 0;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
	bool allow;

	pthread_mutex_lock(&rl->lock);
	rl->total++;
	/* A new period starts with the first event after the last one ended
	 * (a clock going backwards, too, rather than silence until it is back). */
	if (rl->total == 1 || now_ns < rl->window_start_ns ||
	    now_ns - rl->window_start_ns >= rl->period_ns) {
		rl->window_start_ns = now_ns;
		rl->in_window = 0;
	}
	allow = rl->in_window < rl->burst;
	if (allow) {
		rl->in_window++;
		if (suppressed)
			*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	return allow;
}

uint64_t ratelimit_total(struct ratelimit *rl)
{
	uint64_t n;

	pthread_mutex_lock(&rl->lock);
	n = rl->total;
	pthread_mutex_unlock(&rl->lock);
	return n;
}

void log_ratelimited(struct ratelimit *rl, const char *level, const char *fmt, ...)
{
	int saved = errno;
	struct timespec ts;
	uint64_t suppressed;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!ratelimit_allow(rl, (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec,
			     &suppressed))
		return;
	va_start(ap, fmt);
	errno = saved;
	log_line(level, fmt, ap, suppressed);
	va_end(ap);
}
