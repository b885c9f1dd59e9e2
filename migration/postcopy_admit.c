// SPDX-License-Identifier: GPL-2.0-only
/* Admission of post-copy page channels, off the fault thread (postcopy_admit.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/channel.h"
#include "migration/postcopy_admit.h"
#include "migration/tls.h"
#include "vmm/log.h"
#include "vmm/sandbox.h"

/* The source sends its token and header the moment TLS is up. */
#define ADMIT_TIMEOUT_S		2

struct pc_admit {
	int lfd;
	int stop_efd;			/* written by pc_admit_stop */
	int ready_efd;			/* counts admitted connections not taken */
	char uri[CHANNEL_URI_MAX];
	struct channel_sec sec;
	uint8_t token[CHANNEL_TOKEN_LEN];
	uint32_t page;
	pthread_t thread;
	pthread_mutex_t lock;		/* the pending connection */
	int pending_fd;
	struct stream_reader pending_sr;
	struct ratelimit refusals;	/* strangers can try as often as they like */
};

static int read_token(int fd, uint8_t token[CHANNEL_TOKEN_LEN])
{
	size_t got = 0;

	while (got < CHANNEL_TOKEN_LEN) {
		ssize_t n = read(fd, token + got, CHANNEL_TOKEN_LEN - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : errno == EAGAIN ? -ETIMEDOUT : -errno;
		got += (size_t)n;
	}
	return 0;
}

/* TLS, the token, the header: 0 with @sr after the header, or -errno with
 * the reason in @err. */
static int admit(struct pc_admit *a, int fd, struct stream_reader *sr, char *err, size_t errlen)
{
	uint8_t token[CHANNEL_TOKEN_LEN];
	struct stream_header h;
	int ret = channel_secure(fd, &a->sec, true, err, errlen);

	if (ret)
		return ret;
	channel_set_timeout(fd, ADMIT_TIMEOUT_S);
	ret = read_token(fd, token);
	if (ret) {
		snprintf(err, errlen, "no session token (%s)", ret == -ETIMEDOUT ?
			 "nothing within the timeout" : ret == -EPIPE ? "it closed" : strerror(-ret));
		return ret;
	}
	if (!channel_token_equal(token, a->token)) {
		snprintf(err, errlen, "a wrong session token");
		return -EACCES;
	}
	stream_reader_init(sr, stream_fd_read, (void *)(intptr_t)fd);
	ret = stream_read_header(sr, &h, a->page);
	if (ret) {
		snprintf(err, errlen, "the right token, then no stream header: %s", sr->err);
		return ret;
	}
	return 0;
}

static void log_refusal(struct pc_admit *a, const char *why)
{
	pr_warn_ratelimited(&a->refusals, "post-copy: refused a connection on %s: %s", a->uri, why);
}

/* A newer admitted connection replaces one not taken yet. */
static void hand_over(struct pc_admit *a, int fd, const struct stream_reader *sr)
{
	uint64_t one = 1;
	int old;

	pthread_mutex_lock(&a->lock);
	old = a->pending_fd;
	a->pending_fd = fd;
	a->pending_sr = *sr;
	pthread_mutex_unlock(&a->lock);
	if (old >= 0)
		close(old);
	else if (write(a->ready_efd, &one, sizeof(one)) < 0)
		pr_err("post-copy: cannot signal a new page channel: %m");
}

static void accept_one(struct pc_admit *a)
{
	struct stream_reader sr;
	char err[320];
	int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC), ret;

	if (fd < 0)
		return;
	ret = admit(a, fd, &sr, err, sizeof(err));
	if (ret) {
		close(fd);
		log_refusal(a, err);
		return;
	}
	hand_over(a, fd, &sr);
}

static void *admit_thread(void *arg)
{
	struct pc_admit *a = arg;

	/* Strangers' bytes are read here: the fault thread's allowlist
	 * (accept, kernel TLS's setsockopt, no file opens). */
	if (sandbox_enter(SANDBOX_POSTCOPY_DEST) < 0)
		return NULL;
	for (;;) {
		struct pollfd pfd[2] = { { a->lfd, POLLIN, 0 }, { a->stop_efd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			accept_one(a);
	}
	return NULL;
}

struct pc_admit *pc_admit_start(int listen_fd, const char *uri, const struct channel_sec *sec,
				const uint8_t token[CHANNEL_TOKEN_LEN], uint32_t page_size)
{
	struct pc_admit *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->lfd = listen_fd;
	a->pending_fd = -1;
	a->sec = *sec;
	a->page = page_size;
	memcpy(a->token, token, sizeof(a->token));
	snprintf(a->uri, sizeof(a->uri), "%s", uri);
	pthread_mutex_init(&a->lock, NULL);
	ratelimit_init(&a->refusals, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	a->stop_efd = eventfd(0, EFD_CLOEXEC);
	a->ready_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_efd < 0 || a->ready_efd < 0 ||
	    pthread_create(&a->thread, NULL, admit_thread, a)) {
		if (a->stop_efd >= 0)
			close(a->stop_efd);
		if (a->ready_efd >= 0)
			close(a->ready_efd);
		ratelimit_destroy(&a->refusals);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return NULL;
	}
	return a;
}

int pc_admit_efd(const struct pc_admit *a)
{
	return a->ready_efd;
}

int pc_admit_take(struct pc_admit *a, struct stream_reader *sr)
{
	uint64_t n;
	int fd;

	if (read(a->ready_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&a->lock);
	fd = a->pending_fd;
	if (fd >= 0)
		*sr = a->pending_sr;
	a->pending_fd = -1;
	pthread_mutex_unlock(&a->lock);
	return fd >= 0 ? fd : -EAGAIN;
}

void pc_admit_stop(struct pc_admit *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	if (write(a->stop_efd, &one, sizeof(one)) < 0)
		pr_err("post-copy: cannot stop the admission thread: %m");
	pthread_join(a->thread, NULL);
	if (a->pending_fd >= 0)
		close(a->pending_fd);
	close(a->stop_efd);
	close(a->ready_efd);
	pthread_mutex_destroy(&a->lock);
	ratelimit_destroy(&a->refusals);
	free(a);
}
