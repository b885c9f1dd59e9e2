// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pre-copy live migration, source side.
 *
 * Round 0 sends all of RAM while the guest runs, with dirty logging already
 * on, so every page written after it was read is logged. Each further round
 * sends the pages dirtied meanwhile, until the downtime expected (what is
 * left at the bandwidth measured, plus the final stage's fixed cost) fits
 * the target; converge.c decides, and throttles the vCPUs (auto-converge)
 * or gives up when rounds stop gaining. Then, the VM paused:
 * KVM writes the GIC and ITS tables into RAM, the rings are harvested a last
 * time, KVM_GET_DIRTY_LOG collects what KVM itself wrote (only recorded in
 * the bitmap), the last pages go, then the device state. Only the
 * destination's "ack" commits the move: any failure before it resumes the
 * guest here.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/tcp.h>	/* struct tcp_info with tcpi_min_rtt (glibc's lacks it) */
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "migration/channel.h"
#include "migration/converge.h"
#include "migration/dirty.h"
#include "migration/machine.h"
#include "migration/migrate.h"
#include "migration/postcopy.h"
#include "migration/postcopy_proto.h"
#include "migration/throttle.h"
#include "migration/tls.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/sandbox.h"

#define BOUNCE_BYTES	(1u << 20)
/* The stream's coalescing buffer (stream_writer_set_buffer): 16 full TLS
 * records per write. */
#define WRITE_BUFFER_BYTES	(256u << 10)
#define URI_MAX		256
#define ERR_MAX		400
/*
 * The final stage's own work besides the round trip (pause, GIC/ITS
 * tables, state, the destination's restore), which cannot be measured
 * before the VM pauses: a few times what a real host takes for a small VM,
 * about a third of what the emulated lab host takes. Each final stage
 * measures and logs it (final_work_ms), to tune downtime_ms by.
 */
#define FINAL_WORK_DEFAULT_MS	150
/* Waits while the guest runs (a bandwidth cap's sleep, the sync before the
 * pause) are cut in slices this long, so that a cancel, a VM stop or a
 * vCPU on a full ring is seen soon. */
#define WAIT_SLICE_NS		(50 * 1000000ull)
/* During a live round the dirty log is harvested at least this often, so
 * that a page the guest wrote again after the round began is seen before it
 * is reached, and left to the next round instead of being sent twice. */
#define DEFER_HARVEST_NS	(50 * 1000000ull)

enum migrate_state { MIG_ACTIVE, MIG_DONE, MIG_FAILED, MIG_CANCELLED, MIG_UNCONFIRMED };

static const char *const state_names[] = {
	[MIG_ACTIVE] = "active", [MIG_DONE] = "completed", [MIG_FAILED] = "failed",
	[MIG_CANCELLED] = "cancelled", [MIG_UNCONFIRMED] = "unconfirmed",
};

struct migration {
	struct vm *vm;
	pthread_t thread;
	bool thread_started;
	char uri[URI_MAX];
	struct migrate_params params;	/* defaults filled in; uri points to uri[] */
	bool owns_keys;			/* params.sec.creds read by migrate_start */
	struct postcopy_source *pc;	/* post-copy's page server, once switched */
	char pc_summary[ERR_MAX];	/* its counts, kept for the report */
	bool committed;			/* post-copy acknowledged: no way back */
	bool commit_sent;		/* pre-copy: "commit" left; the guest may run there */
	uint64_t harvested, harvest_ns;	/* dirty log entries taken, time it took */
	uint64_t harvest_t;		/* monotonic ns of the last harvest */
	int fd;
	_Atomic bool cancel;
	_Atomic bool postcopy_asked;	/* migrate-start-postcopy */
	const struct stream_writer *sw;	/* for progress while a round runs */
	uint8_t *bounce;
	uint8_t *wbuf;			/* the stream's coalescing buffer */
	struct dirty_bitmap round;	/* the pages this round sends */
	struct converge conv;		/* migration thread only */
	struct throttle throttle;	/* migration thread only */
	bool throttle_ready;		/* initialised */
	bool live_round;		/* sending one: the bandwidth cap and the
					 * defer harvest apply */
	uint64_t pace_t0, pace_off0;	/* where this round's pacing started */
	uint64_t rtt_ms;		/* prelude to "accept" */
	uint64_t round_writes;		/* the last round's writes on the channel */
	uint64_t round_deferred;	/* and its pages left to the next one */
	uint64_t round_cpu_ns;		/* and this thread's CPU time in it */
	uint8_t token[CHANNEL_TOKEN_LEN];	/* from "accept": for the page channel */

	pthread_mutex_t lock;		/* what status reads, and fd */
	enum migrate_state state;
	char error[ERR_MAX];
	unsigned int rounds;
	uint64_t start_ns;
	uint64_t bytes_sent;		/* stream bytes */
	uint64_t pages_sent, pages_resent, zero_pages;
	uint64_t bandwidth;		/* bytes/s, smoothed over the rounds */
	uint64_t dirty_rate;		/* pages/s, last round */
	uint64_t expected_downtime_ms;
	uint64_t fixed_cost_ms;		/* planned with */
	unsigned int throttle_pct;
	uint64_t downtime_ms_measured;
	uint64_t final_work_ms;		/* measured: downtime less the last pages */
	uint64_t total_ms;
};

static void fail(struct migration *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first failure is the one reported. */
static void fail(struct migration *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (!m->error[0]) {
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->lock);
}

/* A harvest of the dirty log, counted and timed for the report. */
static int harvest(struct migration *m)
{
	uint64_t n = 0, t0 = monotonic_ns();
	int ret = dirty_log_harvest(m->vm, &n);

	m->harvest_t = monotonic_ns();
	m->harvested += n;
	m->harvest_ns += m->harvest_t - t0;
	return ret;
}

/* ---- between sections: rings and cancel ---- */

/* A cancel or a VM stop ends the migration at the next section; a vCPU
 * waiting on a full ring is harvested for at once, and during a live round
 * the log at least every DEFER_HARVEST_NS (send_pages' defer). */
static int check_running(struct migration *m)
{
	if (atomic_load(&m->cancel))
		return -ECANCELED;
	if (vm_stop_reason(m->vm) != VM_RUNNING)
		return -ESHUTDOWN;
	if (runstate_ring_waiters(&m->vm->rs) ||
	    (m->live_round && monotonic_ns() - m->harvest_t >= DEFER_HARVEST_NS))
		return harvest(m);
	return 0;
}

/* The bandwidth cap: sleeps off any lead over max_bandwidth since the
 * round began, in slices, so that a cancel, a stop or a full ring is not
 * held up. */
static int pace(struct migration *m)
{
	uint64_t cap = m->params.max_bandwidth_mib << 20, ns;
	int ret = 0;

	if (!m->live_round || !cap)
		return 0;
	ns = converge_pace_ns(m->sw->offset - m->pace_off0, monotonic_ns() - m->pace_t0, cap);
	while (ns && !ret) {
		uint64_t slice = ns < WAIT_SLICE_NS ? ns : WAIT_SLICE_NS;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)slice };

		nanosleep(&ts, NULL);
		ns -= slice;
		ret = check_running(m);
	}
	return ret;
}

