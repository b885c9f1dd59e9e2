/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONVERGE_H
#define TERN_CONVERGE_H

/*
 * When pre-copy stops: the pure decisions of live migration's convergence
 * (no clock, no socket, no VM), unit-tested natively. migrate.c measures
 * each round and does what converge_after_round() says.
 *
 * The model. Stopping now would cost
 *     downtime = remaining bytes / bandwidth + fixed cost
 * where the remaining bytes are the pages dirty at the end of the round
 * (the final stage sends them with the VM paused) and the fixed cost is
 * what the final stage does besides sending pages: pausing the vCPUs and
 * the I/O thread, KVM writing the GIC pending and ITS tables, the clock,
 * vCPU, GIC, ITS and device state, the destination restoring all of it
 * and its "ack" coming back. migrate.c plans with the path's round trip
 * (the smallest seen: converge_path_rtt_ms(), re-read after every round)
 * plus a default for the work (see converge_fixed_cost_ms()); it is never
 * zero.
 *
 * Bandwidth is smoothed over the rounds: a round's bytes and time both
 * enter decaying sums (each round halves what came before), and the
 * bandwidth is their ratio. A round counts in proportion to its length,
 * so a tiny last round (a few pages, a few ms, dominated by the ring
 * harvest) barely moves the figure a long one measured.
 *
 * Auto-converge. A round "stalls" when the estimate is above the target
 * and the guest dirtied at least half as many pages as the round sent:
 * pre-copy is not gaining fast enough. After CONVERGE_STALL_ROUNDS such
 * rounds the vCPUs are throttled (they lose that share of their run
 * time): first CONVERGE_THROTTLE_INITIAL %, then CONVERGE_THROTTLE_STEP %
 * more each time, at most CONVERGE_THROTTLE_MAX %. The counter restarts at
 * every step, so each throttle level is given that many rounds to work.
 *
 * Fitting is not the end by itself: while the rest would take
 * CONVERGE_SHRINK_MIN_MS or more of the pause and the guest, at the rate
 * it dirtied during the round, is expected to dirty less than half of it
 * while another round sends it, that round comes first. The pause then
 * sends only what was dirtied during a short round (after the first,
 * long one of all RAM: most of what an idle guest leaves), at the cost
 * of about the time the pause would have spent on it.
 *
 * Giving up, with the source running on: after max_rounds rounds, or,
 * with auto-converge, after CONVERGE_STALL_ROUNDS more stalled rounds at
 * the maximum throttle.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONVERGE_STALL_ROUNDS		2
#define CONVERGE_THROTTLE_INITIAL	20
#define CONVERGE_THROTTLE_STEP		10
#define CONVERGE_THROTTLE_MAX		99
#define CONVERGE_SHRINK_MIN_MS		10

struct converge_params {
	uint64_t downtime_ms;		/* the target */
	uint64_t fixed_cost_ms;		/* the final stage besides pages */
	unsigned int max_rounds;	/* rounds (round 0 included) before giving up */
	bool auto_converge;
};

/* What one round measured. */
struct converge_round {
	uint64_t bytes;			/* stream bytes it sent */
	uint64_t ns;			/* how long it took */
	uint64_t pages_sent;		/* pages it had to send: zero markers and
					 * those deferred to the next round
					 * included */
	uint64_t pages_dirty;		/* dirty at its end: what is left to send */
	uint64_t page_size;
};

struct converge {
	struct converge_params p;
	uint64_t win_bytes, win_ns;	/* decaying sums behind the bandwidth */
	uint64_t bandwidth;		/* bytes/s, smoothed */
	uint64_t dirty_rate;		/* pages/s the guest dirtied, last round */
	uint64_t estimate_ms;		/* downtime if we stopped now */
	unsigned int rounds;		/* rounds measured */
	unsigned int stalled;		/* stalled rounds since the last throttle step */
	unsigned int throttle;		/* % of vCPU time taken away */
};

enum converge_action {
	CONVERGE_STOP_AND_COPY,		/* the estimate fits the target */
	CONVERGE_NEXT_ROUND,
	CONVERGE_THROTTLE,		/* set c->throttle, then another round */
	CONVERGE_GIVE_UP,		/* the reason is in @why */
};

void converge_init(struct converge *c, const struct converge_params *p);

/* Takes one round's figures; says what to do next. */
enum converge_action converge_after_round(struct converge *c, const struct converge_round *r,
					  char *why, size_t whylen);

/* The last round's estimate fits the downtime target. */
bool converge_fits(const struct converge *c);

/* Bytes/s from the decaying sums once @bytes were sent in @ns more. */
uint64_t converge_smooth_bandwidth(uint64_t *win_bytes, uint64_t *win_ns, uint64_t bytes,
				   uint64_t ns);

/* ms to send @bytes at @bandwidth bytes/s, rounded up; UINT64_MAX at 0. */
uint64_t converge_send_ms(uint64_t bytes, uint64_t bandwidth);

/*
 * The fixed cost to plan with: the path's round trip (@rtt_ms, the way the
 * final ack comes back: converge_path_rtt_ms) plus @final_work_ms, the final
 * stage's own work. Never below 1 ms.
 */
uint64_t converge_fixed_cost_ms(uint64_t rtt_ms, uint64_t final_work_ms);

/*
 * The path's round trip, the smallest it has shown. @handshake_ms is one
 * sample (configuration -> accept) that also holds the destination's
 * checks and whatever kept either side off a CPU then: on a loaded host
 * it was seen at 300-1750 ms where the path itself takes under 1 ms.
 * @kernel_rtt_us is the kernel's own figure when @kernel_known: TCP's
 * minimum RTT over the connection's life so far (TCP_INFO tcpi_min_rtt,
 * re-read after every round; not known while it has no sample), or 0 for
 * a unix socket, whose "path" is a copy in the local kernel. The smaller,
 * in ms rounded up.
 */
uint64_t converge_path_rtt_ms(uint64_t handshake_ms, bool kernel_known, uint64_t kernel_rtt_us);

/*
 * Bandwidth cap: how long to sleep (ns) so that @bytes sent in @elapsed_ns
 * average at most @cap bytes/s. 0 when under it or when @cap is 0
 * (unlimited).
 */
uint64_t converge_pace_ns(uint64_t bytes, uint64_t elapsed_ns, uint64_t cap);

#endif
