// SPDX-License-Identifier: GPL-2.0-only
/*
 * The snapshot stream's framing, through an in-memory buffer: round trips
 * (one big read, one byte at a time, with EINTR, with short and failing
 * writes, with thousands of iovecs), the exact bytes on the wire, and every
 * rule the reader enforces, each with an input that breaks it and a check
 * that the message says what broke.
 *
 * Streams that the writer refuses to produce (unknown types, bad versions,
 * oversized sections) are built by hand here, from the byte tables in
 * docs/stream-format.md rather than from stream.c's own encoder.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "migration/le.h"
#include "migration/stream.h"

#define PAGE		4096
#define HDR_BYTES	36
#define SEC_BYTES	24

/* ---- an in-memory stream ---- */

struct mem {
	uint8_t *buf;
	size_t len;		/* bytes written, or readable */
	size_t cap;
	size_t pos;		/* read position */
	/* Writer behaviour */
	size_t space;		/* ENOSPC past this many bytes (0: unlimited) */
	size_t write_max;	/* at most this much per call (0: all) */
	int max_iovcnt;		/* largest iovcnt seen */
	/* Reader behaviour */
	size_t read_max;	/* at most this much per call (0: all) */
	size_t largest_read;	/* largest request seen */
	const void *last_buf;	/* destination of the last request */
	size_t fail_at;		/* EIO once the position reaches this (0: never) */
	/* Both */
	int eintr;		/* fail this many calls with EINTR... */
	size_t eintr_at;	/* ...reads only once the position reaches this */
};

static struct mem m;

static void mem_append(const void *p, size_t n)
{
	if (m.len + n > m.cap) {
		m.cap = (m.len + n) * 2;
		m.buf = realloc(m.buf, m.cap);
		assert_non_null(m.buf);
	}
	memcpy(m.buf + m.len, p, n);
	m.len += n;
}

static ssize_t mem_writev(void *opaque, const struct iovec *iov, int iovcnt)
{
	size_t done = 0;

	assert_ptr_equal(opaque, &m);
	assert_true(iovcnt > 0 && iovcnt <= IOV_MAX);
	if (iovcnt > m.max_iovcnt)
		m.max_iovcnt = iovcnt;
	if (m.eintr) {
		m.eintr--;
		errno = EINTR;
		return -1;
	}
	for (int i = 0; i < iovcnt; i++) {
		size_t n = iov[i].iov_len;

		assert_true(n > 0);	/* empty entries are not passed on */
		if (m.write_max && n > m.write_max - done)
			n = m.write_max - done;
		if (m.space && n > m.space - m.len)
			n = m.space - m.len;
		mem_append(iov[i].iov_base, n);
		done += n;
		if (n < iov[i].iov_len)
			break;
	}
	if (!done) {
		errno = ENOSPC;
		return -1;
	}
	return (ssize_t)done;
}

static ssize_t mem_read(void *opaque, void *buf, size_t len)
{
	size_t n = len;

	assert_ptr_equal(opaque, &m);
	assert_true(len > 0);
	if (len > m.largest_read)
		m.largest_read = len;
	m.last_buf = buf;
	if (m.eintr && m.pos >= m.eintr_at) {
		m.eintr--;
		errno = EINTR;
		return -1;
	}
	if (m.fail_at && m.pos >= m.fail_at) {
		errno = EIO;
		return -1;
	}
	if (m.read_max && n > m.read_max)
		n = m.read_max;
	if (n > m.len - m.pos)
		n = m.len - m.pos;
	memcpy(buf, m.buf + m.pos, n);
	m.pos += n;
	return (ssize_t)n;
}

static int setup(void **state)
{
	memset(&m, 0, sizeof(m));
	return 0;
}

static int teardown(void **state)
{
	free(m.buf);
	return 0;
}

/* ---- streams built by hand, from the byte tables ---- */