static int between_sections(void *opaque)
{
	struct migration *m = opaque;
	int ret;

	pthread_mutex_lock(&m->lock);
	m->bytes_sent = m->sw->offset;
	pthread_mutex_unlock(&m->lock);
	ret = check_running(m);
	if (!ret)
		ret = pace(m);
	return ret;
}

/*
 * @live: the guest runs, so each run is copied before its CRC, and a page
 * already dirtied again in this round (harvested into collected, which the
 * next round takes) is deferred to that round rather than sent twice. The
 * final stage, paused, sends all it is given.
 */
static int send_pages(struct migration *m, struct stream_writer *sw,
		      const struct dirty_bitmap *pages, bool live, struct page_stats *st)
{
	struct page_writer pw = { .zero_markers = true, .bounce = live ? m->bounce : NULL,
				  .bounce_len = BOUNCE_BYTES,
				  .defer = live ? &m->vm->dirty->collected : NULL,
				  .between = between_sections, .opaque = m };
	int ret = machine_put_pages(m->vm, sw, pages, &pw);

	*st = pw.stats;
	pthread_mutex_lock(&m->lock);
	m->bytes_sent = sw->offset;
	m->pages_sent += pw.stats.pages + pw.stats.zero_pages;
	m->zero_pages += pw.stats.zero_pages;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* ---- the handshake ---- */

/* "accept TOKEN": the session token, 64 hex digits. */
static int parse_token(struct migration *m, const char *hex)
{
	unsigned int byte;

	if (strlen(hex) != 2 * CHANNEL_TOKEN_LEN) {
		fail(m, "the destination's accept carries no session token: a different tern?");
		return -EPROTO;
	}
	for (size_t i = 0; i < CHANNEL_TOKEN_LEN; i++) {
		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			fail(m, "the destination's session token is not hex");
			return -EPROTO;
		}
		m->token[i] = (uint8_t)byte;
	}
	return 0;
}

/* Also times the exchange: the final ack comes back the same way. */
static int handshake(struct migration *m, struct stream_writer *sw)
{
	char line[CHANNEL_LINE_MAX];
	uint64_t t0 = monotonic_ns();
	int ret = machine_put_prelude(m->vm, sw);

	if (ret) {
		fail(m, "sending the machine's configuration: %s", sw->err);
		return ret;
	}
	ret = channel_read_line(m->fd, line, sizeof(line));
	m->rtt_ms = (monotonic_ns() - t0 + 999999) / 1000000;
	if (ret) {
		fail(m, "no answer from the destination: %s", strerror(-ret));
		return ret;
	}
	if (!strncmp(line, "accept ", 7))
		return parse_token(m, line + 7);
	if (!strncmp(line, "refuse ", 7))
		fail(m, "the destination refused the VM: %s", line + 7);
	else
		fail(m, "unexpected answer from the destination: '%s'", line);
	return -EPROTO;
}

/* ---- rounds ---- */

static uint64_t ms_since(uint64_t t0)
{
	return (monotonic_ns() - t0) / 1000000;
}

/*
 * Takes what the rings collected into m->round; returns its page count.
 * No vCPU is kicked first: on arm64 KVM buffers nothing in hardware (no PML,
 * kvm_cpu_dirty_log_size() is 0), it pushes each entry at the write fault,
 * so a harvest sees every page dirtied so far. A vCPU whose ring runs full
 * exits on its own (KVM_EXIT_DIRTY_RING_FULL) and waits for us; the final
 * stage's pause is the one kick that matters.
 */
static int take_dirty(struct migration *m, uint64_t *dirty)
{
	int ret = harvest(m);

	if (ret)
		return ret;
	ret = dirty_bitmap_take(&m->vm->dirty->collected, &m->round);
	*dirty = dirty_bitmap_count(&m->round);
	return ret;
}

