/*
 * iobench: the guest side of tern's virtio I/O benchmark (bench/virtio.sh).
 * A small static stand-in for fio: time-bounded loops, O_DIRECT on the disk
 * (the guest's page cache is bypassed, every read and write reaches the device),
 * buffers from posix_memalign.
 *
 *   iobench randread DEV SECONDS [THREADS]  4 KiB reads at random 4 KiB-aligned
 *                                           offsets; THREADS (default 1) threads,
 *                                           each one request in flight: queue depth
 *   iobench seqread  DEV SECONDS            1 MiB reads from offset 0, wrapping at
 *                                           the end of DEV
 *   iobench seqwrite DEV SECONDS            1 MiB writes likewise, then fdatasync
 *                                           (inside the timed span)
 *   iobench send ADDR PORT SECONDS          TCP to ADDR:PORT (IPv4 address, no
 *                                           name lookup), 64 KiB writes for
 *                                           SECONDS, then shutdown(SHUT_WR) and
 *                                           wait for the peer to close: the time
 *                                           covers delivery to the receiver
 *
 * Each mode prints one line on stdout:
 *   iobench: <mode> <dev|addr:port> qd=<Q> bs=<B> ops=<N> bytes=<N> secs=<S> iops=<I> mib_s=<M>
 * Exit status: 0 ok, 2 usage or I/O error (message on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_BS 4096u
#define BIG_BS (1u << 20)
#define NET_BS (64u << 10)
#define MAX_THREADS 64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fputs("usage: iobench randread DEV SECONDS [THREADS]\n"
	      "       iobench seqread|seqwrite DEV SECONDS\n"
	      "       iobench send ADDR PORT SECONDS\n", stderr);
	return 2;
}

static int parse_num(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || !*s || *end || *v <= 0 ? -1 : 0;
}

static void report(const char *mode, const char *what, unsigned int qd, unsigned int bs,
		   uint64_t ops, uint64_t bytes, double secs)
{
	printf("iobench: %s %s qd=%u bs=%u ops=%" PRIu64 " bytes=%" PRIu64
	       " secs=%.3f iops=%.1f mib_s=%.2f\n",
	       mode, what, qd, bs, ops, bytes, secs, (double)ops / secs,
	       (double)bytes / 1048576.0 / secs);
}

/* ---- disk ---------------------------------------------------------------- */

struct rr_arg {
	int fd;
	uint64_t blocks;	/* device size in SMALL_BS blocks */
	double end;
	uint64_t seed;
	uint64_t ops;
	int err;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *randread_thread(void *p)
{
	struct rr_arg *a = p;
	void *buf;

	if (posix_memalign(&buf, SMALL_BS, SMALL_BS)) {
		a->err = ENOMEM;
		return NULL;
	}
	do {
		off_t off = (off_t)(xorshift(&a->seed) % a->blocks) * SMALL_BS;
		ssize_t r = pread(a->fd, buf, SMALL_BS, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)SMALL_BS) {
			a->err = r < 0 ? errno : EIO;
			break;
		}
		a->ops++;
	} while (now_s() < a->end);
	free(buf);
	return NULL;
}