static uint32_t crc(const void *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

struct raw_header {
	const char *magic;
	uint32_t version, arch, page_size, reserved;
	uint64_t features;
};

static const struct raw_header good_header = {
	.magic = STREAM_MAGIC, .version = 1, .arch = 183, .page_size = PAGE,
};

static void raw_header(const struct raw_header *h)
{
	uint8_t b[HDR_BYTES];

	memcpy(b, h->magic, 8);
	put_le(b + 8, h->version, 4);
	put_le(b + 12, h->arch, 4);
	put_le(b + 16, h->page_size, 4);
	put_le(b + 20, h->reserved, 4);
	put_le(b + 24, h->features, 8);
	put_le(b + 32, crc(b, 32), 4);
	mem_append(b, sizeof(b));
}

/* A section header with a correct header CRC and the given payload CRC. */
static void raw_section_crc(uint16_t type, uint16_t version, uint32_t instance,
			    uint64_t length, uint32_t payload_crc)
{
	uint8_t b[SEC_BYTES];

	put_le(b + 0, type, 2);
	put_le(b + 2, version, 2);
	put_le(b + 4, instance, 4);
	put_le(b + 8, length, 8);
	put_le(b + 16, payload_crc, 4);
	put_le(b + 20, crc(b, 20), 4);
	mem_append(b, sizeof(b));
}

/* A whole section: header (correct CRCs) and payload. */
static void raw_section(uint16_t type, uint16_t version, uint32_t instance, const void *p,
			size_t len)
{
	raw_section_crc(type, version, instance, len, len ? crc(p, len) : 0);
	if (len)
		mem_append(p, len);
}

static void raw_end(void)
{
	raw_section_crc(STREAM_SEC_END, 1, 0, 0, 0);
}

/* ---- reading, and checking failures ---- */

static struct stream_reader r;
static struct stream_section sec;

static void reader_start(void)
{
	m.pos = 0;
	stream_reader_init(&r, mem_read, &m);
}

/* @ret is @want, and the message @msg contains the words given. */
static void assert_msg(const char *msg, int ret, int want, const char *word1, const char *word2)
{
	if (ret != want)
		fail_msg("returned %d, expected %d (message: \"%s\")", ret, want, msg);
	if (word1 && !strstr(msg, word1))
		fail_msg("message \"%s\" lacks \"%s\"", msg, word1);
	if (word2 && !strstr(msg, word2))
		fail_msg("message \"%s\" lacks \"%s\"", msg, word2);
}

#define assert_err(ret, want, w1, w2)	assert_msg(r.err, ret, want, w1, w2)
#define assert_werr(ret, want, w1, w2)	assert_msg(w.err, ret, want, w1, w2)

static int read_header(void)
{
	struct stream_header h;

	return stream_read_header(&r, &h, PAGE);
}

static void header_fails(const struct raw_header *h, int want, const char *w1, const char *w2)
{
	m.len = 0;
	raw_header(h);
	raw_end();
	reader_start();
	assert_err(read_header(), want, w1, w2);
}

/* Header good; the first section is expected to be refused. */
static void start_sections(void)
{
	reader_start();
	assert_int_equal(read_header(), 0);
}

/* ---- the writer's side of a round trip ---- */

static struct stream_writer w;

static const struct stream_header hdr = {
	.version = STREAM_VERSION,
	.arch = STREAM_ARCH_AARCH64,
	.page_size = PAGE,
	.features = STREAM_F_ITS | STREAM_F_COUNTER_OFFSET,
};

static uint8_t pattern(size_t i, unsigned int seed)
{
	return (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

static void fill(void *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = pattern(i, seed);
}

static uint8_t config[100], page_a[PAGE], page_b[PAGE], page_c[PAGE], dev[3000], clk[16];
static uint64_t ram_offset = 0x200000;

static void fill_payloads(void)
{
	fill(config, sizeof(config), 1);
	fill(page_a, sizeof(page_a), 2);
	fill(page_b, sizeof(page_b), 3);
	fill(page_c, sizeof(page_c), 4);
	fill(dev, sizeof(dev), 5);
	fill(clk, sizeof(clk), 6);
}

static void write_one(uint16_t type, uint32_t instance, void *p, size_t len)
{
	struct iovec iov = { .iov_base = p, .iov_len = len };

	assert_int_equal(stream_write_section(&w, type, 1, instance, &iov, 1), 0);
}

/* header, config, ram (4 iovecs), vcpu 0 (empty), device 2, clock, end */
static void write_stream(void)
{
	uint8_t off[8];
	struct iovec ram[] = {
		{ off, sizeof(off) }, { page_a, PAGE }, { page_b, PAGE }, { NULL, 0 }, { page_c, PAGE },
	};

	fill_payloads();
	put_le(off, ram_offset, 8);
	stream_writer_init(&w, mem_writev, &m);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	write_one(STREAM_SEC_CONFIG, 0, config, sizeof(config));
	assert_int_equal(stream_write_section(&w, STREAM_SEC_RAM, 1, 0, ram, 5), 0);
	assert_int_equal(stream_write_section(&w, STREAM_SEC_VCPU, 1, 0, NULL, 0), 0);
	write_one(STREAM_SEC_DEVICE, 2, dev, sizeof(dev));
	write_one(STREAM_SEC_CLOCK, 0, clk, sizeof(clk));
	assert_int_equal(stream_write_end(&w), 0);
	assert_int_equal(w.offset, m.len);
	assert_int_equal(m.len, HDR_BYTES + 6 * SEC_BYTES + sizeof(config) + 8 + 3 * PAGE +
				sizeof(dev) + sizeof(clk));
}

static void next_is(uint16_t type, uint32_t instance, uint64_t length)
{
	int ret = stream_next_section(&r, &sec);

	if (ret != 1)
		fail_msg("stream_next_section: %d (%s)", ret, r.err);
	assert_int_equal(sec.type, type);
	assert_int_equal(sec.version, 1);
	assert_int_equal(sec.instance, instance);
	assert_int_equal(sec.length, length);
}

static void read_into(void *p, size_t n)
{
	int ret = stream_read_payload(&r, p, n);

	if (ret)
		fail_msg("stream_read_payload(%zu): %d (%s)", n, ret, r.err);
}

static void read_stream(void)
{
	struct stream_header h;
	uint8_t buf[3 * PAGE + 8];
	size_t len;
	void *p;

	assert_int_equal(stream_read_header(&r, &h, PAGE), 0);
	assert_int_equal(h.version, STREAM_VERSION);
	assert_int_equal(h.arch, STREAM_ARCH_AARCH64);
	assert_int_equal(h.page_size, PAGE);
	assert_int_equal(h.features, hdr.features);

	next_is(STREAM_SEC_CONFIG, 0, sizeof(config));
	read_into(buf, sizeof(config));
	assert_memory_equal(buf, config, sizeof(config));

	next_is(STREAM_SEC_RAM, 0, 8 + 3 * PAGE);
	read_into(buf, sizeof(buf));
	assert_int_equal(buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24, ram_offset);
	assert_memory_equal(buf + 8, page_a, PAGE);
	assert_memory_equal(buf + 8 + PAGE, page_b, PAGE);
	assert_memory_equal(buf + 8 + 2 * PAGE, page_c, PAGE);

	next_is(STREAM_SEC_VCPU, 0, 0);
	read_into(NULL, 0);

	/* In uneven pieces, an empty one among them. */
	next_is(STREAM_SEC_DEVICE, 2, sizeof(dev));
	read_into(buf, 1);
	read_into(buf + 1, 0);
	read_into(buf + 1, 1000);
	read_into(buf + 1001, 1998);
	assert_int_equal(r.payload_left, 1);
	read_into(buf + 2999, 1);
	assert_memory_equal(buf, dev, sizeof(dev));

	next_is(STREAM_SEC_CLOCK, 0, sizeof(clk));
	assert_int_equal(stream_read_payload_alloc(&r, &p, &len), 0);
	assert_int_equal(len, sizeof(clk));
	assert_memory_equal(p, clk, sizeof(clk));
	free(p);

	assert_int_equal(stream_next_section(&r, &sec), 0);
	assert_int_equal(sec.type, STREAM_SEC_END);
	assert_int_equal(r.offset, m.len);
	assert_int_equal(m.pos, m.len);
}

/* ---- round trips ---- */

/* The documented limits (docs/stream-format.md), written out again. */
static const struct { uint16_t type; const char *name; uint64_t max; } limits[] = {
	{ STREAM_SEC_CONFIG, "config", 64 << 10 },
	{ STREAM_SEC_RAM, "ram", 8 + STREAM_RAM_CHUNK_MAX },
	{ STREAM_SEC_VCPU, "vcpu", 1 << 20 },
	{ STREAM_SEC_GIC, "gic", 16 << 20 },
	{ STREAM_SEC_ITS, "its", 4 << 10 },
	{ STREAM_SEC_DEVICE, "device", 65 << 20 },
	{ STREAM_SEC_CLOCK, "clock", 256 },
	{ STREAM_SEC_RAM_ZERO, "ram-zero", 16 },
	{ STREAM_SEC_RAM_MISSING, "ram-missing", 16 },
	{ STREAM_SEC_POSTCOPY, "postcopy", 8 },
	{ STREAM_SEC_SYNC, "sync", 0 },
	{ STREAM_SEC_END, "end", 0 },
};

#define NR_LIMITS (sizeof(limits) / sizeof(limits[0]))

static void test_rules(void **state)
{
	const uint16_t unknown[] = { 0, 12, 0x100, 0xfffe };

	for (size_t i = 0; i < NR_LIMITS; i++) {
		const struct stream_section_rule *rule = stream_section_rule(limits[i].type);

		assert_non_null(rule);
		assert_int_equal(rule->type, limits[i].type);
		assert_string_equal(rule->name, limits[i].name);
		assert_int_equal(rule->version, 1);
		assert_int_equal(rule->max_length, limits[i].max);
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_null(stream_section_rule(unknown[i]));
}

/* The example stream of docs/stream-format.md, byte for byte. */
static void test_wire_layout(void **state)
{
	static const uint8_t want[] = {
		0x54, 0x45, 0x52, 0x4e, 0x53, 0x4e, 0x41, 0x50, 0x01, 0x00, 0x00, 0x00,
		0xb7, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0xeb, 0x6f, 0xf6,
		/* device section */
		0x06, 0x00, 0x01, 0x00, 0x04, 0x03, 0x02, 0x01, 0x03, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x4c, 0xf8, 0x4d, 0xbe, 0xb1, 0x33, 0x95, 0xe9,
		0xaa, 0xbb, 0xcc,
		/* end marker */
		0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf1, 0xa9, 0x6b, 0x99,
	};
	uint8_t payload[3] = { 0xaa, 0xbb, 0xcc };
	struct iovec iov = { payload, 3 };

	stream_writer_init(&w, mem_writev, &m);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	assert_int_equal(stream_write_section(&w, STREAM_SEC_DEVICE, 1, 0x01020304, &iov, 1), 0);
	assert_int_equal(stream_write_end(&w), 0);
	assert_int_equal(m.len, sizeof(want));
	assert_memory_equal(m.buf, want, sizeof(want));
	/* And the hand-made encoder used below agrees. */
	m.len = 0;
	raw_header(&(struct raw_header){ .magic = STREAM_MAGIC, .version = 1, .arch = 183,
					 .page_size = PAGE, .features = 5 });
	raw_section(STREAM_SEC_DEVICE, 1, 0x01020304, payload, 3);
	raw_end();
	assert_memory_equal(m.buf, want, sizeof(want));
}

static void test_round_trip(void **state)
{
	write_stream();
	reader_start();
	read_stream();
	assert_int_equal(m.max_iovcnt, 5);	/* section header + 4 non-empty iovecs */
}

static void test_read_byte_by_byte(void **state)
{
	write_stream();
	m.read_max = 1;
	reader_start();
	read_stream();
	assert_int_equal(m.largest_read, 3 * PAGE + 8);
}

static void test_read_eintr(void **state)
{
	write_stream();
	reader_start();
	m.eintr = 1;
	read_stream();
	assert_int_equal(m.eintr, 0);
	/* Again, in the middle of the RAM payload. */
	m.read_max = 1000;
	m.eintr = 1;
	m.eintr_at = HDR_BYTES + 2 * SEC_BYTES + sizeof(config) + 2500;
	reader_start();
	read_stream();
	assert_int_equal(m.eintr, 0);
}

/* A large payload goes straight into the caller's buffer, in one request. */
static void test_read_large_direct(void **state)
{
	size_t len = 8 + (4 << 20);
	uint8_t *src = malloc(len), *dst = malloc(len);
	struct iovec iov = { src, len };

	assert_non_null(src);
	assert_non_null(dst);
	fill(src, len, 9);
	stream_writer_init(&w, mem_writev, &m);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	assert_int_equal(stream_write_section(&w, STREAM_SEC_RAM, 1, 0, &iov, 1), 0);
	assert_int_equal(stream_write_end(&w), 0);
	start_sections();
	next_is(STREAM_SEC_RAM, 0, len);
	m.largest_read = 0;
	read_into(dst, len);
	assert_int_equal(m.largest_read, len);
	assert_ptr_equal(m.last_buf, dst);
	assert_memory_equal(src, dst, len);
	assert_int_equal(stream_next_section(&r, &sec), 0);
	free(src);
	free(dst);
}

static void test_short_writes(void **state)
{
	m.write_max = 7;
	m.eintr = 2;
	write_stream();
	assert_int_equal(m.eintr, 0);
	reader_start();
	read_stream();
}

/* More iovecs than one writev takes: split at IOV_MAX, nothing lost. */
static void test_many_iovecs(void **state)
{
	int n = 3 * IOV_MAX + 17;
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));
	uint8_t *src = malloc((size_t)n * 3), *dst = malloc((size_t)n * 3);

	assert_non_null(iov);
	assert_non_null(src);
	assert_non_null(dst);
	fill(src, (size_t)n * 3, 11);
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ src + 3 * i, 3 };
	m.write_max = 1000;	/* short writes that end mid-iovec too */
	stream_writer_init(&w, mem_writev, &m);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	assert_int_equal(stream_write_section(&w, STREAM_SEC_DEVICE, 1, 0, iov, n), 0);
	assert_int_equal(stream_write_end(&w), 0);
	assert_int_equal(m.max_iovcnt, IOV_MAX);

	start_sections();
	next_is(STREAM_SEC_DEVICE, 0, (uint64_t)n * 3);
	read_into(dst, (size_t)n * 3);
	assert_memory_equal(src, dst, (size_t)n * 3);
	assert_int_equal(stream_next_section(&r, &sec), 0);
	free(iov);
	free(src);
	free(dst);
}

static void test_alloc_rest(void **state)
{
	size_t len;
	void *p;

	write_stream();
	start_sections();
	next_is(STREAM_SEC_CONFIG, 0, sizeof(config));
	read_into(config, 40);
	assert_int_equal(stream_read_payload_alloc(&r, &p, &len), 0);
	assert_int_equal(len, sizeof(config) - 40);
	free(p);
	next_is(STREAM_SEC_RAM, 0, 8 + 3 * PAGE);
	assert_int_equal(stream_read_payload_alloc(&r, &p, &len), 0);
	free(p);
	/* An empty payload still gives a buffer that can be freed. */
	next_is(STREAM_SEC_VCPU, 0, 0);
	assert_int_equal(stream_read_payload_alloc(&r, &p, &len), 0);
	assert_non_null(p);
	assert_int_equal(len, 0);
	free(p);
}

static void test_fd_adapters(void **state)
{
	FILE *f = tmpfile();
	int fd;

	assert_non_null(f);
	fd = fileno(f);
	fill_payloads();
	stream_writer_init(&w, stream_fd_writev, (void *)(intptr_t)fd);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	write_one(STREAM_SEC_GIC, 0, dev, sizeof(dev));
	assert_int_equal(stream_write_end(&w), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	stream_reader_init(&r, stream_fd_read, (void *)(intptr_t)fd);
	assert_int_equal(read_header(), 0);
	next_is(STREAM_SEC_GIC, 0, sizeof(dev));
	read_into(page_a, sizeof(dev));
	assert_memory_equal(page_a, dev, sizeof(dev));
	assert_int_equal(stream_next_section(&r, &sec), 0);
	/* Past the end of the file: the stream is truncated. */
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "truncated", "end marker");
	fclose(f);

	/* A closed descriptor: the errno comes back, with what was being written. */
	stream_writer_init(&w, stream_fd_writev, (void *)(intptr_t)-1);
	assert_int_equal(stream_write_header(&w, &hdr), -EBADF);
	assert_non_null(strstr(w.err, "header"));
}

/* ---- writer failures ---- */

static void test_write_enospc(void **state)
{
	char at[64];

	m.space = HDR_BYTES + 100;
	stream_writer_init(&w, mem_writev, &m);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	fill_payloads();
	write_one(STREAM_SEC_CONFIG, 0, config, 10);
	snprintf(at, sizeof(at), "writing section 'ram' at offset %d: ", HDR_BYTES + SEC_BYTES + 10);
	assert_werr(stream_write_section(&w, STREAM_SEC_RAM, 1, 0,
					 &(struct iovec){ page_a, PAGE }, 1),
		    -ENOSPC, at, "No space left on device");
	assert_int_equal(w.offset, HDR_BYTES + 100);
	assert_werr(stream_write_end(&w), -ENOSPC, "end marker", "No space");
}

static void test_write_refuses(void **state)
{
	struct stream_header bad = hdr;
	uint8_t big[257];
	struct iovec iov = { big, sizeof(big) };

	stream_writer_init(&w, mem_writev, &m);
	bad.version = 2;
	assert_werr(stream_write_header(&w, &bad), -EINVAL, "version 2", NULL);
	bad = hdr;
	bad.features |= 1ULL << 40;
	assert_werr(stream_write_header(&w, &bad), -EINVAL, "feature", NULL);
	assert_werr(stream_write_section(&w, 12, 1, 0, NULL, 0), -EINVAL, "type 12", NULL);
	assert_werr(stream_write_section(&w, STREAM_SEC_END, 1, 0, NULL, 0), -EINVAL, "65535", NULL);
	assert_werr(stream_write_section(&w, STREAM_SEC_GIC, 0, 0, NULL, 0), -EINVAL, "'gic'",
		    "version 0");
	assert_werr(stream_write_section(&w, STREAM_SEC_GIC, 2, 0, NULL, 0), -EINVAL, "'gic'",
		    "version 2");
	assert_werr(stream_write_section(&w, STREAM_SEC_CLOCK, 1, 0, &iov, 1), -EINVAL, "257",
		    "256");
	assert_werr(stream_write_section(&w, STREAM_SEC_CLOCK, 1, 0, &iov, -1), -EINVAL, "-1", NULL);
	/* Lengths that would wrap a 64-bit sum are still too long. */
	assert_werr(stream_write_section(&w, STREAM_SEC_CLOCK, 1, 0,
					 (struct iovec[]){ { big, 10 }, { big, SIZE_MAX - 5 } }, 2),
		    -EINVAL, "more than the 256", NULL);
	/* Nothing was written by any of them. */
	assert_int_equal(m.len, 0);
	assert_int_equal(w.offset, 0);
}

/* ---- reader: the header ---- */

static void test_bad_magic(void **state)
{
	struct raw_header h = good_header;

	h.magic = "\x7f" "ELF\2\1\1\0";
	header_fails(&h, -EBADMSG, "not a tern snapshot", "7f 45 4c 46");
	h.magic = "TERNSNAp";
	header_fails(&h, -EBADMSG, "not a tern snapshot", "TERNSNAP");
}

static void test_bad_version(void **state)
{
	struct raw_header h = good_header;

	h.version = 7;
	header_fails(&h, -ENOTSUP, "format version 7 not supported: this tern reads version 1",
		     NULL);
	h.version = 0;
	header_fails(&h, -ENOTSUP, "format version 0", NULL);
	h.version = 0xffffffff;
	header_fails(&h, -ENOTSUP, "format version 4294967295", NULL);
}

static void test_wrong_arch(void **state)
{
	struct raw_header h = good_header;

	h.arch = 62;	/* EM_X86_64 */
	header_fails(&h, -ENOTSUP, "62", "aarch64");
}

static void test_wrong_page_size(void **state)
{
	struct raw_header h = good_header;

	h.page_size = 65536;
	header_fails(&h, -ENOTSUP, "65536-byte pages", "4096-byte pages");
	h.page_size = 0;
	header_fails(&h, -ENOTSUP, "0-byte pages", NULL);
}

/* One flipped bit anywhere after the version is caught by the CRC. */
static void test_header_crc(void **state)
{
	for (size_t byte = 12; byte < HDR_BYTES; byte++) {
		for (unsigned int bit = 0; bit < 8; bit += 3) {
			m.len = 0;
			raw_header(&good_header);
			m.buf[byte] ^= (uint8_t)(1 << bit);
			reader_start();
			assert_err(read_header(), -EBADMSG, "header CRC mismatch", "corrupt");
		}
	}
}

static void test_header_reserved(void **state)
{
	struct raw_header h = good_header;

	h.reserved = 0x10;
	header_fails(&h, -EBADMSG, "reserved", "0x10");
}

static void test_unknown_features(void **state)
{
	struct raw_header h = good_header;
	struct stream_header out;

	h.features = STREAM_F_PMU | (1ULL << 3);
	header_fails(&h, -ENOTSUP, "features", "bit 3");
	h.features = STREAM_F_ITS | (1ULL << 17) | (1ULL << 63);
	header_fails(&h, -ENOTSUP, "17, 63", NULL);
	/* All known bits at once are fine. */
	m.len = 0;
	h.features = STREAM_F_KNOWN;
	raw_header(&h);
	reader_start();
	assert_int_equal(stream_read_header(&r, &out, PAGE), 0);
	assert_int_equal(out.features, STREAM_F_KNOWN);
}

/* ---- reader: section headers ---- */

static void test_unknown_type(void **state)
{
	const uint16_t types[] = { 0, 12, 0x1234, 0xfffe };
	char num[16];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		m.len = 0;
		raw_header(&good_header);
		raw_section(types[i], 1, 0, "abc", 3);
		raw_end();
		start_sections();
		snprintf(num, sizeof(num), "type %u", types[i]);
		assert_err(stream_next_section(&r, &sec), -ENOTSUP, num, "unknown");
	}
}

