// SPDX-License-Identifier: GPL-2.0-only
/*
 * tern ctl: sends one request to a running tern's control socket and
 * prints the reply line on stdout (docs/control.md). The exit status is
 * what scripts test: 0 the reply is ok, 1 it is an error, 2 there was no
 * reply to judge (bad usage, nobody listening, timeout).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "control_proto.h"
#include "log.h"

enum ctl_status {
	CTL_OK		= 0,
	CTL_ERROR_REPLY	= 1,
	CTL_FAILED	= 2,
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket, or -errno. */
static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		/* MSG_NOSIGNAL: a tern that went away is an error, not SIGPIPE. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The first line from @fd, within @timeout_ms in all. 0, -ETIMEDOUT,
 * -ECONNRESET if the peer closed first, -EMSGSIZE, or another -errno.
 */
static int read_line(int fd, struct control_lines *in, int timeout_ms, char **line,
		     size_t *len)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		int ret = control_lines_next(in, line, len);
		size_t room;
		char *buf;
		ssize_t n;

		if (ret)
			return ret < 0 ? ret : 0;
		if (left <= 0)
			return -ETIMEDOUT;
		ret = poll(&p, 1, (int)left);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (!ret)
			return -ETIMEDOUT;
		buf = control_lines_room(in, &room);
		n = recv(fd, buf, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -ECONNRESET;
		control_lines_added(in, (size_t)n);
	}
}

static int report_read_error(const char *path, int ret)
{
	if (ret == -ETIMEDOUT)
		pr_err("no reply from %s within %d s", path, CONTROL_REPLY_TIMEOUT_S);
	else if (ret == -ECONNRESET)
		pr_err("%s closed the connection without replying", path);
	else if (ret == -EMSGSIZE)
		pr_err("the reply from %s is longer than %d bytes", path, CONTROL_LINE_MAX);
	else
		pr_err("reading the reply from %s: %s", path, strerror(-ret));
	return CTL_FAILED;
}

/* Prints the reply as it came; its "ok" decides the exit status. */
static int print_reply(const char *path, const char *line, size_t len)
{
	bool ok;

	if (control_reply_parse(line, len, &ok)) {
		pr_err("%s answered with something that is not a control reply: %s", path, line);
		return CTL_FAILED;
	}
	printf("%s\n", line);
	if (fflush(stdout)) {
		pr_err("writing the reply: %s", strerror(errno));
		return CTL_FAILED;
	}
	return ok ? CTL_OK : CTL_ERROR_REPLY;
}

/* One request on a connected socket. */
static int exchange(int fd, const char *path, const char *request)
{
	struct control_lines *in = malloc(sizeof(*in));
	char *line;
	size_t len;
	int ret;

	if (!in) {
		pr_err("out of memory");
		return CTL_FAILED;
	}
	control_lines_init(in);
	ret = send_all(fd, request, strlen(request));
	if (ret < 0) {
		pr_err("sending the request to %s: %s", path, strerror(-ret));
		ret = CTL_FAILED;
	} else {
		ret = read_line(fd, in, CONTROL_REPLY_TIMEOUT_S * 1000, &line, &len);
		ret = ret < 0 ? report_read_error(path, ret) : print_reply(path, line, len);
	}
	free(in);
	return ret;
}

int ctl_main(const struct vm_config *cfg)
{
	const char *path = cfg->ctl_socket;
	char err[CONTROL_ERR_MAX];
	char *request;
	int fd, status;

	request = control_request_build(cfg->ctl_command, cfg->ctl_args, cfg->nr_ctl_args,
					err, sizeof(err));
	if (!request) {
		pr_err("ctl %s: %s", cfg->ctl_command, err);
		return CTL_FAILED;
	}
	fd = connect_to(path);
	if (fd < 0) {
		pr_err("cannot connect to %s: %s: is tern running with --control %s?", path,
		       strerror(-fd), path);
		free(request);
		return CTL_FAILED;
	}
	status = exchange(fd, path, request);
	close(fd);
	free(request);
	return status;
}
