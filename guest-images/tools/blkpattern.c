/*
 * blkpattern: a deterministic pseudo-random pattern on a block device or file,
 * for tern's virtio-blk and virtio-net tests. Runs in the test guest and, as the
 * same static arm64 binary, in the lab's emulated host (/lab/bin/blkpattern).
 *
 *   blkpattern write  DEV SEED [BYTES]  write the pattern, fsync
 *   blkpattern verify DEV SEED [BYTES]  read and compare with the pattern
 *   blkpattern sum    DEV [BYTES]       checksum of what is there ("-" = stdin)
 *   blkpattern stream SEED BYTES        the pattern on stdout (e.g. into nc)
 *   blkpattern churn DEV SEED STOPFILE [THREADS]
 *                                       DEV holds the pattern: THREADS (default
 *                                       8) threads issue O_DIRECT reads (checked
 *                                       against the pattern, into a poisoned
 *                                       buffer) and writes (of the pattern) of
 *                                       4 KiB to 1 MiB at random offsets until
 *                                       STOPFILE exists; many requests in flight
 *                                       at any moment (a live migration's pause)
 *   blkpattern zeroes DEV STOPFILE      until STOPFILE exists: BLKZEROOUT of all
 *                                       of DEV (one long write-zeroes request),
 *                                       each checked by reading back 4 KiB
 *                                       blocks, the 8 bytes before each MiB
 *                                       made non-zero again in between
 *
 * BYTES defaults to the size of DEV (block device or regular file). The pattern
 * is random-access: the 8 bytes at offset 8k are splitmix64(SEED, k), little
 * endian, so a mismatch is reported at its exact offset. Every mode prints one
 * line on stdout (stderr for stream):
 *   blkpattern: <mode> <dev> seed=<S> bytes=<N> fnv1a64=<16 hex digits>
 * (churn: "blkpattern: churn <dev> seed=<S> threads=<T> reads=<N> writes=<N>
 * errors=<N> mismatches=<N>", then the first failure's offset if any;
 * zeroes: "blkpattern: zeroes <dev> requests=<N> errors=<N> mismatches=<N>")
 * where fnv1a64 is the 64-bit FNV-1a hash of the bytes written or read; verify
 * of a bad device adds "first bad offset <O>". Reads and writes use O_DIRECT
 * when the file accepts it (so a guest verify really reads the device), plain
 * I/O otherwise.
 *
 * Exit status: 0 ok, 1 verify found a mismatch, 2 usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t pattern_word(uint64_t seed, uint64_t k)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + (k + 1) * 0xbf58476d1ce4e5b9ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The pattern bytes [off, off + len), off a multiple of 8. */
static void pattern_fill(unsigned char *buf, uint64_t seed, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = pattern_word(seed, (off + i) / 8);

		for (size_t b = 0; b < 8 && i + b < len; b++)
			buf[i + b] = (unsigned char)(w >> (8 * b));
	}
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static int usage(void)
{
	fputs("usage: blkpattern write|verify DEV SEED [BYTES]\n"
	      "       blkpattern sum DEV|- [BYTES]\n"
	      "       blkpattern stream SEED BYTES\n"
	      "       blkpattern churn DEV SEED STOPFILE [THREADS]\n"
	      "       blkpattern zeroes DEV STOPFILE\n", stderr);
	return 2;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

/* Open DEV, with O_DIRECT when the file system or device takes it. */
static int open_dev(const char *dev, int flags, int *direct)
{
	int fd = open(dev, flags | O_DIRECT, 0644);

	*direct = fd >= 0;
	if (fd < 0 && errno == EINVAL)
		fd = open(dev, flags, 0644);
	return fd;
}

static int dev_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size);
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Full read or write of n bytes at the current position; short = error. */
static ssize_t xfer(int fd, unsigned char *buf, size_t n, int writing)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* ---- churn: many requests in flight, each one checked ------------------ */

#define CHURN_MAX	(1u << 20)
#define CHURN_POISON	0xa5

struct churn {
	const char *dev, *stop;
	uint64_t seed, size;
	uint64_t reads, writes, errors, mismatches;	/* atomics */
	uint64_t first_bad;				/* offset; UINT64_MAX: none */
};

static void churn_fail(struct churn *c, uint64_t *counter, uint64_t off, const char *what)
{
	uint64_t none = UINT64_MAX;

	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&c->first_bad, &none, off, 0, __ATOMIC_RELAXED,
					__ATOMIC_RELAXED))
		fprintf(stderr, "blkpattern: churn %s: %s at offset %" PRIu64 "\n", c->dev, what,
			off);
}

/* One request: a write of the pattern (one in four), or a read checked
 * byte for byte against it. */