static void test_section_version(void **state)
{
	raw_header(&good_header);
	raw_section(STREAM_SEC_VCPU, 0, 2, "abc", 3);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "'vcpu'", "version 0");

	m.len = 0;
	raw_header(&good_header);
	raw_section(STREAM_SEC_VCPU, 2, 2, "abc", 3);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -ENOTSUP, "'vcpu' version 2 not supported",
		   "up to version 1");

	m.len = 0;
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_END, 3, 0, 0, 0);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -ENOTSUP, "'end' version 3", NULL);
}

static void test_section_too_long(void **state)
{
	char nums[64];

	for (size_t i = 0; i < NR_LIMITS; i++) {
		m.len = 0;
		raw_header(&good_header);
		raw_section_crc(limits[i].type, 1, 0, limits[i].max + 1, 0);
		start_sections();
		snprintf(nums, sizeof(nums), "'%s' at offset 36 is %llu bytes long, more than the %llu allowed",
			 limits[i].name, (unsigned long long)limits[i].max + 1,
			 (unsigned long long)limits[i].max);
		assert_err(stream_next_section(&r, &sec), -EBADMSG, nums, NULL);
		/* Nothing was allocated or read for it. */
		assert_int_equal(r.payload_left, 0);
		assert_int_equal(m.pos, HDR_BYTES + SEC_BYTES);
	}
	m.len = 0;
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_GIC, 1, 0, UINT64_MAX, 0);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "18446744073709551615", NULL);
}

