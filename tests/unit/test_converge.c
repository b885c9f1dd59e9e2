// SPDX-License-Identifier: GPL-2.0-only
/* Pre-copy convergence decisions (migration/converge.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "migration/converge.h"

#define MIB		(1ULL << 20)
#define PAGE		4096ULL
#define MS		1000000ULL	/* ns */

static const struct converge_params defaults = {
	.downtime_ms = 300, .fixed_cost_ms = 50, .max_rounds = 30, .auto_converge = true,
};

/* A round that sent @mib MiB in @ms ms and left @dirty pages. */
static struct converge_round round_of(uint64_t mib, uint64_t ms, uint64_t dirty)
{
	return (struct converge_round){ .bytes = mib * MIB, .ns = ms * MS,
					.pages_sent = mib * MIB / PAGE, .pages_dirty = dirty,
					.page_size = PAGE };
}

static void test_send_ms(void **state)
{
	(void)state;
	assert_int_equal(converge_send_ms(0, 0), 0);
	assert_int_equal(converge_send_ms(100 * MIB, 100 * MIB), 1000);
	assert_int_equal(converge_send_ms(1, 1000), 1);		/* 1 ms exactly */
	assert_int_equal(converge_send_ms(2, 1000), 2);
	assert_int_equal(converge_send_ms(1, 3000), 1);		/* rounded up */
	assert_true(converge_send_ms(1, 0) == UINT64_MAX);
	/* No overflow in bytes * 1000. */
	assert_int_equal(converge_send_ms(UINT64_MAX / 2, UINT64_MAX / 2), 1000);
}

/* A long round's bandwidth is not undone by a tiny one; a string of equal
 * rounds gives their bandwidth exactly. */
static void test_smoothing(void **state)
{
	uint64_t b = 0, t = 0, bw;

	(void)state;
	bw = converge_smooth_bandwidth(&b, &t, 1000 * MIB, 10000 * MS);	/* 100 MiB/s */
	assert_int_equal(bw, 100 * MIB);
	bw = converge_smooth_bandwidth(&b, &t, 4096, 5 * MS);		/* 0.8 MiB/s */
	assert_true(bw > 99 * MIB);
	for (int i = 0; i < 40; i++)
		bw = converge_smooth_bandwidth(&b, &t, 10 * MIB, 1000 * MS);
	assert_int_equal(bw >> 20, 10);
	b = t = 0;
	assert_int_equal(converge_smooth_bandwidth(&b, &t, 0, 0), 0);
}

static void test_fixed_cost(void **state)
{
	(void)state;
	assert_int_equal(converge_fixed_cost_ms(3, 100), 103);
	assert_int_equal(converge_fixed_cost_ms(0, 0), 1);
	assert_true(converge_fixed_cost_ms(UINT64_MAX, 5) == UINT64_MAX);
}

static void test_pace(void **state)
{
	(void)state;
	assert_int_equal(converge_pace_ns(100 * MIB, 0, 0), 0);		/* unlimited */
	/* 20 MiB at 20 MiB/s is due at 1 s: 0.25 s in, sleep 0.75 s. */
	assert_int_equal(converge_pace_ns(20 * MIB, 250 * MS, 20 * MIB), 750 * MS);
	assert_int_equal(converge_pace_ns(20 * MIB, 1000 * MS, 20 * MIB), 0);
	assert_int_equal(converge_pace_ns(20 * MIB, 3000 * MS, 20 * MIB), 0);	/* behind */
	assert_int_equal(converge_pace_ns(1, 0, 1000), 1000000);		/* 1 ms */
	/* Sleeping what it says keeps the average at the cap. */
	{
		uint64_t sent = 0, now = 0, cap = 20 * MIB;

		for (int i = 0; i < 100; i++) {
			sent += MIB;
			now += 2 * MS;			/* the link is much faster */
			now += converge_pace_ns(sent, now, cap);
			assert_true(sent * 1000000000ULL / now <= cap);
		}
		assert_true(sent * 1000000000ULL / now >= cap - cap / 100);
	}
}