static void churn_one(struct churn *c, int fd, unsigned char *buf, unsigned char *want,
		      uint64_t *rng)
{
	uint64_t r = pattern_word(*rng, 0), off;
	size_t len = (size_t)((r % (CHURN_MAX / 4096)) + 1) * 4096;
	ssize_t n;

	*rng = r;
	if (len > c->size)
		len = (size_t)(c->size & ~4095ull);
	off = ((r >> 20) % ((c->size - len) / 4096 + 1)) * 4096;
	pattern_fill(want, c->seed, off, len);
	if ((r >> 60) % 4 == 0) {
		n = pwrite(fd, want, len, (off_t)off);
		if (n != (ssize_t)len)
			churn_fail(c, &c->errors, off, n < 0 ? strerror(errno) : "short write");
		__atomic_add_fetch(&c->writes, 1, __ATOMIC_RELAXED);
		return;
	}
	memset(buf, CHURN_POISON, len);
	n = pread(fd, buf, len, (off_t)off);
	__atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
	if (n != (ssize_t)len) {
		churn_fail(c, &c->errors, off, n < 0 ? strerror(errno) : "short read");
		return;
	}
	if (memcmp(buf, want, len)) {
		size_t i = 0;

		while (buf[i] == want[i])
			i++;
		churn_fail(c, &c->mismatches, off + i, "read data differs from the pattern");
	}
}

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	unsigned char *buf, *want;
	uint64_t rng = (uint64_t)(uintptr_t)&rng ^ (uint64_t)pthread_self();
	int fd = open(c->dev, O_RDWR | O_DIRECT);

	if (fd < 0 || posix_memalign((void **)&buf, 4096, CHURN_MAX) ||
	    posix_memalign((void **)&want, 4096, CHURN_MAX)) {
		churn_fail(c, &c->errors, 0, fd < 0 ? "cannot open with O_DIRECT" : "out of memory");
		return NULL;
	}
	while (access(c->stop, F_OK) < 0)
		churn_one(c, fd, buf, want, &rng);
	close(fd);
	free(buf);
	free(want);
	return NULL;
}

static int churn(int argc, char **argv)
{
	struct churn c = { .first_bad = UINT64_MAX };
	uint64_t threads = 8;
	pthread_t tid[64];
	int fd, direct;

	if (argc < 5 || argc > 6 || parse_u64(argv[3], &c.seed) ||
	    (argc == 6 && (parse_u64(argv[5], &threads) || !threads || threads > 64)))
		return usage();
	c.dev = argv[2];
	c.stop = argv[4];
	fd = open_dev(c.dev, O_RDONLY, &direct);
	if (fd < 0 || dev_size(fd, &c.size) < 0 || c.size < 4096) {
		fprintf(stderr, "blkpattern: cannot open or size %s\n", c.dev);
		return 2;
	}
	close(fd);
	for (uint64_t i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, churn_thread, &c)) {
			fputs("blkpattern: cannot start a thread\n", stderr);
			return 2;
		}
	for (uint64_t i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	printf("blkpattern: churn %s seed=%" PRIu64 " threads=%" PRIu64 " reads=%" PRIu64
	       " writes=%" PRIu64 " errors=%" PRIu64 " mismatches=%" PRIu64, c.dev, c.seed,
	       threads, c.reads, c.writes, c.errors, c.mismatches);
	if (c.first_bad != UINT64_MAX)
		printf(" first bad offset %" PRIu64, c.first_bad);
	putchar('\n');
	return c.errors ? 2 : c.mismatches ? 1 : 0;
}

/* One BLKZEROOUT of the whole device, then every MiB's last 4 KiB read
 * back (must be zero) and given 8 non-zero bytes for the next round. */
static int zero_round(int fd, uint64_t size, unsigned char *buf, uint64_t *mismatches)
{
	uint64_t range[2] = { 0, size & ~((1ull << 20) - 1) };

	if (ioctl(fd, BLKZEROOUT, range) < 0)
		return -1;
	for (uint64_t off = (1u << 20) - 4096; off < range[1]; off += 1u << 20) {
		if (pread(fd, buf, 4096, (off_t)off) != 4096)
			return -1;
		for (size_t i = 0; i < 4096; i++)
			if (buf[i]) {
				(*mismatches)++;
				break;
			}
		memset(buf + 4088, 0x5a, 8);
		if (pwrite(fd, buf, 4096, (off_t)off) != 4096)
			return -1;
	}
	return 0;
}