static void test_section_max_length(void **state)
{
	uint8_t p[256];

	fill(p, sizeof(p), 3);
	raw_header(&good_header);
	raw_section(STREAM_SEC_CLOCK, 1, 0, p, sizeof(p));
	raw_end();
	start_sections();
	next_is(STREAM_SEC_CLOCK, 0, 256);
	read_into(p, sizeof(p));
	assert_int_equal(stream_next_section(&r, &sec), 0);
}

static void test_section_header_crc(void **state)
{
	for (size_t byte = 0; byte < SEC_BYTES; byte++) {
		m.len = 0;
		raw_header(&good_header);
		raw_section(STREAM_SEC_CONFIG, 1, 0, "abcd", 4);
		m.buf[HDR_BYTES + byte] ^= 0x40;
		start_sections();
		assert_err(stream_next_section(&r, &sec), -EBADMSG, "section header at offset 36",
			   "CRC mismatch");
	}
}

static void test_end_marker_bad(void **state)
{
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_END, 1, 5, 0, 0);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "end marker", "instance 5");

	m.len = 0;
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_END, 1, 0, 0, 0x1234);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "'end'", "payload CRC mismatch");
}

/* ---- reader: payloads ---- */

static void test_payload_crc(void **state)
{
	uint8_t p[64];

	/* A flipped payload byte. */
	fill(p, sizeof(p), 1);
	raw_header(&good_header);
	raw_section(STREAM_SEC_VCPU, 1, 2, p, sizeof(p));
	m.buf[m.len - 10] ^= 1;
	start_sections();
	next_is(STREAM_SEC_VCPU, 2, sizeof(p));
	/* Not noticed until the last byte is in. */
	read_into(p, 63);
	assert_err(stream_read_payload(&r, p, 1), -EBADMSG,
		   "section 'vcpu' instance 2: payload CRC mismatch (corrupt)", NULL);

	/* A flipped CRC field, header CRC made to match. */
	m.len = 0;
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_DEVICE, 1, 9, sizeof(p), crc(p, sizeof(p)) ^ 0x100);
	mem_append(p, sizeof(p));
	start_sections();
	next_is(STREAM_SEC_DEVICE, 9, sizeof(p));
	assert_err(stream_read_payload(&r, p, sizeof(p)), -EBADMSG, "'device' instance 9",
		   "payload CRC mismatch");

	/* An empty payload whose CRC is not that of nothing. */
	m.len = 0;
	raw_header(&good_header);
	raw_section_crc(STREAM_SEC_CLOCK, 1, 0, 0, 1);
	start_sections();
	assert_err(stream_next_section(&r, &sec), -EBADMSG, "'clock'", "payload CRC mismatch");
}

