// SPDX-License-Identifier: GPL-2.0-only
/* The rate limiter for guest-triggered messages (vmm/log.c), on an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/log.h"

#define MS	1000000ULL	/* ns */
#define T0	(1000 * MS)	/* a clock that does not start at 0 */

static void test_burst_then_silence(void **state)
{
	struct ratelimit rl;
	uint64_t sup = 99;

	(void)state;
	ratelimit_init(&rl, 3, 1000);
	for (int i = 0; i < 3; i++) {
		assert_true(ratelimit_allow(&rl, T0 + (uint64_t)i * MS, &sup));
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 100; i++)
		assert_false(ratelimit_allow(&rl, T0 + 10 * MS + (uint64_t)i, &sup));
	assert_int_equal(ratelimit_total(&rl), 103);
	ratelimit_destroy(&rl);
}

static void test_next_period_reports_suppressed(void **state)
{
	struct ratelimit rl;
	uint64_t sup = 0;

	(void)state;
	ratelimit_init(&rl, 2, 1000);
	assert_true(ratelimit_allow(&rl, T0, &sup));
	assert_true(ratelimit_allow(&rl, T0 + 1, &sup));
	for (int i = 0; i < 7; i++)
		assert_false(ratelimit_allow(&rl, T0 + 500 * MS, &sup));
	/* Just before the period ends: still quiet. */
	assert_false(ratelimit_allow(&rl, T0 + 1000 * MS - 1, &sup));
	/* The period is over: the next one goes through and carries the count. */
	assert_true(ratelimit_allow(&rl, T0 + 1000 * MS, &sup));
	assert_int_equal(sup, 8);
	assert_true(ratelimit_allow(&rl, T0 + 1000 * MS + 1, &sup));
	assert_int_equal(sup, 0);
	assert_false(ratelimit_allow(&rl, T0 + 1000 * MS + 2, &sup));
	ratelimit_destroy(&rl);
}

/* The period starts at the first event after the last period, not on a grid:
 * a long quiet time gives a full burst again. */
static void test_quiet_time_refills(void **state)
{
	struct ratelimit rl;
	uint64_t sup;

	(void)state;
	ratelimit_init(&rl, 1, 100);
	assert_true(ratelimit_allow(&rl, T0, &sup));
	assert_false(ratelimit_allow(&rl, T0 + 50 * MS, &sup));
	assert_true(ratelimit_allow(&rl, T0 + 3600000 * MS, &sup));
	assert_int_equal(sup, 1);
	assert_false(ratelimit_allow(&rl, T0 + 3600000 * MS + 99 * MS, &sup));
	assert_true(ratelimit_allow(&rl, T0 + 3600000 * MS + 100 * MS, &sup));
	ratelimit_destroy(&rl);
}

/* A clock that went backwards must not silence the limiter until it catches up. */
static void test_clock_backwards(void **state)
{
	struct ratelimit rl;

	(void)state;
	ratelimit_init(&rl, 1, 1000);
	assert_true(ratelimit_allow(&rl, T0 + 5000 * MS, NULL));
	assert_false(ratelimit_allow(&rl, T0 + 5001 * MS, NULL));
	assert_true(ratelimit_allow(&rl, T0, NULL));
	ratelimit_destroy(&rl);
}

static void test_zero_burst_counts_only(void **state)
{
	struct ratelimit rl;

	(void)state;
	ratelimit_init(&rl, 0, 1000);
	for (int i = 0; i < 5; i++)
		assert_false(ratelimit_allow(&rl, T0 + (uint64_t)i * 2000 * MS, NULL));
	assert_int_equal(ratelimit_total(&rl), 5);
	ratelimit_destroy(&rl);
}

/* Over any stretch of time, at most burst * (stretch / period + 1) go through. */
static void test_flood_bound(void **state)
{
	struct ratelimit rl;
	unsigned int allowed = 0;
	uint64_t sup, sum_sup = 0;

	(void)state;
	ratelimit_init(&rl, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	/* One event every 10 us for 10 s: a million of them. */
	for (uint64_t t = 0; t < 10000 * MS; t += 10000) {
		if (ratelimit_allow(&rl, T0 + t, &sup)) {
			allowed++;
			sum_sup += sup;
		}
	}
	assert_true(allowed <= RATELIMIT_BURST * (10000 / RATELIMIT_PERIOD_MS + 1));
	assert_true(allowed >= RATELIMIT_BURST * (10000 / RATELIMIT_PERIOD_MS));
	/* Every event is either printed or counted in a later message, except
	 * those after the last message let through. */
	assert_true(sum_sup + allowed <= ratelimit_total(&rl));
	assert_true(sum_sup + allowed + 1000000 / 2 > ratelimit_total(&rl));
	assert_int_equal(ratelimit_total(&rl), 1000000);
	ratelimit_destroy(&rl);
}

/* What log_ratelimited prints, read back through a pipe on stderr. */
static size_t capture_stderr(void (*fn)(struct ratelimit *), struct ratelimit *rl, char *out,
			     size_t size)
{
	int fds[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	dup2(fds[1], STDERR_FILENO);
	close(fds[1]);
	fn(rl);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(fds[0], out, size - 1);
	close(fds[0]);
	assert_true(n >= 0);
	out[n] = '\0';
	return (size_t)n;
}

static void log_many(struct ratelimit *rl)
{
	for (int i = 0; i < 50; i++)
		pr_warn_ratelimited(rl, "queue %d: bad ring", i);
}

static void log_after_period(struct ratelimit *rl)
{
	/* Backdate the period's start rather than sleep. */
	pthread_mutex_lock(&rl->lock);
	rl->window_start_ns -= rl->period_ns;
	pthread_mutex_unlock(&rl->lock);
	pr_warn_ratelimited(rl, "queue %d: bad ring", 99);
}

static void test_log_output(void **state)
{
	struct ratelimit rl;
	char buf[4096];
	unsigned int lines = 0;

	(void)state;
	ratelimit_init(&rl, 3, 60000);
	capture_stderr(log_many, &rl, buf, sizeof(buf));
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 3);
	assert_non_null(strstr(buf, "tern: warning: queue 0: bad ring\n"));
	assert_non_null(strstr(buf, "tern: warning: queue 2: bad ring\n"));
	assert_null(strstr(buf, "queue 3"));
	capture_stderr(log_after_period, &rl, buf, sizeof(buf));
	assert_string_equal(buf, "tern: warning: queue 99: bad ring (47 similar messages suppressed)\n");
	ratelimit_destroy(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_silence),
		cmocka_unit_test(test_next_period_reports_suppressed),
		cmocka_unit_test(test_quiet_time_refills),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_zero_burst_counts_only),
		cmocka_unit_test(test_flood_bound),
		cmocka_unit_test(test_log_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