static int zeroes(int argc, char **argv)
{
	uint64_t size, requests = 0, errors = 0, mismatches = 0;
	unsigned char *buf;
	int fd;

	if (argc != 4)
		return usage();
	fd = open(argv[2], O_RDWR | O_DIRECT);
	if (fd < 0 || dev_size(fd, &size) < 0 || size < (1u << 20) ||
	    posix_memalign((void **)&buf, 4096, 4096)) {
		fprintf(stderr, "blkpattern: cannot open or size %s\n", argv[2]);
		return 2;
	}
	memset(buf, 0, 4096);
	while (access(argv[3], F_OK) < 0) {
		requests++;
		if (zero_round(fd, size, buf, &mismatches) < 0 && !errors++)
			fprintf(stderr, "blkpattern: zeroes %s: %s\n", argv[2], strerror(errno));
	}
	printf("blkpattern: zeroes %s requests=%" PRIu64 " errors=%" PRIu64 " mismatches=%" PRIu64
	       "\n", argv[2], requests, errors, mismatches);
	return errors ? 2 : mismatches ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *mode, *dev = "-";
	uint64_t seed = 0, bytes = 0, off, h = FNV_OFFSET, bad = UINT64_MAX;
	int have_bytes = 0, direct = 0, fd, writing, verifying, streaming;
	unsigned char *buf, *want;

	if (argc < 2)
		return usage();
	mode = argv[1];
	if (!strcmp(mode, "churn"))
		return churn(argc, argv);
	if (!strcmp(mode, "zeroes"))
		return zeroes(argc, argv);
	writing = !strcmp(mode, "write");
	verifying = !strcmp(mode, "verify");
	streaming = !strcmp(mode, "stream");
	if (writing || verifying) {
		if (argc < 4 || argc > 5 || parse_u64(argv[3], &seed))
			return usage();
		dev = argv[2];
		have_bytes = argc == 5;
		if (have_bytes && parse_u64(argv[4], &bytes))
			return usage();
	} else if (!strcmp(mode, "sum")) {
		if (argc < 3 || argc > 4)
			return usage();
		dev = argv[2];
		have_bytes = argc == 4;
		if (have_bytes && parse_u64(argv[3], &bytes))
			return usage();
	} else if (streaming) {
		if (argc != 4 || parse_u64(argv[2], &seed) || parse_u64(argv[3], &bytes))
			return usage();
		have_bytes = 1;
	} else {
		return usage();
	}

	if (streaming) {
		fd = STDOUT_FILENO;
	} else if (!strcmp(dev, "-")) {
		fd = STDIN_FILENO;
	} else {
		fd = open_dev(dev, writing ? O_WRONLY | O_CREAT : O_RDONLY, &direct);
		if (fd < 0) {
			fprintf(stderr, "blkpattern: cannot open %s: %s\n", dev, strerror(errno));
			return 2;
		}
	}
	if (!have_bytes) {
		if (fd == STDIN_FILENO) {
			bytes = UINT64_MAX; /* sum of stdin: up to EOF */
		} else if (dev_size(fd, &bytes) < 0) {
			fprintf(stderr, "blkpattern: cannot size %s: %s\n", dev, strerror(errno));
			return 2;
		}
	}
	if (posix_memalign((void **)&buf, 4096, CHUNK) || posix_memalign((void **)&want, 4096, CHUNK)) {
		fputs("blkpattern: out of memory\n", stderr);
		return 2;
	}

	for (off = 0; off < bytes;) {
		size_t n = bytes - off < CHUNK ? (size_t)(bytes - off) : CHUNK;
		ssize_t r;

		/* O_DIRECT wants whole blocks: a ragged tail goes through the page cache. */
		if (direct && n % 512) {
			int flags = fcntl(fd, F_GETFL);

			if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) < 0) {
				fprintf(stderr, "blkpattern: %s: cannot leave O_DIRECT: %s\n", dev, strerror(errno));
				return 2;
			}
			direct = 0;
		}
		if (writing || streaming) {
			pattern_fill(buf, seed, off, n);
			r = xfer(fd, buf, n, 1);
		} else {
			r = xfer(fd, buf, n, 0);
		}
		if (r < 0) {
			fprintf(stderr, "blkpattern: %s %s at offset %" PRIu64 ": %s\n",
				writing || streaming ? "write to" : "read of", dev, off, strerror(errno));
			return 2;
		}
		if ((size_t)r < n && (writing || streaming || have_bytes)) {
			fprintf(stderr, "blkpattern: %s: short %s at offset %" PRIu64 " (%zd of %zu bytes)\n",
				dev, writing || streaming ? "write" : "read", off, r, n);
			return 2;
		}
		n = (size_t)r;
		h = fnv1a(h, buf, n);
		if (verifying && bad == UINT64_MAX) {
			pattern_fill(want, seed, off, n);
			if (memcmp(buf, want, n)) {
				size_t i = 0;

				while (buf[i] == want[i])
					i++;
				bad = off + i;
			}
		}
		off += n;
		if (n == 0)
			break; /* EOF of stdin */
	}
	if (writing && fsync(fd) < 0) {
		fprintf(stderr, "blkpattern: fsync of %s: %s\n", dev, strerror(errno));
		return 2;
	}
	if (fd > STDERR_FILENO && close(fd) < 0) {
		fprintf(stderr, "blkpattern: close of %s: %s\n", dev, strerror(errno));
		return 2;
	}
	fprintf(streaming ? stderr : stdout,
		"blkpattern: %s %s seed=%" PRIu64 " bytes=%" PRIu64 " fnv1a64=%016" PRIx64 "%s",
		mode, streaming ? "stdout" : dev, seed, off, h, bad == UINT64_MAX ? "" : " MISMATCH");
	if (bad != UINT64_MAX)
		fprintf(stdout, " first bad offset %" PRIu64, bad);
	fputc('\n', streaming ? stderr : stdout);
	return bad == UINT64_MAX ? 0 : 1;
}