/*
 * Reads a whole stream the way a restore does; the first error, or 0 at the
 * end marker. Payloads alternate between alloc and piecewise reads.
 */
static int read_all(void)
{
	uint8_t buf[64];
	int ret, n = 0;
	size_t len;
	void *p;

	ret = read_header();
	while (!ret) {
		ret = stream_next_section(&r, &sec);
		if (ret <= 0)
			return ret;
		if (n++ % 2) {
			ret = stream_read_payload_alloc(&r, &p, &len);
			free(p);
			continue;
		}
		ret = 0;
		while (!ret && r.payload_left) {
			len = r.payload_left < 5 ? (size_t)r.payload_left : 5;
			ret = stream_read_payload(&r, buf, len);
		}
	}
	return ret;
}

/* A stream cut at every possible byte is refused, and called truncated. */
static void test_truncation(void **state)
{
	uint8_t p[40];
	size_t full;

	fill(p, sizeof(p), 2);
	raw_header(&good_header);
	raw_section(STREAM_SEC_CONFIG, 1, 0, p, 13);
	raw_section(STREAM_SEC_VCPU, 1, 0, NULL, 0);
	raw_section(STREAM_SEC_VCPU, 1, 1, p, sizeof(p));
	raw_section(STREAM_SEC_DEVICE, 1, 0, p + 1, 21);
	raw_end();
	full = m.len;
	reader_start();
	assert_int_equal(read_all(), 0);

	for (size_t cut = 0; cut < full; cut++) {
		m.len = cut;
		reader_start();
		assert_err(read_all(), -EBADMSG, "truncated", NULL);
		assert_int_equal(r.offset, cut);
	}
	/* The numbers in a mid-payload cut. */
	m.len = HDR_BYTES + SEC_BYTES + 10;
	reader_start();
	assert_err(read_all(), -EBADMSG,
		   "truncated: section 'config' ends at offset 70, 3 bytes missing", NULL);
	m.len = HDR_BYTES + 5;
	reader_start();
	assert_err(read_all(), -EBADMSG, "section header ends at offset 41, 19 bytes missing", NULL);
	m.len = 20;
	reader_start();
	assert_err(read_all(), -EBADMSG, "header ends at offset 20, 16 bytes missing", NULL);
}

