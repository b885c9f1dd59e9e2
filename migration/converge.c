// SPDX-License-Identifier: GPL-2.0-only
/* Pre-copy convergence: the model is described in converge.h. */
#include <inttypes.h>
#include <stdio.h>

#include "migration/converge.h"

#define NS_PER_S	1000000000ULL
#define MS_PER_S	1000ULL

/* a * b / c without overflowing on the way; UINT64_MAX if the result does
 * not fit or c is 0. Rounds up when @up. */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c, bool up)
{
	unsigned __int128 p = (unsigned __int128)a * b, q;

	if (!c)
		return UINT64_MAX;
	q = p / c + (up && p % c ? 1 : 0);
	return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

void converge_init(struct converge *c, const struct converge_params *p)
{
	*c = (struct converge){ .p = *p };
}

uint64_t converge_smooth_bandwidth(uint64_t *win_bytes, uint64_t *win_ns, uint64_t bytes,
				   uint64_t ns)
{
	*win_bytes = *win_bytes / 2 + bytes;
	*win_ns = *win_ns / 2 + ns;
	if (!*win_ns)
		return 0;
	return muldiv(*win_bytes, NS_PER_S, *win_ns, false);
}

uint64_t converge_send_ms(uint64_t bytes, uint64_t bandwidth)
{
	if (!bytes)
		return 0;
	return muldiv(bytes, MS_PER_S, bandwidth, true);
}

uint64_t converge_fixed_cost_ms(uint64_t rtt_ms, uint64_t final_work_ms)
{
	uint64_t sum = saturating_add(rtt_ms, final_work_ms);

	return sum ? sum : 1;
}

uint64_t converge_path_rtt_ms(uint64_t handshake_ms, bool kernel_known, uint64_t kernel_rtt_us)
{
	uint64_t kernel_ms = kernel_rtt_us / 1000 + (kernel_rtt_us % 1000 ? 1 : 0);

	if (!kernel_known)
		return handshake_ms;
	return kernel_ms < handshake_ms ? kernel_ms : handshake_ms;
}

uint64_t converge_pace_ns(uint64_t bytes, uint64_t elapsed_ns, uint64_t cap)
{
	uint64_t due;

	if (!cap)
		return 0;
	due = muldiv(bytes, NS_PER_S, cap, true);	/* when the cap allows @bytes */
	return due > elapsed_ns ? due - elapsed_ns : 0;
}

static void measure(struct converge *c, const struct converge_round *r)
{
	uint64_t rest = muldiv(r->pages_dirty, r->page_size, 1, false);

	c->rounds++;
	c->bandwidth = converge_smooth_bandwidth(&c->win_bytes, &c->win_ns, r->bytes, r->ns);
	c->dirty_rate = r->ns ? muldiv(r->pages_dirty, NS_PER_S, r->ns, false) : 0;
	c->estimate_ms = saturating_add(converge_send_ms(rest, c->bandwidth), c->p.fixed_cost_ms);
}

/* Pre-copy is not gaining: above the target, and the guest dirtied at
 * least half of what the round sent. */
static bool stalled(const struct converge *c, const struct converge_round *r)
{
	return c->estimate_ms > c->p.downtime_ms && r->pages_dirty * 2 >= r->pages_sent;
}

static enum converge_action give_up(const struct converge *c, char *why, size_t whylen,
				    const char *what)
{
	snprintf(why, whylen, "no convergence %s: the guest dirties %" PRIu64 " pages/s, "
		 "%" PRIu64 " MiB/s measured, %" PRIu64 " ms of downtime expected (%" PRIu64
		 " ms of it fixed), target %" PRIu64 " ms", what, c->dirty_rate,
		 c->bandwidth >> 20, c->estimate_ms, c->p.fixed_cost_ms, c->p.downtime_ms);
	return CONVERGE_GIVE_UP;
}

/* Another throttle step, or giving up once the maximum did not help. */
static enum converge_action throttle_more(struct converge *c, char *why, size_t whylen)
{
	char what[64];

	c->stalled = 0;
	if (c->throttle >= CONVERGE_THROTTLE_MAX) {
		snprintf(what, sizeof(what), "with the vCPUs throttled at %u%% for %u rounds",
			 c->throttle, CONVERGE_STALL_ROUNDS);
		return give_up(c, why, whylen, what);
	}
	c->throttle = c->throttle ? c->throttle + CONVERGE_THROTTLE_STEP :
		      CONVERGE_THROTTLE_INITIAL;
	if (c->throttle > CONVERGE_THROTTLE_MAX)
		c->throttle = CONVERGE_THROTTLE_MAX;
	return CONVERGE_THROTTLE;
}

/*
 * The estimate fits, yet one more round may shorten the pause for little:
 * it sends the rest with the guest running, and the pause is then left
 * with what the guest dirties meanwhile, at the rate just measured.
 * Worth it while the rest takes CONVERGE_SHRINK_MIN_MS or more to send
 * and that is expected to halve it. A guest whose hot pages the long
 * round's rate hid shows its real rate in the short round that follows,
 * which then stops; max_rounds bounds the rest.
 */
static bool worth_another_round(const struct converge *c, const struct converge_round *r)
{
	uint64_t rest_ms = converge_send_ms(muldiv(r->pages_dirty, r->page_size, 1, false),
					    c->bandwidth);
	uint64_t next;

	if (c->rounds >= c->p.max_rounds || rest_ms == UINT64_MAX ||
	    rest_ms < CONVERGE_SHRINK_MIN_MS)
		return false;
	next = muldiv(c->dirty_rate, rest_ms, 1000, true);
	return next * 2 <= r->pages_dirty;
}

bool converge_fits(const struct converge *c)
{
	return c->rounds && c->estimate_ms <= c->p.downtime_ms;
}

enum converge_action converge_after_round(struct converge *c, const struct converge_round *r,
					  char *why, size_t whylen)
{
	char what[48];

	measure(c, r);
	if (converge_fits(c))
		return worth_another_round(c, r) ? CONVERGE_NEXT_ROUND : CONVERGE_STOP_AND_COPY;
	if (c->rounds >= c->p.max_rounds) {
		snprintf(what, sizeof(what), "after %u rounds", c->rounds);
		return give_up(c, why, whylen, what);
	}
	if (stalled(c, r))
		c->stalled++;
	if (c->p.auto_converge && c->stalled >= CONVERGE_STALL_ROUNDS)
		return throttle_more(c, why, whylen);
	return CONVERGE_NEXT_ROUND;
}