/* The round's figures for status, and its progress line. */
static void record_round(struct migration *m, const struct converge_round *r,
			 unsigned int throttle)
{
	const struct converge *c = &m->conv;
	uint64_t ms = r->ns / 1000000 ? r->ns / 1000000 : 1;
	uint64_t tenths = (r->bytes * 10000 / ms) >> 20;	/* MiB/s x 10 */
	uint64_t smooth_tenths = (c->bandwidth * 10) >> 20;

	pthread_mutex_lock(&m->lock);
	m->rounds = c->rounds;
	m->bandwidth = c->bandwidth;
	m->dirty_rate = c->dirty_rate;
	m->expected_downtime_ms = c->estimate_ms;
	pthread_mutex_unlock(&m->lock);
	pr_info("migration: round %u: %" PRIu64 " MiB in %" PRIu64 " ms (%" PRIu64 ".%" PRIu64
		" MiB/s, %" PRIu64 ".%" PRIu64 " MiB/s smoothed), %" PRIu64 " MiB sent in all, %" PRIu64
		" pages/s dirtied, %" PRIu64 " pages left (%" PRIu64 " of them deferred: "
		"dirtied again before sent), expected downtime %" PRIu64 " ms "
		"(target %" PRIu64 "), throttle %u%%; %" PRIu64 " writes of %" PRIu64 " bytes on "
		"average, %" PRIu64 " ms of this thread's CPU", c->rounds - 1, r->bytes >> 20, ms,
		tenths / 10, tenths % 10, smooth_tenths / 10, smooth_tenths % 10, m->sw->offset >> 20,
		c->dirty_rate, r->pages_dirty, m->round_deferred, c->estimate_ms,
		m->params.downtime_ms, throttle,
		m->round_writes, m->round_writes ? r->bytes / m->round_writes : 0,
		m->round_cpu_ns / 1000000);
}

static int set_throttle(struct migration *m, unsigned int pct)
{
	int ret = throttle_set(&m->throttle, pct);

	if (ret) {
		fail(m, "cannot throttle the vCPUs: %s", strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&m->lock);
	m->throttle_pct = pct;
	pthread_mutex_unlock(&m->lock);
	pr_info("migration: auto-converge: throttling the vCPUs by %u%%", pct);
	return 0;
}

/* What converge.c makes of the round just measured: 1 to stop and copy,
 * 0 for another round, -errno to give up. */
static int decide(struct migration *m, const struct converge_round *r)
{
	char why[ERR_MAX] = "";
	unsigned int throttle = m->conv.throttle;	/* the round ran under it */
	enum converge_action a = converge_after_round(&m->conv, r, why, sizeof(why));

	record_round(m, r, throttle);
	switch (a) {
	case CONVERGE_STOP_AND_COPY:
		return 1;
	case CONVERGE_NEXT_ROUND:
		return 0;
	case CONVERGE_THROTTLE:
		return set_throttle(m, m->conv.throttle);
	case CONVERGE_GIVE_UP:
		fail(m, "%s", why);
		return -ETIMEDOUT;
	}
	return -EINVAL;
}

/* One live round: @pages (NULL: all of RAM), then the harvest of what the
 * guest dirtied meanwhile into m->round. */
static int live_round(struct migration *m, struct stream_writer *sw,
		      const struct dirty_bitmap *pages, struct converge_round *r)
{
	struct page_stats st = { 0 };
	uint64_t t0 = monotonic_ns(), off0 = sw->offset, dirty = 0;
	uint64_t writes0 = sw->writes, cpu0 = thread_cpu_ns();
	int ret;

	m->pace_t0 = t0;
	m->pace_off0 = off0;
	m->live_round = true;
	ret = send_pages(m, sw, pages, true, &st);
	m->live_round = false;
	if (pages) {
		pthread_mutex_lock(&m->lock);
		m->pages_resent += st.pages + st.zero_pages;
		pthread_mutex_unlock(&m->lock);
	}
	if (!ret)
		ret = take_dirty(m, &dirty);
	m->round_writes = sw->writes - writes0;
	m->round_cpu_ns = thread_cpu_ns() - cpu0;
	m->round_deferred = st.deferred;
	*r = (struct converge_round){ .bytes = sw->offset - off0, .ns = monotonic_ns() - t0,
				      .pages_sent = st.pages + st.zero_pages + st.deferred,
				      .pages_dirty = dirty, .page_size = host_page_size() };
	return ret;
}

/*
 * The kernel's round trip of the channel, in µs (converge_path_rtt_ms):
 * TCP's minimum RTT so far, or 0 for a unix socket. False when the kernel
 * has no figure (no TCP sample yet).
 */
static bool kernel_rtt_us(struct migration *m, uint64_t *us)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	*us = 0;
	if (!strncmp(m->uri, "unix:", 5))
		return true;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(m->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_min_rtt) + sizeof(ti.tcpi_min_rtt) ||
	    !ti.tcpi_min_rtt)
		return false;
	*us = ti.tcpi_min_rtt;
	return true;
}

/*
 * The final stage's fixed cost: the path's round trip (the ack comes back
 * that way), the smallest seen so far, plus the final work's default. Run
 * before the first round and again after each: the handshake's one sample
 * also holds the destination's checks and any scheduling delay.
 */
static void plan_fixed_cost(struct migration *m)
{
	uint64_t us, rtt, fixed;
	bool known = kernel_rtt_us(m, &us);

	rtt = converge_path_rtt_ms(m->rtt_ms, known, us);
	fixed = converge_fixed_cost_ms(rtt, FINAL_WORK_DEFAULT_MS);
	/* Logged when it changes; the first plan always does (converge_init
	 * leaves 0, and the final work alone is more). */
	if (fixed == m->conv.p.fixed_cost_ms)
		return;
	m->conv.p.fixed_cost_ms = fixed;
	pthread_mutex_lock(&m->lock);
	m->fixed_cost_ms = fixed;
	pthread_mutex_unlock(&m->lock);
	pr_info("migration: planning with %" PRIu64 " ms of fixed final-stage cost (%" PRIu64
		" ms round trip + %d ms of final work; the handshake took %" PRIu64 " ms, "
		"the kernel's round trip %s%" PRIu64 " us)", fixed, rtt, FINAL_WORK_DEFAULT_MS,
		m->rtt_ms, known ? "" : "not known yet, ", us);
}