static void test_unread_payload(void **state)
{
	uint8_t p[10];

	raw_header(&good_header);
	raw_section(STREAM_SEC_ITS, 1, 0, "0123456789", 10);
	raw_end();
	start_sections();
	next_is(STREAM_SEC_ITS, 0, 10);
	assert_err(stream_next_section(&r, &sec), -EINVAL, "'its'", "10 unread");
	read_into(p, 4);
	assert_err(stream_next_section(&r, &sec), -EINVAL, "6 unread", NULL);
	/* The refusal consumed nothing: the rest still reads, and the CRC matches. */
	read_into(p + 4, 6);
	assert_memory_equal(p, "0123456789", 10);
	assert_int_equal(stream_next_section(&r, &sec), 0);
}

static void test_read_past_section(void **state)
{
	uint8_t p[16];

	raw_header(&good_header);
	raw_section(STREAM_SEC_ITS, 1, 0, "0123456789", 10);
	raw_end();
	start_sections();
	assert_err(stream_read_payload(&r, p, 1), -EINVAL, "before any section", NULL);
	next_is(STREAM_SEC_ITS, 0, 10);
	assert_err(stream_read_payload(&r, p, 11), -EINVAL, "reading 11 bytes of section 'its'",
		   "only 10 left");
	read_into(p, 7);
	assert_err(stream_read_payload(&r, p, 4), -EINVAL, "only 3 left", NULL);
	assert_int_equal(m.pos, HDR_BYTES + SEC_BYTES + 7);
	read_into(p, 3);
	assert_err(stream_read_payload(&r, p, 1), -EINVAL, "only 0 left", NULL);
	assert_int_equal(stream_next_section(&r, &sec), 0);
}

static void test_read_error(void **state)
{
	write_stream();
	reader_start();
	m.fail_at = 10;
	m.read_max = 4;
	assert_err(read_header(), -EIO, "reading the header at offset 12", "Input/output error");

	m.fail_at = 0;
	start_sections();
	next_is(STREAM_SEC_CONFIG, 0, sizeof(config));
	m.fail_at = m.pos + 48;
	assert_err(stream_read_payload(&r, config, sizeof(config)), -EIO,
		   "reading section 'config' at offset 108", "Input/output error");
}

/* ---- zero-page runs ---- */