static void test_stop_when_estimate_fits(void **state)
{
	struct converge c;
	struct converge_round r = round_of(1000, 10000, 2560);	/* 100 MiB/s, 10 MiB left */
	char why[256] = "";

	(void)state;
	converge_init(&c, &defaults);
	/* 10 MiB at 100 MiB/s: 100 ms, + 50 fixed; fits, and a round more
	 * is expected to leave 26 pages (256 pages/s for 100 ms). */
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_NEXT_ROUND);
	assert_true(converge_fits(&c));
	assert_int_equal(c.estimate_ms, 150);
	assert_int_equal(c.bandwidth, 100 * MIB);
	assert_int_equal(c.dirty_rate, 256);
	assert_int_equal(c.rounds, 1);
	/* That round: 10 MiB in 100 ms, 40 pages left, 2 ms to send: stop. */
	r = round_of(10, 100, 40);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_STOP_AND_COPY);
	assert_true(c.estimate_ms <= 50 + CONVERGE_SHRINK_MIN_MS);
}

/* A rest that fits but would not halve in a round more: the guest dirtied
 * more than half of what the round sent. Stop at once. */
static void test_fit_without_gain_stops(void **state)
{
	struct converge c;
	struct converge_round r = round_of(20, 200, 3000);	/* 100 MiB/s, 11.7 MiB left */
	char why[256] = "";

	(void)state;
	converge_init(&c, &defaults);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_STOP_AND_COPY);
	assert_int_equal(c.estimate_ms, 168);
}

/* Shrinking rounds end: the pause's pages at least halve each time (a
 * guest dirtying 1 MiB/s against 100 MiB/s) until they take less than
 * CONVERGE_SHRINK_MIN_MS, and never past max_rounds. */
static void test_shrinking_rounds_end(void **state)
{
	struct converge_params p = defaults;
	struct converge c;
	uint64_t dirty = 25600, ms = 10000, mib = 1000;	/* 100 MiB left: does not fit */
	unsigned int rounds = 0;
	char why[256] = "";
	enum converge_action a;

	(void)state;
	converge_init(&c, &p);
	do {
		struct converge_round r = round_of(mib, ms, dirty);

		a = converge_after_round(&c, &r, why, sizeof(why));
		rounds++;
		mib = dirty * PAGE / MIB ?: 1;		/* the next round sends the rest */
		ms = mib * 10;				/* at 100 MiB/s */
		dirty = 256 * ms / 1000 + 1;		/* 256 pages/s meanwhile */
	} while (a == CONVERGE_NEXT_ROUND && rounds < 10);
	assert_int_equal(a, CONVERGE_STOP_AND_COPY);
	assert_true(rounds >= 3 && rounds <= 5);
	p.max_rounds = 1;
	converge_init(&c, &p);
	{
		struct converge_round r = round_of(1000, 10000, 2560);

		assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)),
				 CONVERGE_STOP_AND_COPY);
	}
}

/* The path's round trip: the smaller of the handshake's and the kernel's. */
static void test_path_rtt(void **state)
{
	(void)state;
	/* No kernel figure: the handshake's sample. */
	assert_int_equal(converge_path_rtt_ms(1755, false, 0), 1755);
	/* TCP's minimum RTT, rounded up to ms, below a slow handshake. */
	assert_int_equal(converge_path_rtt_ms(1755, true, 180), 1);
	assert_int_equal(converge_path_rtt_ms(1755, true, 2001), 3);
	assert_int_equal(converge_path_rtt_ms(1755, true, 3000), 3);
	/* A unix socket: no path to wait on. */
	assert_int_equal(converge_path_rtt_ms(306, true, 0), 0);
	/* A handshake quicker than the kernel's figure (a coarse one). */
	assert_int_equal(converge_path_rtt_ms(2, true, 40000), 2);
	assert_int_equal(converge_fixed_cost_ms(converge_path_rtt_ms(306, true, 0), 150), 150);
}

/* The fixed cost counts: the same pages miss a target they would fit without it. */
static void test_fixed_cost_counts(void **state)
{
	struct converge_params p = defaults;
	struct converge c;
	struct converge_round r = round_of(1000, 10000, 2560 * 2);	/* 200 ms of pages */
	char why[256];

	(void)state;
	p.fixed_cost_ms = 150;
	converge_init(&c, &p);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_NEXT_ROUND);
	assert_int_equal(c.estimate_ms, 350);
	assert_false(converge_fits(&c));
	p.fixed_cost_ms = 100;
	converge_init(&c, &p);
	converge_after_round(&c, &r, why, sizeof(why));
	assert_true(converge_fits(&c));
	assert_int_equal(c.estimate_ms, 300);
}

