// SPDX-License-Identifier: GPL-2.0-only
/* A migration port's door: one check thread per connection (admission.h). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migration/admission.h"
#include "migration/channel.h"
#include "migration/channel_sec.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"

#define STR_(x)	#x
#define STR(x)	STR_(x)

/*
 * Shared by the caller and each check thread, which the caller does not
 * join (a stalled stranger must not hold it): the last of them to leave
 * frees it. admission_end cuts the checks under way off (shutdown) and
 * waits for them, since they use the caller's opaque.
 */
struct admission {
	struct admission_ops ops;
	char what[32];
	char uri[CHANNEL_URI_MAX];
	char waiting[64];
	pthread_mutex_t lock;
	unsigned int refs;		/* the caller, and each check thread */
	unsigned int running;		/* checks under way */
	int fds[ADMISSION_MAX];		/* their connections; -1: a free slot */
	pthread_cond_t ended;		/* running went down */
	int winner;			/* admitted, not taken; -1 */
	void *winner_out;		/* its check's out */
	bool closed;			/* admission_end: the rest are cut off */
	int efd;			/* eventfd: a connection was admitted */
	struct ratelimit refusals;
};

struct check_job {
	struct admission *a;
	int fd;
	uint8_t out[];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_refusal(struct admission *a, const char *why)
{
	pr_warn_ratelimited(&a->refusals, "%s: refused a connection on %s: %s%s", a->what,
			    a->uri, why, a->waiting);
}

static void admission_put(struct admission *a)
{
	bool last;

	pthread_mutex_lock(&a->lock);
	last = !--a->refs;
	pthread_mutex_unlock(&a->lock);
	if (!last)
		return;
	if (a->winner >= 0)
		close(a->winner);
	close(a->efd);
	ratelimit_destroy(&a->refusals);
	pthread_cond_destroy(&a->ended);
	pthread_mutex_destroy(&a->lock);
	free(a->winner_out);
	free(a);
}

struct admission *admission_new(const struct admission_ops *ops)
{
	struct admission *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->winner_out = calloc(1, ops->out_size ?: 1);
	if (a->efd < 0 || !a->winner_out) {
		if (a->efd >= 0)
			close(a->efd);
		free(a->winner_out);
		free(a);
		return NULL;
	}
	a->ops = *ops;
	snprintf(a->what, sizeof(a->what), "%s", ops->what);
	snprintf(a->uri, sizeof(a->uri), "%s", ops->uri);
	snprintf(a->waiting, sizeof(a->waiting), "%s", ops->waiting ?: "");
	a->refs = 1;
	a->winner = -1;
	for (int i = 0; i < ADMISSION_MAX; i++)
		a->fds[i] = -1;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->ended, NULL);
	ratelimit_init(&a->refusals, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	return a;
}

int admission_efd(const struct admission *a)
{
	return a->efd;
}

/* Under the lock: @fd passed its check. True if it is now the winner. */
static bool crown(struct admission *a, int fd, const void *out)
{
	if (a->closed)
		return false;
	if (a->winner >= 0) {
		if (!a->ops.newest_wins)
			return false;
		close(a->winner);
	}
	a->winner = fd;
	if (a->ops.out_size)
		memcpy(a->winner_out, out, a->ops.out_size);
	return true;
}

static void *check_thread(void *arg)
{
	struct check_job *job = arg;
	struct admission *a = job->a;
	uint64_t one = 1, t0 = now_ms();
	char err[320];
	int fd = job->fd, ret;
	bool won, cut_off;

	/* Strangers' bytes are read here: post-copy's admission allowlist
	 * (accept, kernel TLS's setsockopt, no file opens). */
	ret = sandbox_enter(SANDBOX_POSTCOPY_DEST);
	if (ret)
		snprintf(err, sizeof(err), "cannot confine the check thread: %s", strerror(-ret));
	else
		ret = a->ops.check(a->ops.opaque, fd, job->out, err, sizeof(err));
	pthread_mutex_lock(&a->lock);
	won = !ret && crown(a, fd, job->out);
	cut_off = a->closed;	/* by admission_end: not a refusal */
	for (int i = 0; i < ADMISSION_MAX; i++)
		if (a->fds[i] == fd)
			a->fds[i] = -1;
	if (!won)
		close(fd);
	if (won && write(a->efd, &one, sizeof(one)) < 0)
		pr_err("%s: cannot signal an admitted connection: %m", a->what);
	pthread_mutex_unlock(&a->lock);
	free(job);
	/* Logged outside the lock (a stalled stderr holds only this thread),
	 * before this thread counts as ended: admission_end waits for it. */
	if (won)
		pr_info("%s: the source authenticated on %s (admitting it took %" PRIu64 " ms)",
			a->what, a->uri, now_ms() - t0);
	else if (!cut_off)
		log_refusal(a, ret ? err : "another source authenticated first");
	pthread_mutex_lock(&a->lock);
	a->running--;
	pthread_cond_signal(&a->ended);
	pthread_mutex_unlock(&a->lock);
	/* Nothing of the caller's opaque from here on. */
	admission_put(a);
	return NULL;
}

/* Under the lock: a slot for @fd, false when ADMISSION_MAX are under way. */
static bool take_slot(struct admission *a, int fd)
{
	if (a->running >= ADMISSION_MAX)
		return false;
	a->running++;
	a->refs++;
	for (int i = 0; i < ADMISSION_MAX; i++)
		if (a->fds[i] < 0) {
			a->fds[i] = fd;
			break;
		}
	return true;
}

static void give_slot_back(struct admission *a, int fd)
{
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < ADMISSION_MAX; i++)
		if (a->fds[i] == fd)
			a->fds[i] = -1;
	a->running--;
	a->refs--;
	pthread_mutex_unlock(&a->lock);
}

static int start_check(struct admission *a, int fd)
{
	struct check_job *job = malloc(sizeof(*job) + a->ops.out_size);
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!job)
		return -ENOMEM;
	job->a = a;
	job->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&t, &attr, check_thread, job);
	pthread_attr_destroy(&attr);
	if (ret)
		free(job);
	return ret;
}

void admission_accept(struct admission *a, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	bool slot;

	if (fd < 0)
		return;
	channel_nodelay(fd);
	pthread_mutex_lock(&a->lock);
	slot = take_slot(a, fd);
	pthread_mutex_unlock(&a->lock);
	if (!slot) {
		close(fd);
		log_refusal(a, "too many checks under way (" STR(ADMISSION_MAX) ")");
		return;
	}
	if (start_check(a, fd)) {
		pr_err("%s: cannot start a check thread; closing a connection", a->what);
		give_slot_back(a, fd);
		close(fd);
	}
}

int admission_take(struct admission *a, void *out)
{
	uint64_t n;
	int fd;

	if (read(a->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&a->lock);
	fd = a->winner;
	if (fd >= 0 && a->ops.out_size)
		memcpy(out, a->winner_out, a->ops.out_size);
	a->winner = -1;
	pthread_mutex_unlock(&a->lock);
	return fd >= 0 ? fd : -EAGAIN;
}

void admission_end(struct admission *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->closed = true;
	for (int i = 0; i < ADMISSION_MAX; i++)
		if (a->fds[i] >= 0)
			shutdown(a->fds[i], SHUT_RDWR);
	while (a->running)
		pthread_cond_wait(&a->ended, &a->lock);
	pthread_mutex_unlock(&a->lock);
	admission_put(a);
}