/* After a round: whether the rest goes post-copy now, after
 * POSTCOPY_PRECOPY_ROUNDS rounds of a postcopy migration, or because
 * migrate-start-postcopy asked (the round that was running finished). */
static bool postcopy_due(struct migration *m)
{
	if (!m->params.postcopy && atomic_load(&m->postcopy_asked)) {
		pthread_mutex_lock(&m->lock);
		m->params.postcopy = true;
		pthread_mutex_unlock(&m->lock);
		pr_info("migration to %s: switching to post-copy after round %u, as asked",
			m->uri, m->rounds);
		return true;
	}
	return m->params.postcopy && m->rounds >= POSTCOPY_PRECOPY_ROUNDS;
}

/* Round 0 and the rounds after it, while the guest runs; returns once the
 * rest fits the downtime target, with it in m->round. */
static int precopy(struct migration *m, struct stream_writer *sw)
{
	struct converge_params p = {
		.downtime_ms = m->params.downtime_ms, .max_rounds = m->params.max_rounds,
		.auto_converge = m->params.auto_converge,
	};
	struct converge_round r = { 0 };
	int ret;

	converge_init(&m->conv, &p);
	plan_fixed_cost(m);
	ret = live_round(m, sw, NULL, &r);
	while (!ret) {
		plan_fixed_cost(m);
		ret = decide(m, &r);
		if (ret == 1)
			return 0;
		/* A round more to shorten a pause that already fits is
		 * pre-copy's own: post-copy is for a guest that does not fit. */
		if (!ret && !converge_fits(&m->conv) && postcopy_due(m))
			return 0;	/* the rest goes post-copy */
		if (!ret)
			ret = live_round(m, sw, &m->round, &r);
	}
	return ret;
}

/* m->round |= what is collected now. */
static void merge_collected(struct migration *m)
{
	struct dirty_bitmap *c = &m->vm->dirty->collected;

	for (uint64_t i = 0; i < (c->nr_pages + 63) / 64; i++)
		m->round.words[i] |= c->words[i];
}

/* Where the final stage's time goes (monotonic ns at each step). */
struct final_times {
	uint64_t sync, pause, paused, tables, pages0, pages1, state, ack;
	uint64_t pages;
};

/*
 * The VM is paused. The order matters: KVM writes the LPI pending and ITS
 * tables into guest RAM first; those writes, made with no vCPU running, are
 * only in the slot's bitmap, so KVM_GET_DIRTY_LOG comes after them and
 * after the last ring harvest, as the very last collection.
 */
static int final_stage(struct migration *m, struct stream_writer *sw, struct final_times *ft)
{
	struct state_writer its;
	struct page_stats st = { 0 };
	char why[ERR_MAX] = "";
	int ret;

	sw_init(&its);
	ret = machine_save_gic_tables(m->vm, &its, why, sizeof(why));
	if (ret)
		fail(m, "saving the GIC and ITS tables: %s", why);
	ft->tables = monotonic_ns();
	if (!ret)
		ret = harvest(m);
	if (!ret)
		ret = dirty_log_collect_bitmap(m->vm);
	ft->pages0 = monotonic_ns();
	if (!ret) {
		merge_collected(m);
		ret = send_pages(m, sw, &m->round, false, &st);
		pthread_mutex_lock(&m->lock);
		m->pages_resent += st.pages + st.zero_pages;
		m->rounds++;
		pthread_mutex_unlock(&m->lock);
	}
	ft->pages1 = monotonic_ns();
	ft->pages = st.pages + st.zero_pages;
	if (!ret)
		ret = machine_put_state(m->vm, sw, &its);
	ft->state = monotonic_ns();
	sw_free(&its);
	if (ret && sw->err[0])
		fail(m, "%s", sw->err);
	return ret;
}

/* The post-copy final stage (migration/postcopy.c): the rest of RAM stays
 * here, served on demand, until the destination has all of it. */
