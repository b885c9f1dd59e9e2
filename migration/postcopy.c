// SPDX-License-Identifier: GPL-2.0-only
/*
 * Post-copy live migration, source side (docs/postcopy.md).
 *
 * At switch-over the VM is paused for good here: the destination gets the
 * pages KVM itself wrote (GIC and ITS tables, which its restore reads), the
 * list of pages it still lacks (RAM_MISSING), then the device state; the
 * guest then runs there. This side serves the page channel: each request
 * from the destination's fault thread is answered at once, ahead of the
 * background push of every other missing page. One thread writes the
 * channel (this one), so page sections never interleave.
 *
 * The guest's memory is split between the two hosts from the
 * acknowledgement on: this side keeps every page until the destination
 * says it has all of them, and if the channel breaks it reconnects to the
 * destination (which keeps listening) rather than resume a guest whose
 * newer state lives there.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/dirty.h"
#include "migration/machine.h"
#include "migration/postcopy.h"
#include "migration/tls.h"
#include "migration/postcopy_proto.h"
#include "migration/state.h"
#include "vmm/log.h"
#include "vmm/vm.h"
#include "vmm/sandbox.h"

#define PUSH_PAGES	16		/* background push: pages per piece */
/* Push data queued in the socket delays an urgent page behind it: keep
 * that queue a few pieces short. */
#define CHANNEL_SNDBUF	(64 * 1024)
#define URI_MAX		256
#define ERR_MAX		400

struct postcopy_source {
	struct vm *vm;
	char uri[URI_MAX];
	struct channel_sec sec;
	uint8_t token[CHANNEL_TOKEN_LEN];	/* first on every page channel */
	size_t page;
	unsigned int recovery_s;	/* wait this long for a lost channel */
	uint64_t push_cap;		/* background push, bytes/s; 0: uncapped */
	uint64_t push_t0, push_bytes;	/* pacing, since this connection opened */
	int fd;				/* the page channel, -1 while lost; written
					 * under lock (migrate-reconnect shuts it) */
	struct stream_writer sw;
	struct dirty_bitmap missing;	/* what the destination lacked at switch-over */
	struct dirty_bitmap to_push;	/* not sent yet on this connection */
	uint64_t cursor;		/* background push position */
	uint8_t in[PC_MSG_BYTES];
	size_t in_len;
	pthread_t thread;
	bool started;
	_Atomic bool stop;

	pthread_mutex_t lock;		/* what follows */
	pthread_cond_t cond;		/* finished changes */
	bool finished;
	int result;
	char error[ERR_MAX];
	uint64_t total, on_demand, pushed, requests, reconnects;
};

/* ---- sending pages ---- */

static bool page_zero(const uint8_t *p, size_t len)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < len / 8; i++)
		acc |= q[i];
	return !acc;
}

/* Pages [first, first + n), all zero or all not, as one section. */
static int put_run(struct postcopy_source *ps, uint64_t first, uint64_t n, bool zero)
{
	uint64_t off = first * ps->page, le_off = htole64(off);
	uint8_t zp[STREAM_RAM_ZERO_BYTES];
	struct iovec iov[2] = { { &le_off, sizeof(le_off) },
				{ ps->vm->ram.hva + off, n * ps->page } };

	if (zero) {
		stream_ram_zero_encode(zp, off, n);
		iov[0] = (struct iovec){ zp, sizeof(zp) };
		return stream_write_section(&ps->sw, STREAM_SEC_RAM_ZERO, 1, 0, iov, 1);
	}
	/* The VM is paused here for good: its RAM does not change under the CRC. */
	return stream_write_section(&ps->sw, STREAM_SEC_RAM, 1, 0, iov, 2);
}

