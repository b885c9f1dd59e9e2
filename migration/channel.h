/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CHANNEL_H
#define TERN_CHANNEL_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/*
 * The migration connection: unix:PATH or tcp:HOST:PORT. The stream goes
 * from source to destination; the destination answers with short lines:
 *   "accept"          the CONFIG fits: send the pages
 *   "refuse MESSAGE"  it does not (MESSAGE names the difference)
 *   "ack"             the whole VM is restored: the destination runs it
 *   "fail MESSAGE"    the destination could not restore it
 */
#define CHANNEL_LINE_MAX	512
/* A connect waits at most this long (the control thread must stay free). */
#define CHANNEL_CONNECT_TIMEOUT_S	10

/* Connected socket fd, or -errno with the reason in @err. */
int channel_connect(const char *uri, char *err, size_t errlen);
/* Listening socket fd, or -errno. A unix socket is created 0600; a stale
 * socket file is replaced, a live one (something accepts on it) is not. */
int channel_listen(const char *uri, char *err, size_t errlen);
/* Removes the unix socket file of @uri, if it is one. */
void channel_unlink(const char *uri);
/* Sets how long one send or receive may block (0: for ever). */
int channel_set_timeout(int fd, unsigned int seconds);

/* TCP_NODELAY on a TCP socket (a unix one is left as it is). */
void channel_nodelay(int fd);
/* Writes "@word[ @msg]\n". -errno. */
int channel_send_line(int fd, const char *word, const char *msg);
/* Reads one line (without its newline) into @buf. -errno; -EPIPE at EOF,
 * -ETIMEDOUT after the socket's timeout. */
int channel_read_line(int fd, char *buf, size_t len);

/* The address parts of the URIs, pure (fuzzed: tests/fuzz/fuzz_channel.c):
 * unix:PATH's PATH into @sa; tcp:HOST:PORT's "HOST:PORT" (HOST an IPv4 or
 * [IPv6] address, or empty for any) into @ss and @len. -ENAMETOOLONG or
 * -EINVAL with a message in @err. */
int unix_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen);
int tcp_addr(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err,
	     size_t errlen);

#endif
