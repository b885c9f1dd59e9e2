// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a migration channel can move on this host, measured apart from tern
 * (the lab's tls-cost scenario runs it in the emulated host):
 *
 *   ktlsbench plain|tls SEND READ MIB [more]
 *       MIB MiB over TCP on 127.0.0.1 from a sender process to a receiver
 *       process, SEND bytes per send(), the receiver reading READ bytes per
 *       read() (0: like tern's loader, a 32-byte section header, then the
 *       rest of each SEND). "tls": both ends in kernel TLS (TLS 1.3,
 *       AES-128-GCM, fixed test keys; Documentation/networking/tls.rst), as
 *       tern's channels are after their handshake. "more": every send but the
 *       last with MSG_MORE, so kernel TLS fills its records (16 KiB) instead
 *       of closing one per send.
 *   ktlsbench tls-nopad SEND READ MIB [more]
 *       As "tls", with the receiver's TLS_RX_EXPECT_NO_PAD set, as tern's
 *       channels have it: records decrypted straight into the reader's
 *       buffer when it holds a whole one (Documentation/networking/tls.rst).
 *   ktlsbench alg NAME CHUNK MIB
 *       MIB MiB sealed by the kernel's crypto API through AF_ALG, aead NAME
 *       (e.g. "gcm(aes)", or a driver: "gcm-aes-ce"; needs algif_aead), CHUNK bytes per
 *       request: the cipher alone, without TCP or TLS.
 *
 * Prints one "KTLSBENCH ..." line: MiB/s, and each side's CPU time (user and
 * system) per MiB, to tell "the cipher is slow" from "the channel waits".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_alg.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define MIB (1024 * 1024ULL)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_ms(const struct rusage *ru, double *user, double *sys)
{
	*user = ru->ru_utime.tv_sec * 1e3 + ru->ru_utime.tv_usec / 1e3;
	*sys = ru->ru_stime.tv_sec * 1e3 + ru->ru_stime.tv_usec / 1e3;
	return *user + *sys;
}

static int die(const char *what)
{
	fprintf(stderr, "ktlsbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ktls(int fd, int nopad)
{
	struct tls12_crypto_info_aes_gcm_128 ci = { 0 };
	int one = 1;

	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memset(ci.key, 0x42, sizeof(ci.key));
	memset(ci.salt, 0x17, sizeof(ci.salt));
	memset(ci.iv, 0x23, sizeof(ci.iv));
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0)
		die("TCP_ULP tls (modprobe tls)");
	if (setsockopt(fd, SOL_TLS, TLS_TX, &ci, sizeof(ci)) < 0 ||
	    setsockopt(fd, SOL_TLS, TLS_RX, &ci, sizeof(ci)) < 0)
		die("TLS_TX/TLS_RX");
	if (nopad && setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)) < 0)
		die("TLS_RX_EXPECT_NO_PAD (kernel 6.0+)");
}

static void read_full(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		buf += n;
		len -= (size_t)n;
	}
}

/* The receiver: reads until it has @total bytes, then reports its CPU. */
static void receive(int fd, size_t send, size_t readsz, uint64_t total, int report)
{
	uint8_t *buf = malloc(send > readsz ? send : readsz);
	uint64_t got = 0;
	struct rusage ru;

	if (!buf)
		die("malloc");
	while (got < total) {
		if (!readsz) {
			size_t rest = total - got < send ? total - got : send;
			size_t head = rest < 32 ? rest : 32;

			read_full(fd, buf, head);
			read_full(fd, buf, rest - head);
			got += rest;
			continue;
		}
		ssize_t n = read(fd, buf, readsz);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		got += (uint64_t)n;
	}
	getrusage(RUSAGE_SELF, &ru);
	if (write(report, &ru, sizeof(ru)) != sizeof(ru))
		die("report");
	if (write(fd, "k", 1) != 1)
		die("ack");
}

static void transmit(int fd, const uint8_t *buf, size_t sendsz, uint64_t total, int more)
{
	uint64_t sent = 0;

	while (sent < total) {
		size_t len = total - sent < sendsz ? total - sent : sendsz;
		int flags = more && sent + len < total ? MSG_MORE : 0;
		ssize_t n = send(fd, buf, len, flags);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("send");
		sent += (uint64_t)n;
	}
}

