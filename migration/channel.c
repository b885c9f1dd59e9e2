// SPDX-License-Identifier: GPL-2.0-only
/* Sockets for migration: the URI forms, connect, listen, reply lines. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration/channel.h"
#include "vmm/log.h"

#define STR_(x)	#x
#define STR(x)	STR_(x)

int unix_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "unix socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/*
 * "HOST:PORT", HOST an IPv4 or [IPv6] address, or empty (any address, when
 * listening). Numeric only: a static tern has no name service to ask.
 */
int tcp_addr(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err,
	     size_t errlen)
{
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[64], *end;
	unsigned long port;
	size_t hlen;

	if (!colon)
		goto bad;
	hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
		hostport++;
		hlen -= 2;
	}
	port = strtoul(colon + 1, &end, 10);
	if (hlen >= sizeof(host) || !colon[1] || *end || port == 0 || port > 65535)
		goto bad;
	memcpy(host, hostport, hlen);
	host[hlen] = 0;
	memset(ss, 0, sizeof(*ss));
	if (!hlen || inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
bad:
	snprintf(err, errlen, "'tcp:%s' is not tcp:ADDRESS:PORT (an IP address, a port 1-65535)",
		 hostport);
	return -EINVAL;
}

static int fail_errno(const char *what, const char *uri, char *err, size_t errlen)
{
	int e = errno;

	snprintf(err, errlen, "%s %s: %s", what, uri, strerror(e));
	return -e;
}

static int connect_unix(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd, ret = unix_addr(uri + 5, &sa, err, errlen);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_errno("socket for", uri, err, errlen);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = fail_errno("cannot connect to", uri, err, errlen);
		close(fd);
		return ret;
	}
	return fd;
}

/* Non-blocking, so that an unreachable peer costs CHANNEL_CONNECT_TIMEOUT_S
 * at most, not the kernel's SYN retries (minutes). */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int flags = fcntl(fd, F_GETFL), soerr = 0, n;
	socklen_t elen = sizeof(soerr);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) == 0)
		goto done;
	if (errno != EINPROGRESS)
		return -errno;
	do
		n = poll(&p, 1, CHANNEL_CONNECT_TIMEOUT_S * 1000);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) < 0)
		return -errno;
	if (soerr)
		return -soerr;
done:
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/*
 * Every write tern makes on a channel is either whole (a line, a page
 * request) or the end of a gathered batch (stream_flush) followed by a wait
 * for the peer's answer. Nagle's algorithm would hold such a last small
 * segment until the peer ACKs what went before, and a Linux peer delays
 * that ACK by up to 40 ms (tcp(7): TCP_NODELAY, TCP_QUICKACK): in the
 * downtime, and in every post-copy page request.
 */
void channel_nodelay(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int)) < 0)
		pr_warn("migration channel: TCP_NODELAY refused (%m): small writes may wait for delayed ACKs");
}

static int connect_tcp(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, ret = tcp_addr(uri + 4, &ss, &len, err, errlen);

	if (ret)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_errno("socket for", uri, err, errlen);
	ret = connect_bounded(fd, (struct sockaddr *)&ss, len);
	if (ret) {
		snprintf(err, errlen, "cannot connect to %s: %s", uri, ret == -ETIMEDOUT ?
			 "no answer within " STR(CHANNEL_CONNECT_TIMEOUT_S) " s" : strerror(-ret));
		close(fd);
		return ret;
	}
	channel_nodelay(fd);
	return fd;
}

int channel_connect(const char *uri, char *err, size_t errlen)
{
	err[0] = 0;
	if (!strncmp(uri, "unix:", 5))
		return connect_unix(uri, err, errlen);
	if (!strncmp(uri, "tcp:", 4))
		return connect_tcp(uri, err, errlen);
	snprintf(err, errlen, "'%s' is neither unix:PATH nor tcp:HOST:PORT", uri);
	return -EINVAL;
}

static int listen_unix(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, ret = unix_addr(uri + 5, &sa, err, errlen);

	if (ret)
		return ret;
	/* A socket left by an earlier run is replaced; a live one (something
	 * answers on it) or any other file is not. */
	if (!lstat(sa.sun_path, &st) && S_ISSOCK(st.st_mode)) {
		fd = connect_unix(uri, err, errlen);
		if (fd >= 0) {
			close(fd);
			snprintf(err, errlen, "cannot listen on %s: another process listens there",
				 uri);
			return -EADDRINUSE;
		}
		unlink(sa.sun_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_errno("socket for", uri, err, errlen);
	/* Linux creates the file with the socket inode's mode (less the
	 * umask), net/unix/af_unix.c unix_bind_bsd(): set before bind, the file
	 * is never open to others. */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		ret = fail_errno("cannot listen on", uri, err, errlen);
		close(fd);
		return ret;
	}
	return fd;
}

static int listen_tcp(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, ret = tcp_addr(uri + 4, &ss, &len, err, errlen);

	if (ret)
		return ret;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail_errno("socket for", uri, err, errlen);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1) < 0) {
		ret = fail_errno("cannot listen on", uri, err, errlen);
		close(fd);
		return ret;
	}
	return fd;
}

int channel_listen(const char *uri, char *err, size_t errlen)
{
	err[0] = 0;
	if (!strncmp(uri, "unix:", 5))
		return listen_unix(uri, err, errlen);
	if (!strncmp(uri, "tcp:", 4))
		return listen_tcp(uri, err, errlen);
	snprintf(err, errlen, "'%s' is neither unix:PATH nor tcp:HOST:PORT", uri);
	return -EINVAL;
}

void channel_unlink(const char *uri)
{
	if (!strncmp(uri, "unix:", 5))
		unlink(uri + 5);
}

int channel_set_timeout(int fd, unsigned int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int channel_send_line(int fd, const char *word, const char *msg)
{
	char line[CHANNEL_LINE_MAX];
	int n = snprintf(line, sizeof(line) - 1, "%s%s%s", word, msg ? " " : "", msg ? msg : "");
	size_t len, done = 0;

	len = n < 0 ? 0 : (size_t)n >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)n;
	/* A message may quote the peer: it stays one line. */
	for (size_t i = 0; i < len; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[len++] = '\n';
	while (done < len) {
		ssize_t w = send(fd, line + done, len - done, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		done += (size_t)w;
	}
	return 0;
}

/* Byte by byte: the lines are short and rare, and nothing after the line
 * may be consumed from the socket. */
int channel_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		if (r == 0)
			return -EPIPE;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = 0;
	return 0;
}
