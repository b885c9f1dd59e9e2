/*
 * blkpattern: a deterministic pseudo-random pattern on a block device or file,
 * for tern's virtio-blk and virtio-net tests. Runs in the test guest and, as the
 * same static arm64 binary, in the lab's emulated host (/lab/bin/blkpattern).
 *
 *   blkpattern write  DEV SEED [BYTES]  write the pattern, fsync
 *   blkpattern verify DEV SEED [BYTES]  read and compare with the pattern
 *   blkpattern sum    DEV [BYTES]       checksum of what is there ("-" = stdin)
 *   blkpattern stream SEED BYTES        the pattern on stdout (e.g. into nc)
 *
 * BYTES defaults to the size of DEV (block device or regular file). The pattern
 * is random-access: the 8 bytes at offset 8k are splitmix64(SEED, k), little
 * endian, so a mismatch is reported at its exact offset. Every mode prints one
 * line on stdout (stderr for stream):
 *   blkpattern: <mode> <dev> seed=<S> bytes=<N> fnv1a64=<16 hex digits>
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
	      "       blkpattern stream SEED BYTES\n", stderr);
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

int main(int argc, char **argv)
{
	const char *mode, *dev = "-";
	uint64_t seed = 0, bytes = 0, off, h = FNV_OFFSET, bad = UINT64_MAX;
	int have_bytes = 0, direct = 0, fd, writing, verifying, streaming;
	unsigned char *buf, *want;

	if (argc < 2)
		return usage();
	mode = argv[1];
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