static int postcopy_final_stage(struct migration *m, struct stream_writer *sw)
{
	struct postcopy_source *pc = NULL;
	char why[ERR_MAX];
	struct postcopy_params pp = { .recovery_s = m->params.recovery_s,
				      .push_mib_per_s = m->params.postcopy_bandwidth_mib,
				      .sec = m->params.sec };
	int ret;

	memcpy(pp.token, m->token, sizeof(pp.token));
	ret = postcopy_switchover(m->vm, sw, m->uri, &pp, &m->round, &pc, why, sizeof(why));

	if (ret) {
		char line[CHANNEL_LINE_MAX] = "";

		/* A destination that refused post-copy (its memory backend, no
		 * userfaultfd) said why before it closed. */
		if (!channel_set_timeout(m->fd, 2) &&
		    !channel_read_line(m->fd, line, sizeof(line)) && !strncmp(line, "fail ", 5))
			fail(m, "switching to post-copy: the destination failed: %s", line + 5);
		else
			fail(m, "switching to post-copy: %s", why);
	}
	pthread_mutex_lock(&m->lock);
	m->pc = pc;
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* After the acknowledgement: the guest runs at the destination. */
static int postcopy_finish(struct migration *m)
{
	char why[ERR_MAX] = "";
	int ret = postcopy_source_wait(m->pc, why, sizeof(why));

	if (ret)
		fail(m, "%s", why);
	return ret;
}

/* The destination's next line: 0 if it is @want, else @m fails with @what
 * and the reason (a read error, or what the line said instead). */
static int expect_line(struct migration *m, const char *want, const char *what)
{
	char line[CHANNEL_LINE_MAX];
	int ret = channel_read_line(m->fd, line, sizeof(line));

	if (ret) {
		fail(m, "%s: %s", what, strerror(-ret));
		return ret;
	}
	if (!strcmp(line, want))
		return 0;
	fail(m, "%s: the destination answered '%s'", what, line);
	return -EPROTO;
}

static int wait_ack(struct migration *m)
{
	int ret = channel_set_timeout(m->fd, MIGRATE_ACK_TIMEOUT_S);

	if (ret) {
		fail(m, "no acknowledgement from the destination: %s", strerror(-ret));
		return ret;
	}
	return expect_line(m, "ack", "the destination did not take the VM");
}

static uint64_t ms_between(uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? (t1 - t0) / 1000000 : 0;
}

/* The downtime, and the fixed part of it measured: all but the last pages. */
static void record_final(struct migration *m, const struct final_times *ft)
{
	uint64_t down = ms_between(ft->pause, ft->ack);
	uint64_t pages_ms = ms_between(ft->pages0, ft->pages1);

	pthread_mutex_lock(&m->lock);
	m->downtime_ms_measured = down;
	m->final_work_ms = down - pages_ms;
	pthread_mutex_unlock(&m->lock);
	pr_info("migration: final stage: destination caught up in %" PRIu64 " ms before it; "
		"pause %" PRIu64 " ms, GIC/ITS tables %" PRIu64 " ms, "
		"%" PRIu64 " pages %" PRIu64 " ms, state %" PRIu64 " ms, restore and ack %" PRIu64
		" ms; downtime %" PRIu64 " ms (expected %" PRIu64 ", of it %" PRIu64 " fixed; "
		"fixed measured %" PRIu64 ")", ms_between(ft->sync, ft->pause),
		ms_between(ft->pause, ft->paused),
		ms_between(ft->paused, ft->tables), ft->pages, pages_ms,
		ms_between(ft->pages1, ft->state), ms_between(ft->state, ft->ack), down,
		m->expected_downtime_ms, m->fixed_cost_ms, down - pages_ms);
}

/*
 * The pre-copy hand-over has two phases, so that the guest never runs on
 * both sides: "ack" says the destination holds the whole VM, and it runs
 * the guest only once "commit" arrives, answering "running". A commit that
 * could not be sent leaves the guest here, to resume. One sent but not
 * confirmed may or may not have arrived - neither side can tell alone - so
 * the VM then stays paused here for the operator to decide (README).
 */
static int commit(struct migration *m)
{
	int ret = channel_send_line(m->fd, "commit", NULL);

	if (ret) {
		fail(m, "cannot send the commit to the destination: %s", strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&m->lock);
	m->commit_sent = true;
	pthread_mutex_unlock(&m->lock);
	return expect_line(m, "running", "the destination did not confirm that it runs the guest");
}

static void report(struct migration *m)
{
	if (m->pc_summary[0])
		pr_info("migration to %s: %s", m->uri, m->pc_summary);
	pr_info("migration to %s completed: total %" PRIu64 " ms, downtime %" PRIu64 " ms "
		"(expected %" PRIu64 ", target %" PRIu64 "), %u rounds, %" PRIu64 " pages sent "
		"(%" PRIu64 " zero), %" PRIu64 " pages resent, %" PRIu64 " MiB, throttle %u%%, "
		"%" PRIu64 " dirty-ring-full exits",
		m->uri, m->total_ms, m->downtime_ms_measured, m->expected_downtime_ms,
		m->params.downtime_ms, m->rounds, m->pages_sent, m->zero_pages, m->pages_resent,
		m->bytes_sent >> 20, m->conv.throttle, atomic_load(&m->vm->dirty_ring_full_exits));
	pr_info("migration to %s: dirty log harvest %" PRIu64 " entries in %" PRIu64 " ms, "
		"harvest %" PRIu64 " entries/s", m->uri, m->harvested, m->harvest_ns / 1000000,
		m->harvest_ns ? m->harvested * 1000000000 / m->harvest_ns : 0);
}

/*
 * Until @m's channel has something to read, at most @seconds, in slices:
 * the guest still runs, so a cancel, a VM stop or a vCPU waiting on a full
 * ring (harvested at once) is seen between them, as in pace().
 */
static int await_readable(struct migration *m, unsigned int seconds)
{
	uint64_t end = monotonic_ns() + seconds * 1000000000ull;
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };

	for (;;) {
		int n = poll(&pfd, 1, (int)(WAIT_SLICE_NS / 1000000));
		int ret;

		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		ret = check_running(m);
		if (ret)
			return ret;
		if (monotonic_ns() >= end)
			return -ETIMEDOUT;
	}
}

/*
 * Before the pause: a SYNC, and the destination's "synced" once it has read
 * everything before it. A destination slower to read than this side is to
 * send (kernel TLS decrypts dearer than it encrypts; a loaded host) holds
 * up to a socket buffer of rounds not yet read, and the pause would wait
 * for them too, unplanned (docs/control.md). The guest runs meanwhile;
 * what it dirties goes in the final stage (its rings are harvested while
 * this waits). Bounded by MIGRATE_ACK_TIMEOUT_S.
 */
static int drain_destination(struct migration *m, struct stream_writer *sw)
{
	int ret = stream_write_section(sw, STREAM_SEC_SYNC, 1, 0, NULL, 0) ?: stream_flush(sw);

	if (ret) {
		fail(m, "sending the sync before the pause: %s", sw->err);
		return ret;
	}
	ret = await_readable(m, MIGRATE_ACK_TIMEOUT_S);
	if (ret) {
		fail(m, "the destination did not catch up before the pause: %s", strerror(-ret));
		return ret;
	}
	return expect_line(m, "synced", "the destination did not catch up before the pause");
}

/* Everything up to and including the ACK. */
static int migrate_run(struct migration *m, struct stream_writer *sw)
{
	struct final_times ft = { 0 };
	int ret = handshake(m, sw);

	/* From here on the source waits for an answer only after END, which
	 * flushes: small sections leave in large writes. */
	stream_writer_set_buffer(sw, m->wbuf, WRITE_BUFFER_BYTES);
	if (!ret) {
		ret = dirty_log_start(m->vm);
		if (ret)
			fail(m, "cannot start dirty logging: %s", strerror(-ret));
	}
	if (!ret)
		ret = precopy(m, sw);
	if (ret)
		return ret;
	ft.sync = monotonic_ns();
	ret = drain_destination(m, sw);
	if (ret)
		return ret;
	ft.pause = monotonic_ns();
	ret = vm_pause(m->vm);
	if (ret) {
		fail(m, "cannot pause the VM: %s", strerror(-ret));
		return ret;
	}
	ft.paused = monotonic_ns();
	ret = m->params.postcopy ? postcopy_final_stage(m, sw) : final_stage(m, sw, &ft);
	if (!ret)
		ret = wait_ack(m);
	if (!ret && !m->params.postcopy)
		ret = commit(m);
	ft.ack = monotonic_ns();
	if (!ret && !m->params.postcopy)
		record_final(m, &ft);
	pthread_mutex_lock(&m->lock);
	if (m->params.postcopy)
		m->downtime_ms_measured = ms_between(ft.pause, ft.ack);
	m->committed = !ret && m->pc;
	pthread_mutex_unlock(&m->lock);
	if (m->committed)
		ret = postcopy_finish(m);
	return ret;
}

/* Post-copy lost after the acknowledgement: the guest's newest pages are
 * at the destination, its oldest here; resuming here would run a stale
 * guest. Stop instead (docs/postcopy.md). */
static void finish_lost(struct migration *m)
{
	pthread_mutex_lock(&m->lock);
	m->state = MIG_FAILED;
	pthread_mutex_unlock(&m->lock);
	pr_err("migration to %s failed after the switch to post-copy: %s; the guest cannot "
	       "resume here", m->uri, m->error);
	vm_request_stop(m->vm, VM_STOP_ERROR, 0);
}

static void finish_failed(struct migration *m, int ret)
{
	dirty_log_stop(m->vm);
	vm_resume(m->vm);
	if (!m->error[0])
		fail(m, "%s", strerror(-ret));
	pthread_mutex_lock(&m->lock);
	m->state = atomic_load(&m->cancel) ? MIG_CANCELLED : MIG_FAILED;
	pthread_mutex_unlock(&m->lock);
	pr_err("migration to %s %s: %s; the VM keeps running here", m->uri,
	       state_names[m->state], m->error);
}

static void stop_postcopy(struct migration *m)
{
	struct postcopy_source *pc;

	pthread_mutex_lock(&m->lock);
	pc = m->pc;
	m->pc = NULL;
	pthread_mutex_unlock(&m->lock);
	if (!pc)
		return;
	postcopy_source_summary(pc, m->pc_summary, sizeof(m->pc_summary));
	postcopy_source_free(pc);
}

/* The commit went out, its confirmation did not come: the destination may
 * be running the guest. Resuming here could run it twice; stay paused. */
static void finish_unconfirmed(struct migration *m)
{
	dirty_log_stop(m->vm);
	pthread_mutex_lock(&m->lock);
	m->state = MIG_UNCONFIRMED;
	pthread_mutex_unlock(&m->lock);
	pr_err("migration to %s: %s; the destination may be running the guest, so it stays "
	       "paused here: 'resume' it only if the destination is not running it, 'quit' "
	       "otherwise", m->uri, m->error);
}

/* On this thread: a slow or hostile destination never holds the control
 * thread (connect and handshake are bounded). */
static int connect_destination(struct migration *m)
{
	char err[ERR_MAX];
	int fd = channel_connect(m->uri, err, sizeof(err)), ret;

	if (fd < 0) {
		fail(m, "%s", err);
		return fd;
	}
	ret = channel_secure(fd, &m->params.sec, false, err, sizeof(err));
	if (ret) {
		close(fd);
		fail(m, "%s", err);
		return ret;
	}
	/* A destination that stops reading must not hold the source for ever. */
	channel_set_timeout(fd, MIGRATE_ACK_TIMEOUT_S);
	pthread_mutex_lock(&m->lock);
	m->fd = fd;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void *migrate_thread(void *arg)
{
	struct migration *m = arg;
	struct stream_writer sw;
	int ret;

	stream_writer_init(&sw, stream_fd_writev, (void *)(intptr_t)-1);
	ret = sandbox_enter(SANDBOX_MIGRATE) ?: connect_destination(m);
	if (!ret && atomic_load(&m->cancel))
		ret = -ECANCELED;
	if (!ret) {
		stream_writer_init(&sw, stream_fd_writev, (void *)(intptr_t)m->fd);
		m->sw = &sw;
		ret = migrate_run(m, &sw);
	}
	/* Full speed again, whatever the outcome (paused, if it succeeded). */
	throttle_stop(&m->throttle);
	if (ret && sw.err[0])
		fail(m, "%s", sw.err);
	pthread_mutex_lock(&m->lock);
	m->throttle_pct = 0;
	m->bytes_sent = sw.offset;
	m->total_ms = ms_since(m->start_ns);
	if (!ret)
		m->state = MIG_DONE;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	pthread_mutex_unlock(&m->lock);
	/* Before a resume: the page server reads RAM of a VM it thinks paused. */
	stop_postcopy(m);
	if (ret && m->committed) {
		finish_lost(m);
		return NULL;
	}
	if (ret && m->commit_sent) {
		finish_unconfirmed(m);
		return NULL;
	}
	if (ret) {
		finish_failed(m, ret);
		return NULL;
	}
	report(m);
	/* The guest runs at the destination now: this tern stops without
	 * resuming anything (no device here may touch shared disks again). */
	vm_request_stop(m->vm, VM_STOP_MIGRATED, 0);
	return NULL;
}

/* ---- control side ---- */

static void migration_free(struct migration *m)
{
	if (!m)
		return;
	if (m->throttle_ready)
		throttle_destroy(&m->throttle);
	if (m->owns_keys)
		tls_creds_free(&m->params.sec);
	dirty_bitmap_free(&m->round);
	free(m->bounce);
	free(m->wbuf);
	free(m);
}

static void reap(struct vm *vm)
{
	struct migration *m = vm->migration;

	if (m && m->thread_started)
		pthread_join(m->thread, NULL);
	migration_free(m);
	vm->migration = NULL;
}

bool migrate_active(struct vm *vm)
{
	struct migration *m = vm->migration;
	bool active;

	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	active = m->state == MIG_ACTIVE;
	pthread_mutex_unlock(&m->lock);
	return active;
}

static struct migration *migration_new(struct vm *vm, const struct migrate_params *p)
{
	struct migration *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->vm = vm;
	m->fd = -1;
	snprintf(m->uri, sizeof(m->uri), "%s", p->uri);
	m->params = *p;
	m->params.uri = m->uri;
	if (!m->params.downtime_ms)
		m->params.downtime_ms = MIGRATE_DEFAULT_DOWNTIME_MS;
	if (!m->params.max_rounds)
		m->params.max_rounds = MIGRATE_MAX_ROUNDS;
	if (!m->params.recovery_s)
		m->params.recovery_s = POSTCOPY_DEFAULT_RECOVERY_S;
	pthread_mutex_init(&m->lock, NULL);
	m->start_ns = monotonic_ns();
	m->bounce = malloc(BOUNCE_BYTES);
	m->wbuf = malloc(WRITE_BUFFER_BYTES);
	m->throttle_ready = !throttle_init(&m->throttle, vm);
	if (!m->bounce || !m->wbuf || !m->throttle_ready ||
	    dirty_bitmap_init(&m->round, vm->dirty->slot.npages)) {
		migration_free(m);
		return NULL;
	}
	return m;
}

/* The control protocol checks these too; a caller in C may not have. */
static int check_params(const struct migrate_params *p, char *err, size_t errlen)
{
	if (!p->uri || !*p->uri || strlen(p->uri) >= URI_MAX) {
		snprintf(err, errlen, "the migration URI must be 1 to %d bytes", URI_MAX - 1);
		return -EINVAL;
	}
	if (p->downtime_ms > MIGRATE_MAX_DOWNTIME_MS) {
		snprintf(err, errlen, "downtime_ms %" PRIu64 " is above %d", p->downtime_ms,
			 MIGRATE_MAX_DOWNTIME_MS);
		return -EINVAL;
	}
	if (p->max_bandwidth_mib > MIGRATE_MAX_BANDWIDTH_MIB) {
		snprintf(err, errlen, "max_bandwidth %" PRIu64 " MiB/s is above %u",
			 p->max_bandwidth_mib, MIGRATE_MAX_BANDWIDTH_MIB);
		return -EINVAL;
	}
	if (p->max_rounds > MIGRATE_ROUNDS_LIMIT) {
		snprintf(err, errlen, "max_rounds %u is above %d", p->max_rounds,
			 MIGRATE_ROUNDS_LIMIT);
		return -EINVAL;
	}
	if (p->postcopy_bandwidth_mib > MIGRATE_MAX_BANDWIDTH_MIB) {
		snprintf(err, errlen, "max_postcopy_bandwidth %" PRIu64 " MiB/s is above %u",
			 p->postcopy_bandwidth_mib, MIGRATE_MAX_BANDWIDTH_MIB);
		return -EINVAL;
	}
	if (p->recovery_s > POSTCOPY_MAX_RECOVERY_S) {
		snprintf(err, errlen, "recovery_timeout_s %u is above %d", p->recovery_s,
			 POSTCOPY_MAX_RECOVERY_S);
		return -EINVAL;
	}
	return channel_sec_check(p->uri, &p->sec, err, errlen);
}

static void log_started(const struct migration *m)
{
	char bw[48] = "unlimited";

	if (m->params.max_bandwidth_mib)
		snprintf(bw, sizeof(bw), "at most %" PRIu64 " MiB/s", m->params.max_bandwidth_mib);
	pr_info("migration to %s started (downtime target %" PRIu64 " ms, bandwidth %s, "
		"auto-converge %s, at most %u rounds%s)", m->uri, m->params.downtime_ms, bw,
		m->params.auto_converge ? "on" : "off", m->params.max_rounds,
		m->params.postcopy ? ", post-copy after the first round" : "");
	if (m->params.sec.insecure)
		pr_warn("migration to %s: insecure=on: plain TCP, the guest's memory crosses the "
			"network readable and unauthenticated", m->uri);
	if (m->params.postcopy)
		pr_info("migration to %s: a lost post-copy page channel is waited on for %u s; "
			"post-copy's background push %s", m->uri, m->params.recovery_s,
			m->params.postcopy_bandwidth_mib ? "is capped (max_postcopy_bandwidth)" :
			"is not capped");
}

int migrate_start(struct vm *vm, const struct migrate_params *params, char *err,
		  size_t errlen)
{
	struct migration *m;
	char why[160];
	int ret;

	if (migrate_active(vm)) {
		snprintf(err, errlen, "a migration is already running");
		return -EBUSY;
	}
	ret = check_params(params, err, errlen);
	if (ret)
		return ret;
	if (devices_migration_blocker(vm, why, sizeof(why))) {
		snprintf(err, errlen, "cannot migrate: %s; nothing was sent", why);
		return -EOPNOTSUPP;
	}
	if (!vm->dirty->available) {
		snprintf(err, errlen, "cannot migrate: %s", vm->dirty->unavailable);
		return -ENOTSUP;
	}
	if (vm_is_paused(vm)) {
		snprintf(err, errlen, "cannot migrate a paused VM: resume it first");
		return -EBUSY;
	}
	reap(vm);
	m = migration_new(vm, params);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vm->migration = m;
	/* Keys not read at start (--migrate-to) are read now, on this thread:
	 * the migration thread may open no file. */
	if (channel_sec_tls(&m->params.sec) && !m->params.sec.creds) {
		ret = tls_creds_load(&m->params.sec, false, err, errlen);
		if (ret) {
			reap(vm);
			return ret;
		}
		m->owns_keys = true;
	}
	ret = pthread_create(&m->thread, NULL, migrate_thread, m);
	if (ret) {
		reap(vm);
		snprintf(err, errlen, "cannot start the migration thread: %s", strerror(ret));
		return -ret;
	}
	m->thread_started = true;
	log_started(m);
	return 0;
}

int migrate_cancel(struct vm *vm, char *err, size_t errlen)
{
	struct migration *m = vm->migration;

	if (!migrate_active(vm)) {
		snprintf(err, errlen, "no migration is running");
		return -ENOENT;
	}
	pthread_mutex_lock(&m->lock);
	if (m->committed) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "the migration is in post-copy: the guest runs at the "
			 "destination with part of its memory here; it cannot be cancelled");
		return -EBUSY;
	}
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->cancel, true);
	fail(m, "cancelled on the control socket");
	/* Unblocks a send or a wait for the destination's answer. */
	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0)
		shutdown(m->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int migrate_start_postcopy(struct vm *vm, char *err, size_t errlen)
{
	struct migration *m = vm->migration;
	bool already;

	if (!migrate_active(vm)) {
		snprintf(err, errlen, "no migration is running");
		return -ENOENT;
	}
	pthread_mutex_lock(&m->lock);
	already = m->params.postcopy;
	pthread_mutex_unlock(&m->lock);
	if (already || atomic_exchange(&m->postcopy_asked, true)) {
		snprintf(err, errlen, "the migration is already set to switch to post-copy");
		return -EALREADY;
	}
	pr_info("migration to %s: post-copy asked for; it starts when the current round ends",
		m->uri);
	return 0;
}

int migrate_reconnect(struct vm *vm, char *err, size_t errlen)
{
	struct migration *m = vm->migration;
	int ret = -EINVAL;

	if (!migrate_active(vm)) {
		snprintf(err, errlen, "no migration is running");
		return -ENOENT;
	}
	pthread_mutex_lock(&m->lock);
	if (m->pc)
		ret = postcopy_source_reconnect(m->pc);
	pthread_mutex_unlock(&m->lock);
	if (ret == -EINVAL)
		snprintf(err, errlen, "the migration is not in post-copy: only post-copy has a "
			 "page channel to reconnect");
	else if (ret)
		snprintf(err, errlen, "the page channel cannot be dropped now (%s): it is already "
			 "being reconnected, or post-copy has finished", strerror(-ret));
	else
		pr_info("migration to %s: dropping the page channel on request; reconnecting",
			m->uri);
	return ret;
}

bool migrate_finish(struct vm *vm)
{
	struct migration *m = vm->migration;
	bool moved;
	char err[64];

	/* Refused once post-copy is committed: then this waits for it. */
	if (migrate_active(vm))
		migrate_cancel(vm, err, sizeof(err));
	if (m && m->thread_started) {
		pthread_join(m->thread, NULL);
		m->thread_started = false;
	}
	moved = m && m->committed;
	reap(vm);
	return moved;
}

int migrate_stats(struct vm *vm, struct migrate_stats *st)
{
	struct migration *m = vm->migration;

	if (!m)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	*st = (struct migrate_stats){
		.state = state_names[m->state],
		.dirty_tracking = dirty_log_mode_name(vm->dirty),
		.downtime_target_ms = m->params.downtime_ms,
		.max_bandwidth_mib = m->params.max_bandwidth_mib,
		.max_rounds = m->params.max_rounds,
		.auto_converge = m->params.auto_converge,
		.postcopy_asked = m->params.postcopy,
		.recovery_s = m->params.recovery_s,
		.postcopy_bandwidth_mib = m->params.postcopy_bandwidth_mib,
		.rounds = m->rounds,
		.bytes_sent = m->bytes_sent,
		.bandwidth = m->bandwidth,
		.dirty_rate = m->dirty_rate,
		.expected_downtime_ms = m->expected_downtime_ms,
		.fixed_cost_ms = m->fixed_cost_ms,
		.throttle_pct = m->throttle_pct,
		.pages_sent = m->pages_sent,
		.pages_resent = m->pages_resent,
		.elapsed_ms = m->state == MIG_ACTIVE ? ms_since(m->start_ns) : m->total_ms,
		.completed = m->state == MIG_DONE,
		.downtime_ms = m->downtime_ms_measured,
		.final_work_ms = m->final_work_ms,
		.postcopy = m->pc != NULL,
	};
	snprintf(st->uri, sizeof(st->uri), "%s", m->uri);
	snprintf(st->error, sizeof(st->error), "%s", m->error);
	if (m->pc)
		postcopy_source_stats(m->pc, &st->pc);
	pthread_mutex_unlock(&m->lock);
	return 0;
}