static int zero_decode(uint64_t off, uint64_t n, uint64_t ram, uint64_t *got_off,
		       uint64_t *got_n)
{
	uint8_t buf[STREAM_RAM_ZERO_BYTES];
	char err[128];

	stream_ram_zero_encode(buf, off, n);
	return stream_ram_zero_decode(buf, ram, PAGE, got_off, got_n, err, sizeof(err));
}

static void test_ram_zero(void **state)
{
	const uint64_t ram = 16 * PAGE;
	uint8_t buf[STREAM_RAM_ZERO_BYTES];
	uint64_t off, n;

	(void)state;
	stream_ram_zero_encode(buf, 0x0102030405060708ULL, 0x1112131415161718ULL);
	assert_int_equal(buf[0], 0x08);		/* little-endian on the wire */
	assert_int_equal(buf[8], 0x18);
	assert_int_equal(zero_decode(2 * PAGE, 3, ram, &off, &n), 0);
	assert_int_equal(off, 2 * PAGE);
	assert_int_equal(n, 3);
	/* The whole of RAM, and the last page alone. */
	assert_int_equal(zero_decode(0, 16, ram, &off, &n), 0);
	assert_int_equal(zero_decode(15 * PAGE, 1, ram, &off, &n), 0);
	/* Past the end, by one page or by wrapping. */
	assert_int_equal(zero_decode(15 * PAGE, 2, ram, &off, &n), -EBADMSG);
	assert_int_equal(zero_decode(16 * PAGE, 1, ram, &off, &n), -EBADMSG);
	assert_int_equal(zero_decode(PAGE, UINT64_MAX, ram, &off, &n), -EBADMSG);
	assert_int_equal(zero_decode(UINT64_MAX - PAGE + 1, 1, ram, &off, &n), -EBADMSG);
	/* Not page-aligned, or empty. */
	assert_int_equal(zero_decode(PAGE + 8, 1, ram, &off, &n), -EBADMSG);
	assert_int_equal(zero_decode(PAGE, 0, ram, &off, &n), -EBADMSG);
}

/* A RAM section's offset and pages (what the snapshot loader checks). */
static void test_ram_check(void **state)
{
	const uint64_t ram = 16 * PAGE;
	char err[128] = "";

	(void)state;
	assert_int_equal(stream_ram_check(0, 16 * PAGE, ram, PAGE, err, sizeof(err)), 0);
	assert_int_equal(stream_ram_check(15 * PAGE, PAGE, ram, PAGE, err, sizeof(err)), 0);
	/* No pages after the offset: nothing to load, nothing wrong. */
	assert_int_equal(stream_ram_check(16 * PAGE, 0, ram, PAGE, err, sizeof(err)), 0);
	/* Past the end, by a page or by wrapping; not whole pages. */
	assert_int_equal(stream_ram_check(15 * PAGE, 2 * PAGE, ram, PAGE, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "does not fit"));
	assert_int_equal(stream_ram_check(UINT64_MAX - PAGE + 1, PAGE, ram, PAGE, err,
					  sizeof(err)), -EBADMSG);
	assert_int_equal(stream_ram_check(PAGE, UINT64_MAX - PAGE + 1, ram, PAGE, err,
					  sizeof(err)), -EBADMSG);
	assert_int_equal(stream_ram_check(PAGE + 8, PAGE, ram, PAGE, err, sizeof(err)), -EBADMSG);
	assert_int_equal(stream_ram_check(PAGE, PAGE + 1, ram, PAGE, err, sizeof(err)), -EBADMSG);
}

/* ---- coalescing and read-ahead (sockets) ---- */

static uint64_t writev_calls;

static ssize_t counting_writev(void *opaque, const struct iovec *iov, int iovcnt)
{
	writev_calls++;
	return mem_writev(opaque, iov, iovcnt);
}

/* write_stream's sections through a buffer of @len bytes; the bytes on the
 * wire are those of the unbuffered writer. */
static void buffered_write_stream(size_t len, uint8_t *wbuf, int eintr)
{
	uint8_t *plain;
	size_t plain_len;

	m.len = 0;
	write_stream();
	plain = malloc(m.len);
	assert_non_null(plain);
	memcpy(plain, m.buf, m.len);
	plain_len = m.len;
	m.len = 0;
	m.eintr = eintr;

	writev_calls = 0;
	stream_writer_init(&w, counting_writev, &m);
	stream_writer_set_buffer(&w, wbuf, len);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	write_one(STREAM_SEC_CONFIG, 0, config, sizeof(config));
	/* Buffered, not written, yet counted. */
	assert_int_equal(m.len, 0);
	assert_int_equal(w.offset, HDR_BYTES + SEC_BYTES + sizeof(config));
	{
		uint8_t off[8];
		struct iovec ram[] = {
			{ off, sizeof(off) }, { page_a, PAGE }, { page_b, PAGE }, { NULL, 0 },
			{ page_c, PAGE },
		};

		put_le(off, ram_offset, 8);
		assert_int_equal(stream_write_section(&w, STREAM_SEC_RAM, 1, 0, ram, 5), 0);
	}
	assert_int_equal(stream_write_section(&w, STREAM_SEC_VCPU, 1, 0, NULL, 0), 0);
	write_one(STREAM_SEC_DEVICE, 2, dev, sizeof(dev));
	write_one(STREAM_SEC_CLOCK, 0, clk, sizeof(clk));
	assert_int_equal(stream_write_end(&w), 0);
	/* END flushed everything. */
	assert_int_equal(w.buf_used, 0);
	assert_int_equal(w.offset, m.len);
	assert_int_equal(m.len, plain_len);
	assert_memory_equal(m.buf, plain, plain_len);
	assert_int_equal(w.writes, writev_calls - (uint64_t)eintr);	/* EINTR wrote nothing */
	free(plain);
}

/* A buffer that takes everything: one write. One smaller than the RAM
 * section: the buffered sections go out with it in one writev, the rest
 * at END. */
