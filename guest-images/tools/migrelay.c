/*
 * migrelay: a unix-socket relay between a migration's source and its
 * destination that loses the destination's confirmation, for the lab's
 * migrate-unconfirmed scenario (run on the lab host, not in the guest).
 *
 *   migrelay LISTEN TARGET
 *
 * Listens on LISTEN, takes one connection (the source's), connects to
 * TARGET (the destination's --incoming socket) and copies both ways. The
 * destination's answers are lines (migration/channel.c); the one that
 * confirms the commit, "running" (migration/incoming.c), is not passed on:
 * the lines before it are, then both connections are closed, as if the
 * network had failed at that moment. Prints "migrelay: dropped running"
 * when it does, and exits 0; exit status 1 if the session ended without
 * one, 2 if the set-up failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "migrelay: path too long: %s\n", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The destination's bytes, a line at a time: 1 once "running" came (the
 * lines before it passed on), 0 to go on, -1 if the source is gone. A line
 * longer than the buffer is passed on as it is. */
static int from_destination(int src, char *line, size_t *len, size_t cap, const char *in,
			    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		line[(*len)++] = in[i];
		if (in[i] != '\n' && *len < cap)
			continue;
		if (*len == sizeof("running") && !memcmp(line, "running\n", *len))
			return 1;
		if (write_all(src, line, *len) < 0)
			return -1;
		*len = 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa;
	char buf[65536], line[4096];
	size_t line_len = 0;
	int lfd, src, dst;

	if (argc != 3) {
		fprintf(stderr, "usage: migrelay LISTEN TARGET\n");
		return 2;
	}
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || unix_addr(argv[1], &sa) < 0 || bind(lfd, (void *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0) {
		perror("migrelay: listen");
		return 2;
	}
	src = accept(lfd, NULL, NULL);
	dst = socket(AF_UNIX, SOCK_STREAM, 0);
	if (src < 0 || dst < 0 || unix_addr(argv[2], &sa) < 0 ||
	    connect(dst, (void *)&sa, sizeof(sa)) < 0) {
		perror("migrelay: connect");
		return 2;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = src, .events = POLLIN }, { .fd = dst, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("migrelay: poll");
			return 2;
		}
		if (p[0].revents) {
			n = read(src, buf, sizeof(buf));
			if (n <= 0 || write_all(dst, buf, (size_t)n) < 0)
				break;
		}
		if (p[1].revents) {
			n = read(dst, buf, sizeof(buf));
			if (n <= 0)
				break;
			switch (from_destination(src, line, &line_len, sizeof(line), buf, (size_t)n)) {
			case 1:
				printf("migrelay: dropped running\n");
				fflush(stdout);
				close(src);
				close(dst);
				return 0;
			case -1:
				goto out;
			}
		}
	}
out:
	printf("migrelay: the session ended without a \"running\"\n");
	return 1;
}