static int open_disk(const char *dev, int flags, uint64_t *size)
{
	struct stat st;
	int fd = open(dev, flags | O_DIRECT);

	if (fd < 0) {
		fprintf(stderr, "iobench: cannot open %s with O_DIRECT: %s\n", dev, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 ||
	    (S_ISBLK(st.st_mode) ? ioctl(fd, BLKGETSIZE64, size) < 0 : (*size = (uint64_t)st.st_size, 0))) {
		fprintf(stderr, "iobench: cannot size %s: %s\n", dev, strerror(errno));
		close(fd);
		return -1;
	}
	if (*size < BIG_BS) {
		fprintf(stderr, "iobench: %s is smaller than 1 MiB\n", dev);
		close(fd);
		return -1;
	}
	return fd;
}

static int randread(const char *dev, double secs, unsigned int threads)
{
	struct rr_arg args[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	uint64_t size, ops = 0;
	double t0, t1;
	int fd = open_disk(dev, O_RDONLY, &size);

	if (fd < 0)
		return 2;
	t0 = now_s();
	for (unsigned int i = 0; i < threads; i++) {
		args[i] = (struct rr_arg){ .fd = fd, .blocks = size / SMALL_BS, .end = t0 + secs,
					   .seed = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uint64_t)getpid() };
		if (pthread_create(&tids[i], NULL, randread_thread, &args[i])) {
			fputs("iobench: pthread_create failed\n", stderr);
			return 2;
		}
	}
	for (unsigned int i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	t1 = now_s();
	for (unsigned int i = 0; i < threads; i++) {
		if (args[i].err) {
			fprintf(stderr, "iobench: read of %s: %s\n", dev, strerror(args[i].err));
			return 2;
		}
		ops += args[i].ops;
	}
	close(fd);
	report("randread", dev, threads, SMALL_BS, ops, ops * SMALL_BS, t1 - t0);
	return 0;
}

static int sequential(const char *dev, double secs, int writing)
{
	uint64_t size, off = 0, ops = 0;
	double t0, end;
	unsigned char *buf;
	int fd = open_disk(dev, writing ? O_WRONLY : O_RDONLY, &size);

	if (fd < 0)
		return 2;
	if (posix_memalign((void **)&buf, SMALL_BS, BIG_BS)) {
		fputs("iobench: out of memory\n", stderr);
		return 2;
	}
	/* Not zeros, in case anything on the way treats zero blocks specially. */
	for (unsigned int i = 0; i < BIG_BS; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	size -= size % BIG_BS;
	t0 = now_s();
	end = t0 + secs;
	do {
		ssize_t r = writing ? pwrite(fd, buf, BIG_BS, (off_t)off) : pread(fd, buf, BIG_BS, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)BIG_BS) {
			fprintf(stderr, "iobench: %s %s at %" PRIu64 ": %s\n", writing ? "write to" : "read of",
				dev, off, r < 0 ? strerror(errno) : "short transfer");
			return 2;
		}
		ops++;
		off = (off + BIG_BS) % size;
	} while (now_s() < end);
	if (writing && fdatasync(fd) < 0) {
		fprintf(stderr, "iobench: fdatasync of %s: %s\n", dev, strerror(errno));
		return 2;
	}
	report(writing ? "seqwrite" : "seqread", dev, 1, BIG_BS, ops, ops * BIG_BS, now_s() - t0);
	close(fd);
	free(buf);
	return 0;
}

/* ---- network ------------------------------------------------------------- */

static int send_tcp(const char *addr, const char *port_s, double secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 60 };
	uint64_t bytes = 0, ops = 0;
	char what[64], sink[256];
	double t0, end;
	unsigned char *buf;
	long port = strtol(port_s, NULL, 10);
	int fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || port <= 0 || port > 65535)
		return usage();
	sa.sin_port = htons((uint16_t)port);
	if (posix_memalign((void **)&buf, SMALL_BS, NET_BS)) {
		fputs("iobench: out of memory\n", stderr);
		return 2;
	}
	for (unsigned int i = 0; i < NET_BS; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "iobench: socket: %s\n", strerror(errno));
		return 2;
	}
	/* A peer that never closes must not hang the benchmark. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	t0 = now_s();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "iobench: connect to %s:%ld: %s\n", addr, port, strerror(errno));
		return 2;
	}
	end = t0 + secs;
	do {
		ssize_t r = write(fd, buf, NET_BS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "iobench: send to %s:%ld: %s\n", addr, port,
				r < 0 ? strerror(errno) : "wrote nothing");
			return 2;
		}
		bytes += (uint64_t)r;
		ops++;
	} while (now_s() < end);
	if (shutdown(fd, SHUT_WR) < 0) {
		fprintf(stderr, "iobench: shutdown: %s\n", strerror(errno));
		return 2;
	}
	for (;;) {
		ssize_t r = read(fd, sink, sizeof(sink));

		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "iobench: waiting for %s:%ld to close: %s\n", addr, port,
				strerror(errno));
			return 2;
		}
	}
	snprintf(what, sizeof(what), "%s:%ld", addr, port);
	report("send", what, 1, NET_BS, ops, bytes, now_s() - t0);
	close(fd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	double secs, threads = 1;

	if (argc < 4)
		return usage();
	if (!strcmp(argv[1], "send"))
		return argc == 5 && !parse_num(argv[4], &secs) ? send_tcp(argv[2], argv[3], secs) : usage();
	if (parse_num(argv[3], &secs))
		return usage();
	if (!strcmp(argv[1], "randread")) {
		if (argc > 5 || (argc == 5 && (parse_num(argv[4], &threads) || threads > MAX_THREADS)))
			return usage();
		return randread(argv[2], secs, (unsigned int)threads);
	}
	if (argc != 4)
		return usage();
	if (!strcmp(argv[1], "seqread"))
		return sequential(argv[2], secs, 0);
	if (!strcmp(argv[1], "seqwrite"))
		return sequential(argv[2], secs, 1);
	return usage();
}