/* A guest dirtying as fast as rounds send: throttled after 2 stalled
 * rounds, 20 % then +10 % every 2 rounds up to 99 %, then given up. */
static void test_auto_converge_steps(void **state)
{
	struct converge_params p = defaults;
	struct converge c;
	struct converge_round r0 = round_of(256, 2560, 20000), r = round_of(78, 780, 20000);
	unsigned int want = 20, steps = 0;
	char why[256] = "";
	enum converge_action a;

	(void)state;
	p.max_rounds = 1000;
	converge_init(&c, &p);
	assert_int_equal(converge_after_round(&c, &r0, why, sizeof(why)), CONVERGE_NEXT_ROUND);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_NEXT_ROUND);
	for (;;) {
		a = converge_after_round(&c, &r, why, sizeof(why));
		if (a == CONVERGE_GIVE_UP)
			break;
		assert_int_equal(a, CONVERGE_THROTTLE);
		assert_int_equal(c.throttle, want);
		steps++;
		want = want + 10 > 99 ? 99 : want + 10;
		assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)),
				 CONVERGE_NEXT_ROUND);
	}
	assert_int_equal(steps, 9);	/* 20, 30, ..., 90, 99 */
	assert_int_equal(c.throttle, 99);
	assert_non_null(strstr(why, "throttled at 99%"));
	assert_non_null(strstr(why, "target 300 ms"));
	assert_non_null(strstr(why, "pages/s"));
}

/* A round that sent much more than the guest dirtied is progress, not a stall. */
static void test_no_throttle_while_gaining(void **state)
{
	struct converge c;
	char why[256];

	(void)state;
	converge_init(&c, &defaults);
	for (uint64_t dirty = 60000; dirty > 4000; dirty /= 3) {
		struct converge_round r = round_of(dirty * 3 * PAGE / MIB, dirty * 3 * PAGE / MIB * 10,
						   dirty);

		assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)),
				 CONVERGE_NEXT_ROUND);
		assert_int_equal(c.throttle, 0);
	}
}

static void test_no_auto_converge_gives_up_at_max_rounds(void **state)
{
	struct converge_params p = defaults;
	struct converge c;
	struct converge_round r = round_of(78, 780, 20000);
	char why[256] = "";

	(void)state;
	p.auto_converge = false;
	p.max_rounds = 5;
	converge_init(&c, &p);
	for (int i = 0; i < 4; i++)
		assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)),
				 CONVERGE_NEXT_ROUND);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_GIVE_UP);
	assert_int_equal(c.throttle, 0);
	assert_non_null(strstr(why, "after 5 rounds"));
	assert_non_null(strstr(why, "target 300 ms"));
}

/* Once the estimate fits, the last round wins even at the round limit. */
static void test_fit_beats_round_limit(void **state)
{
	struct converge_params p = defaults;
	struct converge c;
	struct converge_round r = round_of(100, 1000, 100);
	char why[256];

	(void)state;
	p.max_rounds = 1;
	converge_init(&c, &p);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_STOP_AND_COPY);
}

/* A round of zero length (a clock that did not move) divides by nothing. */
static void test_zero_length_round(void **state)
{
	struct converge c;
	struct converge_round r = { .page_size = PAGE, .pages_dirty = 10 };
	char why[256] = "";

	(void)state;
	converge_init(&c, &defaults);
	assert_int_equal(converge_after_round(&c, &r, why, sizeof(why)), CONVERGE_NEXT_ROUND);
	assert_true(c.estimate_ms == UINT64_MAX);
	assert_int_equal(c.dirty_rate, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_ms),
		cmocka_unit_test(test_smoothing),
		cmocka_unit_test(test_fixed_cost),
		cmocka_unit_test(test_pace),
		cmocka_unit_test(test_stop_when_estimate_fits),
		cmocka_unit_test(test_fit_without_gain_stops),
		cmocka_unit_test(test_shrinking_rounds_end),
		cmocka_unit_test(test_fixed_cost_counts),
		cmocka_unit_test(test_path_rtt),
		cmocka_unit_test(test_auto_converge_steps),
		cmocka_unit_test(test_no_throttle_while_gaining),
		cmocka_unit_test(test_no_auto_converge_gives_up_at_max_rounds),
		cmocka_unit_test(test_fit_beats_round_limit),
		cmocka_unit_test(test_zero_length_round),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
