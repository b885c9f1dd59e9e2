// SPDX-License-Identifier: GPL-2.0-only
/*
 * Post-copy's admission (migration/postcopy_admit.c, admission.c) on a real
 * listening socket: only a connection with the session token and a stream
 * header is handed over; a silent one, a wrong token or garbage are closed
 * without stalling the one that follows or those beside them.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migration/channel.h"
#include "migration/channel_sec.h"
#include "migration/postcopy_admit.h"
#include "migration/stream.h"

#define PAGE	4096u

struct fixture {
	char dir[64];
	char uri[128];
	int lfd;
	uint8_t token[CHANNEL_TOKEN_LEN];
	struct pc_admit *admit;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct channel_sec none = { 0 };
	char err[256];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/tern-test-admit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->uri, sizeof(f->uri), "unix:%s/mig.sock", f->dir);
	f->lfd = channel_listen(f->uri, err, sizeof(err));
	if (f->lfd < 0 || channel_token_new(f->token))
		return -1;
	f->admit = pc_admit_start(f->lfd, f->uri, &none, f->token, PAGE);
	*state = f;
	return f->admit ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pc_admit_stop(f->admit);
	close(f->lfd);
	channel_unlink(f->uri);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int client(const struct fixture *f)
{
	char err[256];
	int fd = channel_connect(f->uri, err, sizeof(err));

	assert_true(fd >= 0);
	return fd;
}

/* A page channel's opening: @token, the header, then one byte 'X'. */
static void send_opening(int fd, const uint8_t *token)
{
	struct stream_header h = { STREAM_VERSION, STREAM_ARCH_AARCH64, PAGE, 0 };
	struct stream_writer w;

	assert_int_equal(write(fd, token, CHANNEL_TOKEN_LEN), CHANNEL_TOKEN_LEN);
	stream_writer_init(&w, stream_fd_writev, (void *)(intptr_t)fd);
	assert_int_equal(stream_write_header(&w, &h), 0);
	assert_int_equal(write(fd, "X", 1), 1);
}

/* The admitted connection within @ms, or -ETIMEDOUT. */
static int wait_admitted(struct fixture *f, int ms, struct stream_reader *sr)
{
	struct pollfd p = { .fd = pc_admit_efd(f->admit), .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	return pc_admit_take(f->admit, sr);
}

static void test_right_token_admitted(void **state)
{
	struct fixture *f = *state;
	struct stream_reader sr;
	int c = client(f), fd;
	char x = 0;

	send_opening(c, f->token);
	fd = wait_admitted(f, 5000, &sr);
	assert_true(fd >= 0);
	/* The header was consumed, nothing after it. */
	assert_int_equal(read(fd, &x, 1), 1);
	assert_int_equal(x, 'X');
	close(fd);
	close(c);
}

static void test_wrong_token_refused(void **state)
{
	struct fixture *f = *state;
	struct stream_reader sr;
	uint8_t wrong[CHANNEL_TOKEN_LEN];
	int c = client(f);
	char x;

	memcpy(wrong, f->token, sizeof(wrong));
	wrong[CHANNEL_TOKEN_LEN - 1] ^= 1;
	send_opening(c, wrong);
	assert_int_equal(wait_admitted(f, 1500, &sr), -ETIMEDOUT);
	/* Closed by the destination (a reset: it left our bytes unread). */
	assert_true(read(c, &x, 1) <= 0);
	close(c);
}

static void test_garbage_refused(void **state)
{
	struct fixture *f = *state;
	struct stream_reader sr;
	char junk[200];
	int c = client(f);

	memset(junk, 'A', sizeof(junk));
	assert_int_equal(write(c, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(wait_admitted(f, 1500, &sr), -ETIMEDOUT);
	close(c);
}

/* Checks run side by side: three silent strangers (each held by the token's
 * 2 s timeout, one after the other before) do not delay the source; none of
 * them takes the channel. */
static void test_strangers_checked_beside(void **state)
{
	struct fixture *f = *state;
	struct stream_reader sr;
	struct timespec t0, t1;
	int silent[3], c, fd;
	long ms;

	for (int i = 0; i < 3; i++)
		silent[i] = client(f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = client(f);
	send_opening(c, f->token);
	fd = wait_admitted(f, 6000, &sr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(fd >= 0);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 1500);
	close(fd);
	close(c);
	for (int i = 0; i < 3; i++)
		close(silent[i]);
}

/* The source opens a new channel only when it lost the last one: a newer
 * admitted connection replaces one not taken yet. */
static void test_newest_replaces_untaken(void **state)
{
	struct fixture *f = *state;
	struct stream_reader sr;
	int c1 = client(f), c2, fd;
	struct pollfd p = { .events = POLLIN };
	char x;

	send_opening(c1, f->token);
	/* Admitted, not taken: the first check ended. */
	p.fd = pc_admit_efd(f->admit);
	assert_int_equal(poll(&p, 1, 5000), 1);
	c2 = client(f);
	send_opening(c2, f->token);
	/* The first connection is closed once the second is admitted. */
	p.fd = c1;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_true(read(c1, &x, 1) <= 0);
	fd = pc_admit_take(f->admit, &sr);
	assert_true(fd >= 0);
	assert_int_equal(write(c2, "Y", 1), 1);
	assert_int_equal(read(fd, &x, 1), 1);	/* 'X' from the opening: c2's */
	assert_int_equal(x, 'X');
	assert_int_equal(read(fd, &x, 1), 1);
	assert_int_equal(x, 'Y');
	close(fd);
	close(c1);
	close(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_right_token_admitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_token_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strangers_checked_beside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_replaces_untaken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