static void test_write_buffered(void **state)
{
	static uint8_t wbuf[64 << 10];

	buffered_write_stream(sizeof(wbuf), wbuf, 0);
	assert_int_equal(writev_calls, 1);
	reader_start();
	read_stream();

	buffered_write_stream(2 * PAGE, wbuf, 0);
	assert_int_equal(writev_calls, 2);
	reader_start();
	read_stream();
}

/* Short writes and EINTR, with buffered bytes in front of a section. */
static void test_write_buffered_short(void **state)
{
	static uint8_t wbuf[2 * PAGE];

	m.write_max = 7;
	buffered_write_stream(sizeof(wbuf), wbuf, 3);
	assert_int_equal(m.eintr, 0);
	reader_start();
	read_stream();
}

static void test_flush(void **state)
{
	static uint8_t wbuf[PAGE];

	stream_writer_init(&w, mem_writev, &m);
	stream_writer_set_buffer(&w, wbuf, sizeof(wbuf));
	assert_int_equal(stream_flush(&w), 0);	/* nothing to write */
	assert_int_equal(w.writes, 0);
	assert_int_equal(stream_write_header(&w, &hdr), 0);
	assert_int_equal(m.len, 0);
	assert_int_equal(stream_flush(&w), 0);
	assert_int_equal(m.len, HDR_BYTES);
	assert_int_equal(w.offset, HDR_BYTES);
	assert_int_equal(w.writes, 1);
	/* A failing flush says so. */
	write_one(STREAM_SEC_CLOCK, 0, clk, sizeof(clk));
	m.space = m.len;
	assert_werr(stream_flush(&w), -ENOSPC, "writing the stream", "offset");
}

/* Read-ahead: the same stream read through a small buffer, in fewer reads;
 * a payload at least as large as the buffer still lands in the caller's
 * memory directly. */
static void test_read_buffered(void **state)
{
	static uint8_t rbuf[1000];
	uint64_t plain_reads;

	write_stream();
	reader_start();
	read_stream();
	plain_reads = r.reads;

	reader_start();
	stream_reader_set_buffer(&r, rbuf, sizeof(rbuf));
	read_stream();
	assert_true(r.reads < plain_reads);
	assert_int_equal(m.largest_read, 3 * PAGE + 8);	/* the RAM payload, direct */

	/* Byte by byte from the source, and EINTR. */
	m.read_max = 1;
	m.eintr = 2;
	reader_start();
	stream_reader_set_buffer(&r, rbuf, sizeof(rbuf));
	read_stream();
	assert_int_equal(m.eintr, 0);
}

static unsigned int needed_reads;
static size_t needed_largest;

/* As a set_read_needed function: counts what comes through it. */
static ssize_t needed_read(void *opaque, void *buf, size_t len)
{
	needed_reads++;
	assert_true(len <= r.payload_left);	/* never past the section */
	if (len > needed_largest)
		needed_largest = len;
	return mem_read(opaque, buf, len);
}

/* Only the reads that go straight to their destination, each for what the
 * section still holds, use the read_needed function; the buffer's refills
 * and a reader without a buffer do not. */
static void test_read_needed(void **state)
{
	static uint8_t rbuf[1000];

	write_stream();
	needed_reads = 0;
	reader_start();
	stream_reader_set_read_needed(&r, needed_read);
	read_stream();
	assert_int_equal(needed_reads, 0);

	reader_start();
	stream_reader_set_buffer(&r, rbuf, sizeof(rbuf));
	stream_reader_set_read_needed(&r, needed_read);
	read_stream();
	/* The RAM payload and the device's piece of 1998 bytes are the reads
	 * of the buffer's size or more; what the buffer held came first. */
	assert_int_equal(needed_reads, 2);
	assert_true(needed_largest <= 3 * PAGE + 8);
	assert_true(needed_largest >= sizeof(rbuf));

	/* Short reads from the peer: the rest of the payload is asked again. */
	needed_reads = 0;
	m.read_max = 700;
	reader_start();
	stream_reader_set_buffer(&r, rbuf, sizeof(rbuf));
	stream_reader_set_read_needed(&r, needed_read);
	read_stream();
	assert_true(needed_reads > 1);
}

/* A truncated stream is still reported as such through the buffer. */
static void test_read_buffered_truncated(void **state)
{
	static uint8_t rbuf[PAGE];
	uint8_t buf[3 * PAGE + 8];

	write_stream();
	m.len = HDR_BYTES + 2 * SEC_BYTES + sizeof(config) + 100;
	reader_start();
	stream_reader_set_buffer(&r, rbuf, sizeof(rbuf));
	assert_int_equal(read_header(), 0);
	next_is(STREAM_SEC_CONFIG, 0, sizeof(config));
	read_into(buf, sizeof(config));
	next_is(STREAM_SEC_RAM, 0, 8 + 3 * PAGE);
	assert_true(stream_read_payload(&r, buf, sizeof(buf)) < 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rules),
		T(test_wire_layout),
		T(test_round_trip),
		T(test_read_byte_by_byte),
		T(test_read_eintr),
		T(test_read_large_direct),
		T(test_read_needed),
		T(test_short_writes),
		T(test_many_iovecs),
		T(test_alloc_rest),
		T(test_fd_adapters),
		T(test_write_enospc),
		T(test_write_refuses),
		T(test_bad_magic),
		T(test_bad_version),
		T(test_wrong_arch),
		T(test_wrong_page_size),
		T(test_header_crc),
		T(test_header_reserved),
		T(test_unknown_features),
		T(test_unknown_type),
		T(test_section_version),
		T(test_section_too_long),
		T(test_section_max_length),
		T(test_section_header_crc),
		T(test_end_marker_bad),
		T(test_payload_crc),
		T(test_truncation),
		T(test_unread_payload),
		T(test_read_past_section),
		T(test_read_error),
		T(test_ram_zero),
		T(test_ram_check),
		T(test_write_buffered),
		T(test_write_buffered_short),
		T(test_flush),
		T(test_read_buffered),
		T(test_read_buffered_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
