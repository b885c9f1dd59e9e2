// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration connection's pure parts (migration/channel.c): the tcp: and
 * unix: addresses, and reply lines that stay one line whatever a message
 * quotes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "migration/channel.h"

static int parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char err[256] = "";
	int ret = tcp_addr(s, ss, len, err, sizeof(err));

	if (ret)
		assert_non_null(strstr(err, "is not tcp:ADDRESS:PORT"));
	return ret;
}

static void test_tcp_addr(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	assert_int_equal(parse("198.18.0.2:4444", &ss, &len), 0);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 4444);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0xc6120002);
	assert_int_equal(len, sizeof(*in));
	assert_int_equal(parse(":65535", &ss, &len), 0);	/* any address */
	assert_int_equal(in->sin_addr.s_addr, INADDR_ANY);
	assert_int_equal(parse("[::1]:80", &ss, &len), 0);
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 80);
	assert_int_equal(len, sizeof(*in6));
	assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
	/* No name lookup, no port 0 or past 65535, nothing after the port. */
	assert_int_equal(parse("dest.example:4444", &ss, &len), -EINVAL);
	assert_int_equal(parse("127.0.0.1:0", &ss, &len), -EINVAL);
	assert_int_equal(parse("127.0.0.1:65536", &ss, &len), -EINVAL);
	assert_int_equal(parse("127.0.0.1:80x", &ss, &len), -EINVAL);
	assert_int_equal(parse("127.0.0.1:", &ss, &len), -EINVAL);
	assert_int_equal(parse("127.0.0.1", &ss, &len), -EINVAL);
	assert_int_equal(parse("[::1:80", &ss, &len), -EINVAL);
}

static void test_unix_addr(void **state)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path) + 1], err[256] = "";

	assert_int_equal(unix_addr("/run/mig.sock", &sa, err, sizeof(err)), 0);
	assert_string_equal(sa.sun_path, "/run/mig.sock");
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(unix_addr(path, &sa, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "too long"));
	path[sizeof(sa.sun_path) - 1] = '\0';		/* 107 bytes: fits */
	assert_int_equal(unix_addr(path, &sa, err, sizeof(err)), 0);
}

/* A refusal quoting a peer's "x\nack" must not read as a second line. */
static void test_one_line(void **state)
{
	char line[CHANNEL_LINE_MAX], rest[8];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(channel_send_line(sv[0], "refuse", "device 'x\nack'"), 0);
	assert_int_equal(channel_send_line(sv[0], "ack", NULL), 0);
	close(sv[0]);
	assert_int_equal(channel_read_line(sv[1], line, sizeof(line)), 0);
	assert_string_equal(line, "refuse device 'x ack'");
	assert_int_equal(channel_read_line(sv[1], line, sizeof(line)), 0);
	assert_string_equal(line, "ack");
	assert_int_equal(channel_read_line(sv[1], line, sizeof(line)), -EPIPE);
	assert_int_equal(recv(sv[1], rest, sizeof(rest), MSG_DONTWAIT), 0);
	close(sv[1]);
}

static int nodelay(int fd)
{
	int on = -1;
	socklen_t len = sizeof(on);

	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	return on;
}

/* Both ends of a TCP channel send without Nagle's wait; a unix one is left
 * alone. */
static void test_nodelay(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char uri[64], err[256];
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, afd, sv[2];

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
	fd = channel_connect(uri, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(nodelay(fd), 1);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(nodelay(afd), 0);
	channel_nodelay(afd);
	assert_int_equal(nodelay(afd), 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	channel_nodelay(sv[0]);
	close(sv[0]);
	close(sv[1]);
	close(afd);
	close(fd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_addr),
		cmocka_unit_test(test_unix_addr),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_nodelay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