static int channel(int tls, size_t send, size_t readsz, uint64_t mib, int more)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, a, pfd[2], st;
	uint64_t total = mib * MIB;
	struct rusage rr, rs;
	double t0, t1, ru, rsy, su, ssy, rc, sc;
	uint8_t *buf = malloc(send);
	char ack;
	pid_t pid;

	if (l < 0 || !buf || bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0 || pipe(pfd) < 0)
		die("setup");
	for (size_t i = 0; i < send; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, len) < 0)
		die("connect");
	a = accept(l, NULL, NULL);
	if (a < 0)
		die("accept");
	if (tls) {
		ktls(c, 0);
		ktls(a, tls > 1);
	}
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(c);
		receive(a, send, readsz, total, pfd[1]);
		_exit(0);
	}
	close(a);
	t0 = now_s();
	transmit(c, buf, send, total, more);
	if (read(c, &ack, 1) != 1)
		die("ack");
	t1 = now_s();
	if (read(pfd[0], &rr, sizeof(rr)) != sizeof(rr))
		die("receiver's report");
	waitpid(pid, &st, 0);
	getrusage(RUSAGE_SELF, &rs);
	rc = cpu_ms(&rr, &ru, &rsy);
	sc = cpu_ms(&rs, &su, &ssy);
	printf("KTLSBENCH %s send=%zu read=%s%zu%s: %llu MiB in %.0f ms = %.1f MiB/s; "
	       "sender cpu %.1f ms/MiB (user %.0f sys %.0f ms), receiver cpu %.1f ms/MiB "
	       "(user %.0f sys %.0f ms)\n",
	       tls > 1 ? "tls-nopad" : tls ? "tls" : "plain", send, readsz ? "" : "32+",
	       readsz ? readsz : send - 32,
	       more ? " more" : "", (unsigned long long)mib, (t1 - t0) * 1e3,
	       mib / (t1 - t0), sc / mib, su, ssy, rc / mib, ru, rsy);
	return 0;
}

/* One AEAD request through AF_ALG: 13 bytes of AAD, @chunk of text, a tag. */
static void seal(int op, uint8_t *in, uint8_t *out, size_t chunk)
{
	char cbuf[CMSG_SPACE(sizeof(uint32_t)) * 2 + CMSG_SPACE(sizeof(struct af_alg_iv) + 12)] = { 0 };
	struct iovec iov = { in, 13 + chunk };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	struct af_alg_iv *iv;

	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
	*(uint32_t *)CMSG_DATA(cm) = ALG_OP_ENCRYPT;
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
	*(uint32_t *)CMSG_DATA(cm) = 13;
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_IV;
	cm->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + 12);
	iv = (struct af_alg_iv *)CMSG_DATA(cm);
	iv->ivlen = 12;
	memset(iv->iv, 0x23, 12);
	if (sendmsg(op, &msg, 0) != (ssize_t)(13 + chunk))
		die("sendmsg AF_ALG");
	if (read(op, out, 13 + chunk + 16) != (ssize_t)(13 + chunk + 16))
		die("read AF_ALG");
}

static int alg(const char *name, size_t chunk, uint64_t mib)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead" };
	uint8_t key[16], *in = calloc(1, 13 + chunk), *out = malloc(13 + chunk + 16);
	int tfm = socket(AF_ALG, SOCK_SEQPACKET, 0), op;
	uint64_t n = mib * MIB / chunk;
	struct rusage ru;
	double t0, t1, u, s, c;

	memset(key, 0x42, sizeof(key));
	strncpy((char *)sa.salg_name, name, sizeof(sa.salg_name) - 1);
	if (tfm < 0 || !in || !out)
		die("AF_ALG socket");
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(name);
	if (setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, sizeof(key)) < 0 ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, 16) < 0)
		die("ALG_SET_KEY/AUTHSIZE");
	op = accept(tfm, NULL, NULL);
	if (op < 0)
		die("AF_ALG accept");
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++)
		seal(op, in, out, chunk);
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru);
	c = cpu_ms(&ru, &u, &s);
	printf("KTLSBENCH alg %s chunk=%zu: %llu MiB in %.0f ms = %.1f MiB/s; cpu %.1f ms/MiB "
	       "(user %.0f sys %.0f ms)\n", name, chunk, (unsigned long long)mib,
	       (t1 - t0) * 1e3, mib / (t1 - t0), c / mib, u, s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "alg"))
		return alg(argv[2], strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if (argc >= 5 && (!strcmp(argv[1], "plain") || !strcmp(argv[1], "tls") ||
			  !strcmp(argv[1], "tls-nopad"))) {
		int tls = !strcmp(argv[1], "tls-nopad") ? 2 : !strcmp(argv[1], "tls");
		size_t send = strtoul(argv[2], NULL, 0);

		if (send < 33) {
			fprintf(stderr, "ktlsbench: SEND must be at least 33 bytes\n");
			return 2;
		}

		return channel(tls, send, strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
			       argc > 5 && !strcmp(argv[5], "more"));
	}
	fprintf(stderr, "usage: ktlsbench plain|tls|tls-nopad SEND READ MIB [more]\n"
		"       ktlsbench alg NAME CHUNK MIB\n");
	return 2;
}
