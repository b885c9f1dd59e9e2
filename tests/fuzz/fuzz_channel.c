// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for what a peer or an operator controls on the migration
 * connection (migration/channel.c): the addresses of the URIs and the reply
 * lines. The first input byte picks (mod 3):
 *
 *   0  address: the rest, up to its first NUL, as tcp:'s HOST:PORT and as
 *      unix:'s PATH. An accepted tcp address is IPv4 or IPv6 with a port
 *      1-65535 and the matching length, and printed back and parsed again it
 *      gives the same address; a unix path is accepted exactly when it fits
 *      sun_path. Every refusal has a message.
 *   1  line reading: the rest arrives on a socket (the peer then closes it)
 *      and is read as lines into a buffer whose size comes from the second
 *      byte (1..256), as incoming.c and migrate.c read the peer's replies:
 *      each line is what the bytes up to the next newline are, cut to fit
 *      and terminated; nothing after a newline is taken from the socket;
 *      the end of input is -EPIPE.
 *   2  line writing: "WORD MSG" from the rest (WORD up to the first NUL)
 *      goes out with channel_send_line and must arrive as exactly one line,
 *      whatever MSG holds (a message can quote what a peer sent).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration/channel.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT	4096

static void check_tcp(const char *s)
{
	struct sockaddr_storage ss, again;
	socklen_t len = 0, len2 = 0;
	char err[256] = "", host[INET6_ADDRSTRLEN], back[INET6_ADDRSTRLEN + 16];
	int ret = tcp_addr(s, &ss, &len, err, sizeof(err));

	if (ret) {
		check(ret == -EINVAL && err[0]);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		check(len == sizeof(*in) && ntohs(in->sin_port) >= 1);
		check(inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)));
		snprintf(back, sizeof(back), "%s:%u", host, ntohs(in->sin_port));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		check(ss.ss_family == AF_INET6 && len == sizeof(*in6));
		check(ntohs(in6->sin6_port) >= 1);
		check(inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)));
		snprintf(back, sizeof(back), "[%s]:%u", host, ntohs(in6->sin6_port));
	}
	check(tcp_addr(back, &again, &len2, err, sizeof(err)) == 0);
	check(len2 == len && !memcmp(&again, &ss, len));
}

static void check_unix(const char *s)
{
	struct sockaddr_un sa;
	char err[256] = "";
	int ret = unix_addr(s, &sa, err, sizeof(err));

	if (strlen(s) >= sizeof(sa.sun_path)) {
		check(ret == -ENAMETOOLONG && err[0]);
		return;
	}
	check(!ret && sa.sun_family == AF_UNIX && !strcmp(sa.sun_path, s));
}

static void addresses(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);

	if (!s)
		return;
	check_tcp(s);
	check_unix(s);
	free(s);
}

/* A socket pair with @data already sent on [0] and [0]'s side shut. */
static bool peer_sent(int sv[2], const uint8_t *data, size_t size)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	if ((size && send(sv[0], data, size, MSG_NOSIGNAL) != (ssize_t)size) ||
	    shutdown(sv[0], SHUT_WR) < 0) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	return true;
}

static void read_lines(const uint8_t *data, size_t size)
{
	size_t cap, pos = 0;
	char buf[257];
	int sv[2];

	if (!size)
		return;
	cap = 1 + data[0] % 256;
	data++;
	size--;
	if (!peer_sent(sv, data, size))
		return;
	for (;;) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t want;
		int ret;

		memset(buf, 0x55, sizeof(buf));
		ret = channel_read_line(sv[1], buf, cap);
		if (!nl) {
			/* No newline left: whatever remains is consumed, then EOF. */
			check(ret == -EPIPE);
			break;
		}
		check(ret == 0);
		want = (size_t)(nl - (data + pos));
		if (want > cap - 1)
			want = cap - 1;
		check(!memcmp(buf, data + pos, want) && buf[want] == '\0');
		pos = (size_t)(nl - data) + 1;
	}
	close(sv[0]);
	close(sv[1]);
}

static void write_line(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	char *word, *msg, line[CHANNEL_LINE_MAX + 1], rest[8];
	int sv[2];

	if (!nul)
		return;
	word = strndup((const char *)data, (size_t)(nul - data));
	msg = strndup((const char *)nul + 1, size - (size_t)(nul - data) - 1);
	if (word && msg && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		check(channel_send_line(sv[0], word, *msg ? msg : NULL) == 0);
		shutdown(sv[0], SHUT_WR);
		check(channel_read_line(sv[1], line, sizeof(line)) == 0);
		for (char *c = word; *c; c++)
			if (*c == '\n')
				*c = ' ';
		check(!strncmp(line, word, strlen(line) < strlen(word) ? strlen(line) :
					   strlen(word)));
		/* One line, nothing after it. */
		check(recv(sv[1], rest, sizeof(rest), MSG_DONTWAIT) == 0);
		close(sv[0]);
		close(sv[1]);
	}
	free(word);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size || size > MAX_INPUT)
		return 0;
	switch (data[0] % 3) {
	case 0:
		addresses(data + 1, size - 1);
		break;
	case 1:
		read_lines(data + 1, size - 1);
		break;
	default:
		write_line(data + 1, size - 1);
		break;
	}
	return 0;
}
