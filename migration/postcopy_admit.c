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

#include "migration/admission.h"
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
	struct channel_sec sec;
	uint8_t token[CHANNEL_TOKEN_LEN];
	uint32_t page;
	pthread_t thread;
	struct admission *door;		/* the checks, one thread each */
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

/* TLS, the token, the header (admission_check_fn): 0 with the stream
 * reader after the header in @out, or -errno with the reason in @err. */
static int check_page_channel(void *opaque, int fd, void *out, char *err, size_t errlen)
{
	struct pc_admit *a = opaque;
	struct stream_reader *sr = out;
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

/* Accepts while post-copy may need a channel; the checks run beside it. */
static void *accept_thread(void *arg)
{
	struct pc_admit *a = arg;

	if (sandbox_enter(SANDBOX_POSTCOPY_DEST) < 0)
		return NULL;
	for (;;) {
		struct pollfd pfd[2] = { { a->lfd, POLLIN, 0 }, { a->stop_efd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			admission_accept(a->door, a->lfd);
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
	a->sec = *sec;
	a->page = page_size;
	memcpy(a->token, token, sizeof(a->token));
	/* The source opens a new channel only when it lost the last one. */
	a->door = admission_new(&(struct admission_ops){
		.check = check_page_channel, .opaque = a, .out_size = sizeof(struct stream_reader),
		.newest_wins = true, .what = "post-copy", .uri = uri });
	a->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (!a->door || a->stop_efd < 0 || pthread_create(&a->thread, NULL, accept_thread, a)) {
		if (a->stop_efd >= 0)
			close(a->stop_efd);
		admission_end(a->door);
		free(a);
		return NULL;
	}
	return a;
}

int pc_admit_efd(const struct pc_admit *a)
{
	return admission_efd(a->door);
}

int pc_admit_take(struct pc_admit *a, struct stream_reader *sr)
{
	return admission_take(a->door, sr);
}

void pc_admit_stop(struct pc_admit *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	if (write(a->stop_efd, &one, sizeof(one)) < 0)
		pr_err("post-copy: cannot stop the admission thread: %m");
	pthread_join(a->thread, NULL);
	/* After the accepts: no check starts behind the end. */
	admission_end(a->door);
	close(a->stop_efd);
	free(a);
}