/* The pages of [first, first + n) still to push, in runs; counts them. */
static int send_range(struct postcopy_source *ps, uint64_t first, uint64_t n, bool demand)
{
	uint64_t p = dirty_bitmap_next(&ps->to_push, first), end = first + n, sent = 0;

	while (p < end) {
		bool zero = page_zero(ps->vm->ram.hva + p * ps->page, ps->page);
		uint64_t start = p;
		int ret;

		while (p < end && p - start < POSTCOPY_SECTION_PAGES &&
		       dirty_bitmap_test(&ps->to_push, p) &&
		       page_zero(ps->vm->ram.hva + p * ps->page, ps->page) == zero) {
			dirty_bitmap_clear(&ps->to_push, p);
			p++;
		}
		ret = put_run(ps, start, p - start, zero);
		if (ret)
			return ret;
		sent += p - start;
		p = dirty_bitmap_next(&ps->to_push, p);
	}
	pthread_mutex_lock(&ps->lock);
	if (demand)
		ps->on_demand += sent;
	else
		ps->pushed += sent;
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

/* How long the cap holds the next push piece back (ms); requests are
 * never held back. */
static int push_delay_ms(const struct postcopy_source *ps)
{
	uint64_t due_ns = pc_push_due_ns(ps->push_t0, ps->push_bytes, ps->push_cap);
	uint64_t now = monotonic_ns();

	if (due_ns <= now)
		return 0;
	/* poll() takes an int; a piece is due within seconds at any cap. */
	return (due_ns - now) / 1000000 >= 1000 ? 1000 : (int)((due_ns - now) / 1000000) + 1;
}

/* The next run of at most PUSH_PAGES missing pages; 1 when none is left. */
static int push_some(struct postcopy_source *ps)
{
	uint64_t p = dirty_bitmap_next(&ps->to_push, ps->cursor), end;

	if (p >= ps->to_push.nr_pages)
		p = dirty_bitmap_next(&ps->to_push, 0);
	if (p >= ps->to_push.nr_pages)
		return 1;
	end = dirty_bitmap_next_clean(&ps->to_push, p);
	if (end - p > PUSH_PAGES)
		end = p + PUSH_PAGES;
	ps->cursor = end;
	ps->push_bytes += (end - p) * ps->page;
	return send_range(ps, p, end - p, false);
}

/* ---- requests ---- */

static void set_error(struct postcopy_source *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct postcopy_source *ps, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ps->lock);
	va_start(ap, fmt);
	vsnprintf(ps->error, sizeof(ps->error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&ps->lock);
}

/* One message: 1 for DONE, 0 for a request served, -errno. */
static int handle_msg(struct postcopy_source *ps)
{
	char why[STREAM_ERR_MAX];
	struct pc_msg msg;
	int ret = pc_msg_decode(ps->in, ps->vm->ram.size, (uint32_t)ps->page, &msg, why,
				sizeof(why));

	if (ret) {
		set_error(ps, "the destination sent a bad message: %s", why);
		return ret;
	}
	if (msg.type == PC_MSG_DONE)
		return 1;
	pthread_mutex_lock(&ps->lock);
	ps->requests++;
	pthread_mutex_unlock(&ps->lock);
	return send_range(ps, msg.offset / ps->page, msg.npages, true);
}

/* What the destination sent, as far as it is there: 1 for DONE, -errno. */
static int read_requests(struct postcopy_source *ps)
{
	for (;;) {
		ssize_t n = recv(ps->fd, ps->in + ps->in_len, sizeof(ps->in) - ps->in_len,
				 MSG_DONTWAIT);
		int ret;

		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 :
			       errno == EINTR ? 0 : -errno;
		ps->in_len += (size_t)n;
		if (ps->in_len < sizeof(ps->in))
			continue;
		ps->in_len = 0;
		ret = handle_msg(ps);
		if (ret)
			return ret;
	}
}

/* Requests first, then one piece of the push; 1 once the destination has all. */
static int serve_once(struct postcopy_source *ps, bool *pushed_all)
{
	struct pollfd pfd = { .fd = ps->fd, .events = POLLIN };
	int ret = poll(&pfd, 1, *pushed_all ? 1000 : push_delay_ms(ps));

	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (ret > 0) {
		ret = read_requests(ps);
		if (ret)
			return ret;
	}
	if (!*pushed_all && !push_delay_ms(ps)) {
		ret = push_some(ps);
		if (ret < 0)
			return ret;
		*pushed_all = ret == 1;
	}
	return 0;
}

/* ---- the channel ---- */

static int open_channel(struct postcopy_source *ps, char *err, size_t errlen)
{
	struct stream_header h = { STREAM_VERSION, STREAM_ARCH_AARCH64, (uint32_t)ps->page, 0 };
	int fd = channel_connect(ps->uri, err, errlen), ret;

	if (fd < 0)
		return fd;
	ret = channel_secure(fd, &ps->sec, false, err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	channel_set_timeout(fd, POSTCOPY_SEND_TIMEOUT_S);
	/* The token proves this connection belongs to this migration
	 * (docs/stream-format.md, "The page channel"). */
	if (send(fd, ps->token, sizeof(ps->token), MSG_NOSIGNAL) != sizeof(ps->token)) {
		snprintf(err, errlen, "sending the session token: %s", strerror(errno));
		close(fd);
		return -EIO;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ CHANNEL_SNDBUF }, sizeof(int)) < 0)
		pr_warn("post-copy: cannot shrink the page channel's send buffer: %m; on-demand "
			"pages may wait behind pushed ones");
	stream_writer_init(&ps->sw, stream_fd_writev, (void *)(intptr_t)fd);
	/* The header tells the destination this connection is the page
	 * channel, not a new migration. */
	ret = stream_write_header(&ps->sw, &h);
	if (ret) {
		snprintf(err, errlen, "%s", ps->sw.err);
		close(fd);
		return ret;
	}
	/* Whatever was in flight on a lost connection may never have
	 * arrived: everything missing is pushed again (the destination
	 * ignores pages it has). */
	memcpy(ps->to_push.words, ps->missing.words, (ps->missing.nr_pages + 63) / 64 * 8);
	ps->cursor = 0;
	ps->in_len = 0;
	ps->push_t0 = monotonic_ns();
	ps->push_bytes = 0;
	pthread_mutex_lock(&ps->lock);
	ps->fd = fd;
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

static void close_channel(struct postcopy_source *ps)
{
	pthread_mutex_lock(&ps->lock);
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -1;
	pthread_mutex_unlock(&ps->lock);
}

/* Tries to reach the destination again until the timeout: 0 or -ETIMEDOUT. */
static int reconnect(struct postcopy_source *ps, int why)
{
	uint64_t deadline = monotonic_ns() + (uint64_t)ps->recovery_s * 1000000000;
	const struct timespec pause = { 0, 500 * 1000 * 1000 };
	char err[256] = "";

	pr_err("post-copy: the page channel to %s broke (%s); the guest runs at the destination "
	       "and this side keeps its pages: reconnecting for up to %u s", ps->uri,
	       ps->sw.err[0] ? ps->sw.err : strerror(-why), ps->recovery_s);
	close_channel(ps);
	while (!atomic_load(&ps->stop) && monotonic_ns() < deadline) {
		if (!open_channel(ps, err, sizeof(err))) {
			pthread_mutex_lock(&ps->lock);
			ps->reconnects++;
			pthread_mutex_unlock(&ps->lock);
			pr_info("post-copy: reconnected to %s; pushing the missing pages again",
				ps->uri);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	set_error(ps, "post-copy: lost the destination %s and could not reach it again within "
		  "%u s (last: %s); the guest's memory is split between the two hosts, so "
		  "the VM is lost", ps->uri, ps->recovery_s, err[0] ? err : "stopped");
	return -ETIMEDOUT;
}

static int serve(struct postcopy_source *ps)
{
	bool pushed_all = false;

	while (!atomic_load(&ps->stop)) {
		int ret = serve_once(ps, &pushed_all);

		if (ret == 1)
			return 0;
		if (ret == -EBADMSG)
			return ret;
		if (ret < 0) {
			pushed_all = false;
			ret = reconnect(ps, ret);
			if (ret)
				return ret;
		}
	}
	set_error(ps, "post-copy stopped before the destination had every page");
	return -ECANCELED;
}

static void *serve_thread(void *arg)
{
	struct postcopy_source *ps = arg;
	int ret = sandbox_enter(SANDBOX_POSTCOPY_SOURCE) ?: serve(ps);

	close_channel(ps);
	pthread_mutex_lock(&ps->lock);
	ps->finished = true;
	ps->result = ret;
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

/* ---- switch-over ---- */

static void bitmap_or(struct dirty_bitmap *dst, const struct dirty_bitmap *src)
{
	for (uint64_t i = 0; i < (dst->nr_pages + 63) / 64; i++)
		dst->words[i] |= src->words[i];
}

static void bitmap_andnot(struct dirty_bitmap *dst, const struct dirty_bitmap *src)
{
	for (uint64_t i = 0; i < (dst->nr_pages + 63) / 64; i++)
		dst->words[i] &= ~src->words[i];
}

/*
 * Splits what the destination lacks into the pages the guest dirtied (left
 * missing: fetched on demand) and the pages KVM wrote with no vCPU running
 * (in @eager: the GIC and ITS tables the destination's restore reads, so
 * they go before the state). KVM_GET_DIRTY_LOG sees only the latter with
 * dirty rings on (Documentation/virt/kvm/api.rst, KVM_CAP_DIRTY_LOG_RING), and
 * comes last, after the table saves and the last ring harvest.
 */
static int split_missing(struct postcopy_source *ps, const struct dirty_bitmap *unsent,
			 struct state_writer *its, struct dirty_bitmap *eager, char *err,
			 size_t errlen)
{
	struct vm *vm = ps->vm;
	uint64_t n = 0;
	int ret = machine_save_gic_tables(vm, its, err, errlen);

	if (!ret)
		ret = dirty_log_harvest(vm, &n);
	if (!ret)
		ret = dirty_bitmap_take(&vm->dirty->collected, &ps->missing);
	if (!ret)
		ret = dirty_log_collect_bitmap(vm);
	if (!ret)
		ret = dirty_bitmap_take(&vm->dirty->collected, eager);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "collecting the last dirty pages: %s", strerror(-ret));
		return ret;
	}
	bitmap_or(&ps->missing, unsent);
	bitmap_andnot(&ps->missing, eager);
	ps->total = dirty_bitmap_count(&ps->missing);
	return 0;
}

/* POSTCOPY: the destination waits as long as this side for a lost channel. */
static int put_params(struct postcopy_source *ps, struct stream_writer *sw)
{
	const struct pc_params p = { .recovery_s = ps->recovery_s };
	uint8_t payload[PC_PARAMS_BYTES];
	struct iovec iov = { payload, sizeof(payload) };

	pc_params_encode(payload, &p);
	return stream_write_section(sw, STREAM_SEC_POSTCOPY, 1, 0, &iov, 1);
}

static int put_missing_runs(struct postcopy_source *ps, struct stream_writer *sw)
{
	const struct dirty_bitmap *bm = &ps->missing;
	uint64_t p = dirty_bitmap_next(bm, 0);
	int ret = ps->total ? put_params(ps, sw) : 0;

	if (ret)
		return ret;
	while (p < bm->nr_pages) {
		uint64_t end = dirty_bitmap_next_clean(bm, p);
		uint8_t payload[STREAM_RAM_ZERO_BYTES];
		struct iovec iov = { payload, sizeof(payload) };

		stream_ram_zero_encode(payload, p * ps->page, end - p);
		ret = stream_write_section(sw, STREAM_SEC_RAM_MISSING, 1, 0, &iov, 1);
		if (ret)
			return ret;
		p = dirty_bitmap_next(bm, end);
	}
	return 0;
}

static struct postcopy_source *source_new(struct vm *vm, const char *uri,
					  const struct postcopy_params *pp)
{
	struct postcopy_source *ps = calloc(1, sizeof(*ps));
	uint64_t npages = vm->dirty->slot.npages;

	if (!ps)
		return NULL;
	ps->vm = vm;
	ps->fd = -1;
	ps->recovery_s = pp->recovery_s;
	ps->push_cap = pp->push_mib_per_s << 20;
	ps->sec = pp->sec;
	memcpy(ps->token, pp->token, sizeof(ps->token));
	ps->page = (size_t)sysconf(_SC_PAGESIZE);
	snprintf(ps->uri, sizeof(ps->uri), "%s", uri);
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->cond, NULL);
	if (dirty_bitmap_init(&ps->missing, npages) || dirty_bitmap_init(&ps->to_push, npages)) {
		postcopy_source_free(ps);
		return NULL;
	}
	return ps;
}

static int start_serving(struct postcopy_source *ps, char *err, size_t errlen)
{
	int ret = open_channel(ps, err, errlen);

	if (ret)
		return ret;
	ret = pthread_create(&ps->thread, NULL, serve_thread, ps);
	if (ret) {
		snprintf(err, errlen, "cannot start the post-copy thread: %s", strerror(ret));
		close_channel(ps);
		return -ret;
	}
	ps->started = true;
	return 0;
}

static int send_before_state(struct postcopy_source *ps, struct stream_writer *sw,
			     const struct dirty_bitmap *eager, char *err, size_t errlen)
{
	struct page_writer pw = { .zero_markers = true };
	int ret = machine_put_pages(ps->vm, sw, eager, &pw);

	if (!ret)
		ret = put_missing_runs(ps, sw);
	/* The destination learns what is missing now, not when the state's
	 * END flushes the stream's buffer behind the page channel's start. */
	if (!ret)
		ret = stream_flush(sw);
	if (ret) {
		snprintf(err, errlen, "%s", sw->err);
		return ret;
	}
	pr_info("post-copy: switching over with %" PRIu64 " pages missing at the destination "
		"(%" PRIu64 " written by KVM sent first)", ps->total,
		pw.stats.pages + pw.stats.zero_pages);
	if (!ps->total) {
		/* Nothing missing: an ordinary end, no page channel. */
		ps->finished = true;
		return 0;
	}
	/* Serving starts before the state goes: the destination's restore
	 * may touch a missing page (an LPI property table) and wait for it. */
	return start_serving(ps, err, errlen);
}

int postcopy_switchover(struct vm *vm, struct stream_writer *sw, const char *uri,
			const struct postcopy_params *pp, const struct dirty_bitmap *unsent,
			struct postcopy_source **out, char *err, size_t errlen)
{
	struct postcopy_source *ps = source_new(vm, uri, pp);
	struct dirty_bitmap eager = { 0 };
	struct state_writer its;
	int ret;

	err[0] = 0;
	if (!ps || dirty_bitmap_init(&eager, vm->dirty->slot.npages)) {
		postcopy_source_free(ps);
		snprintf(err, errlen, "out of memory for the post-copy page maps");
		return -ENOMEM;
	}
	sw_init(&its);
	ret = split_missing(ps, unsent, &its, &eager, err, errlen);
	if (!ret)
		ret = send_before_state(ps, sw, &eager, err, errlen);
	if (!ret) {
		ret = machine_put_state(vm, sw, &its);
		if (ret)
			snprintf(err, errlen, "%s", sw->err);
	}
	sw_free(&its);
	dirty_bitmap_free(&eager);
	if (ret) {
		postcopy_source_free(ps);
		return ret;
	}
	*out = ps;
	return 0;
}

int postcopy_source_wait(struct postcopy_source *ps, char *err, size_t errlen)
{
	int ret;

	pthread_mutex_lock(&ps->lock);
	while (!ps->finished)
		pthread_cond_wait(&ps->cond, &ps->lock);
	ret = ps->result;
	if (ret)
		snprintf(err, errlen, "%s", ps->error);
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

void postcopy_source_free(struct postcopy_source *ps)
{
	if (!ps)
		return;
	atomic_store(&ps->stop, true);
	if (ps->started) {
		/* Unblocks a send to a destination that stopped reading. */
		pthread_mutex_lock(&ps->lock);
		if (!ps->finished && ps->fd >= 0)
			shutdown(ps->fd, SHUT_RDWR);
		pthread_mutex_unlock(&ps->lock);
		pthread_join(ps->thread, NULL);
	}
	close_channel(ps);
	dirty_bitmap_free(&ps->missing);
	dirty_bitmap_free(&ps->to_push);
	free(ps);
}

int postcopy_source_reconnect(struct postcopy_source *ps)
{
	int ret = 0;

	pthread_mutex_lock(&ps->lock);
	if (ps->finished || ps->fd < 0)
		ret = -ENOTCONN;
	else if (shutdown(ps->fd, SHUT_RDWR) < 0)
		ret = -errno;
	pthread_mutex_unlock(&ps->lock);
	return ret;
}

void postcopy_source_stats(struct postcopy_source *ps, struct postcopy_source_stats *st)
{
	pthread_mutex_lock(&ps->lock);
	*st = (struct postcopy_source_stats){
		.pages_missing = ps->total,
		.pages_on_demand = ps->on_demand,
		.pages_pushed = ps->pushed,
		.reconnects = ps->reconnects,
	};
	pthread_mutex_unlock(&ps->lock);
}

void postcopy_source_summary(struct postcopy_source *ps, char *buf, size_t len)
{
	pthread_mutex_lock(&ps->lock);
	snprintf(buf, len, "post-copy: %" PRIu64 " pages missing at switch-over, %" PRIu64
		 " sent on demand (%" PRIu64 " requests), %" PRIu64 " pushed, %" PRIu64
		 " reconnects", ps->total, ps->on_demand, ps->requests, ps->pushed, ps->reconnects);
	pthread_mutex_unlock(&ps->lock);
}
