// SPDX-License-Identifier: GPL-2.0-only
/*
 * The snapshot/migration stream: framing only (docs/stream-format.md). What
 * goes inside a section is the business of whoever writes it.
 *
 * Every field is encoded and decoded byte by byte, little-endian, so neither
 * struct layout nor host byte order reaches the wire. The reader trusts
 * nothing it reads: a length is checked against its section's rule before a
 * single payload byte is read or allocated, and every refusal leaves a
 * sentence in r->err that names the section, the offset and the values.
 *
 * After an error the reader or writer is not usable any more: how much of
 * the stream went through is only what ->offset says.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zlib.h>

#include "migration/le.h"
#include "migration/stream.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Wire sizes (docs/stream-format.md has the byte tables). */
#define HEADER_BYTES		36
#define HEADER_CRC_AT		32
#define SECTION_BYTES		24
#define SECTION_CRC_AT		20

/*
 * One read or writev call moves at most this much: well below SSIZE_MAX on
 * any host, and large enough that a 64 MiB RAM chunk takes a few calls.
 */
#define IO_CHUNK_MAX		(1UL << 30)

#define KiB			1024ULL
#define MiB			(1024 * KiB)

static const struct stream_section_rule rules[] = {
	{ STREAM_SEC_CONFIG, "config", 1, 64 * KiB },
	{ STREAM_SEC_RAM,    "ram",    1, 8 + STREAM_RAM_CHUNK_MAX },
	{ STREAM_SEC_VCPU,   "vcpu",   1, 1 * MiB },
	{ STREAM_SEC_GIC,    "gic",    1, 16 * MiB },
	{ STREAM_SEC_ITS,    "its",    1, 4 * KiB },
	/* A firmware's variable store (devices/cfi_flash.c) is device state:
	 * up to 64 MiB of flash as 4 KiB pages, each with a kind byte. */
	{ STREAM_SEC_DEVICE, "device", 1, 65 * MiB },
	{ STREAM_SEC_CLOCK,  "clock",  1, 256 },
	{ STREAM_SEC_RAM_ZERO, "ram-zero", 1, STREAM_RAM_ZERO_BYTES },
	{ STREAM_SEC_RAM_MISSING, "ram-missing", 1, STREAM_RAM_ZERO_BYTES },
	{ STREAM_SEC_POSTCOPY, "postcopy", 1, STREAM_POSTCOPY_BYTES },
	{ STREAM_SEC_SYNC,   "sync",   1, 0 },
	{ STREAM_SEC_END,    "end",    1, 0 },
};

const struct stream_section_rule *stream_section_rule(uint16_t type)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].type == type)
			return &rules[i];
	return NULL;
}

/* ---- helpers ---- */

/*
 * zlib's crc32() takes a 32-bit length, and treats a NULL buffer as "give
 * me the initial value", which would throw the running CRC away: feed it in
 * bounded pieces and never with an empty one.
 */
static uint32_t crc_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		size_t n = len < IO_CHUNK_MAX ? len : IO_CHUNK_MAX;

		crc = (uint32_t)crc32(crc, p, (uInt)n);
		p += n;
		len -= n;
	}
	return crc;
}

static const char *err_text(int err, char *buf, size_t len)
{
	/* The GNU strerror_r: thread-safe, may return a static string. */
	return strerror_r(-err, buf, len);
}

static int set_err(char *msg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fills the caller's STREAM_ERR_MAX message buffer; returns @err. */
static int set_err(char *msg, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, STREAM_ERR_MAX, fmt, ap);
	va_end(ap);
	return err;
}

/* What a callback's failure means as -errno: -1 with errno set, else -EIO. */
static int callback_errno(ssize_t ret)
{
	if (ret == -1 && errno > 0)
		return -errno;
	return -EIO;
}

static const char *type_name(uint16_t type)
{
	const struct stream_section_rule *rule = stream_section_rule(type);

	return rule ? rule->name : "?";
}

/* ---- fd adapters ---- */

ssize_t stream_fd_read(void *opaque, void *buf, size_t len)
{
	return read((int)(intptr_t)opaque, buf, len);
}

ssize_t stream_fd_recv_needed(void *opaque, void *buf, size_t len)
{
	return recv((int)(intptr_t)opaque, buf, len, MSG_WAITALL);
}

ssize_t stream_fd_writev(void *opaque, const struct iovec *iov, int iovcnt)
{
	return writev((int)(intptr_t)opaque, iov, iovcnt);
}

/* ---- writer ---- */

void stream_writer_init(struct stream_writer *w, stream_writev_fn fn, void *opaque)
{
	*w = (struct stream_writer){ .writev = fn, .opaque = opaque };
}

/*
 * Where a write stands: first the bytes buffered before (@pending, already
 * counted in the writer's offset), then the framing bytes in @head, then
 * the caller's payload iovecs. The caller's array is never modified; short
 * writes are resumed from (idx, skip).
 */
struct out_walk {
	struct iovec pending;
	struct iovec head;
	const struct iovec *iov;
	int cnt;
	int idx;			/* -2 in @pending, -1 in @head */
	size_t skip;			/* bytes of entry @idx already written */
};

static const struct iovec *walk_entry(const struct out_walk *o, int idx)
{
	return idx == -2 ? &o->pending : idx == -1 ? &o->head : &o->iov[idx];
}

/* The next writev's worth of @o: at most IOV_MAX entries, IO_CHUNK_MAX bytes. */
static int walk_window(const struct out_walk *o, struct iovec *win, size_t *bytes)
{
	size_t skip = o->skip, total = 0;
	int n = 0;

	for (int i = o->idx; i < o->cnt && n < IOV_MAX && total < IO_CHUNK_MAX; i++) {
		const struct iovec *e = walk_entry(o, i);
		size_t len = e->iov_len - skip;

		if (len > IO_CHUNK_MAX - total)
			len = IO_CHUNK_MAX - total;
		if (len) {
			win[n].iov_base = (uint8_t *)e->iov_base + skip;
			win[n].iov_len = len;
			total += len;
			n++;
		}
		skip = 0;
	}
	*bytes = total;
	return n;
}

static void walk_advance(struct out_walk *o, size_t done)
{
	while (done) {
		size_t left = walk_entry(o, o->idx)->iov_len - o->skip;

		if (done < left) {
			o->skip += done;
			return;
		}
		done -= left;
		o->idx++;
		o->skip = 0;
	}
}

/* Writes all of @o, retrying short writes and EINTR. 0 or -errno. */
static int write_all(struct stream_writer *w, struct out_walk *o)
{
	size_t counted = o->pending.iov_len;	/* in w->offset already */
	struct iovec win[IOV_MAX];
	size_t bytes, was;
	ssize_t ret;
	int n;

	while ((n = walk_window(o, win, &bytes)) > 0) {
		ret = w->writev(w->opaque, win, n);
		if (ret == -1 && errno == EINTR)
			continue;
		if (ret < 0)
			return callback_errno(ret);
		/* Nothing written, or more than asked: the callback is broken. */
		if (ret == 0 || (size_t)ret > bytes)
			return -EIO;
		walk_advance(o, (size_t)ret);
		was = (size_t)ret < counted ? (size_t)ret : counted;
		counted -= was;
		w->offset += (uint64_t)ret - was;
		w->writes++;
	}
	return 0;
}

void stream_writer_set_buffer(struct stream_writer *w, uint8_t *buf, size_t len)
{
	w->buf = buf;
	w->buf_len = buf ? len : 0;
	w->buf_used = 0;
}

/* Copies @o's head and payload (@len bytes in all) after what is buffered. */
static void buffer_append(struct stream_writer *w, const struct out_walk *o, size_t len)
{
	for (int i = -1; i < o->cnt; i++) {
		const struct iovec *e = walk_entry(o, i);

		if (e->iov_len)
			memcpy(w->buf + w->buf_used, e->iov_base, e->iov_len);
		w->buf_used += e->iov_len;
	}
	w->offset += len;
}

/* @o (no pending part yet): into the buffer if it fits, else written at
 * once after what the buffer holds. */
static int emit(struct stream_writer *w, struct out_walk *o, uint64_t len)
{
	int ret;

	if (w->buf && len <= w->buf_len - w->buf_used) {
		buffer_append(w, o, (size_t)len);
		return 0;
	}
	o->pending = (struct iovec){ .iov_base = w->buf, .iov_len = w->buf_used };
	o->idx = -2;
	ret = write_all(w, o);
	if (!ret)
		w->buf_used = 0;
	return ret;
}

static int write_bytes(struct stream_writer *w, const uint8_t *buf, size_t len)
{
	struct out_walk o = {
		.head = { .iov_base = (void *)buf, .iov_len = len },
		.idx = -1,
	};

	return emit(w, &o, len);
}

int stream_flush(struct stream_writer *w)
{
	struct out_walk o = { .idx = -1 };
	char why[64];
	int ret;

	if (!w->buf_used)
		return 0;
	ret = emit(w, &o, UINT64_MAX);
	if (ret)
		return set_err(w->err, ret, "writing the stream up to offset %llu: %s",
			       (unsigned long long)w->offset, err_text(ret, why, sizeof(why)));
	return 0;
}

int stream_write_header(struct stream_writer *w, const struct stream_header *h)
{
	uint8_t b[HEADER_BYTES];
	uint64_t start = w->offset;
	char why[64];
	int ret;

	/* Refuse to write what no reader would accept. */
	if (h->version != STREAM_VERSION)
		return set_err(w->err, -EINVAL, "header not written: version %u, this tern writes version %u",
			       h->version, STREAM_VERSION);
	if (h->features & ~STREAM_F_KNOWN)
		return set_err(w->err, -EINVAL, "header not written: unknown feature bits %#llx",
			       (unsigned long long)(h->features & ~STREAM_F_KNOWN));
	memcpy(b, STREAM_MAGIC, 8);
	put_le(b + 8, h->version, 4);
	put_le(b + 12, h->arch, 4);
	put_le(b + 16, h->page_size, 4);
	put_le(b + 20, 0, 4);
	put_le(b + 24, h->features, 8);
	put_le(b + HEADER_CRC_AT, crc_update(0, b, HEADER_CRC_AT), 4);
	ret = write_bytes(w, b, sizeof(b));
	if (ret)
		return set_err(w->err, ret, "writing the header at offset %llu: %s",
			       (unsigned long long)start, err_text(ret, why, sizeof(why)));
	return 0;
}

static void encode_section(uint8_t b[SECTION_BYTES], const struct stream_section *s)
{
	put_le(b + 0, s->type, 2);
	put_le(b + 2, s->version, 2);
	put_le(b + 4, s->instance, 4);
	put_le(b + 8, s->length, 8);
	put_le(b + 16, s->crc, 4);
	put_le(b + SECTION_CRC_AT, crc_update(0, b, SECTION_CRC_AT), 4);
}

/* Sums the payload; anything over @max is reported as max + 1, so it cannot wrap. */
static uint64_t iov_length(const struct iovec *iov, int iovcnt, uint64_t max)
{
	uint64_t len = 0;

	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > max - len)
			return max + 1;
		len += iov[i].iov_len;
	}
	return len;
}

static uint32_t iov_crc(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = 0;

	for (int i = 0; i < iovcnt; i++)
		crc = crc_update(crc, iov[i].iov_base, iov[i].iov_len);
	return crc;
}

/* A section the reader would refuse is a bug in the caller: catch it at save time. */
static int check_outgoing(struct stream_writer *w, const struct stream_section *s,
			  const struct stream_section_rule *rule, int iovcnt)
{
	if (!rule || s->type == STREAM_SEC_END)
		return set_err(w->err, -EINVAL, "section type %u not written: not a payload section",
			       s->type);
	if (s->version < 1 || s->version > rule->version)
		return set_err(w->err, -EINVAL,
			       "section '%s' not written: version %u, this tern writes 1 to %u",
			       rule->name, s->version, rule->version);
	if (iovcnt < 0)
		return set_err(w->err, -EINVAL, "section '%s' not written: %d iovecs", rule->name,
			       iovcnt);
	if (s->length > rule->max_length)
		return set_err(w->err, -EINVAL,
			       "section '%s' not written: %llu bytes, more than the %llu allowed",
			       rule->name, (unsigned long long)s->length,
			       (unsigned long long)rule->max_length);
	return 0;
}

int stream_write_section(struct stream_writer *w, uint16_t type, uint16_t version,
			 uint32_t instance, const struct iovec *iov, int iovcnt)
{
	const struct stream_section_rule *rule = stream_section_rule(type);
	struct stream_section s = { .type = type, .version = version, .instance = instance };
	uint8_t b[SECTION_BYTES];
	uint64_t start = w->offset;
	struct out_walk o;
	char why[64];
	int ret;

	if (iovcnt > 0)
		s.length = iov_length(iov, iovcnt, rule ? rule->max_length : 0);
	ret = check_outgoing(w, &s, rule, iovcnt);
	if (ret)
		return ret;
	s.crc = iov_crc(iov, iovcnt);
	encode_section(b, &s);
	o = (struct out_walk){
		.head = { .iov_base = b, .iov_len = sizeof(b) },
		.iov = iov,
		.cnt = iovcnt,
		.idx = -1,
	};
	ret = emit(w, &o, sizeof(b) + s.length);
	if (ret)
		return set_err(w->err, ret, "writing section '%s' at offset %llu: %s", rule->name,
			       (unsigned long long)start, err_text(ret, why, sizeof(why)));
	return 0;
}

int stream_write_end(struct stream_writer *w)
{
	const struct stream_section s = { .type = STREAM_SEC_END, .version = 1 };
	uint8_t b[SECTION_BYTES];
	uint64_t start = w->offset;
	char why[64];
	int ret;

	encode_section(b, &s);
	ret = write_bytes(w, b, sizeof(b));
	if (ret)
		return set_err(w->err, ret, "writing the end marker at offset %llu: %s",
			       (unsigned long long)start, err_text(ret, why, sizeof(why)));
	return stream_flush(w);
}

/* ---- reader ---- */

void stream_reader_init(struct stream_reader *r, stream_read_fn fn, void *opaque)
{
	*r = (struct stream_reader){ .read = fn, .opaque = opaque };
}

void stream_reader_set_buffer(struct stream_reader *r, uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->buf_len = buf ? len : 0;
	r->buf_pos = r->buf_end = 0;
}

void stream_reader_set_read_needed(struct stream_reader *r, stream_read_fn fn)
{
	r->read_needed = fn;
}

/* Up to @len bytes of what the read-ahead buffer holds into @p. */
static size_t from_buffer(struct stream_reader *r, uint8_t *p, size_t len)
{
	size_t n = r->buf_end - r->buf_pos;

	if (n > len)
		n = len;
	memcpy(p, r->buf + r->buf_pos, n);
	r->buf_pos += n;
	return n;
}

/*
 * Reads until @len bytes are in or the input ends, straight into @buf (a
 * RAM chunk lands in guest memory with no copy). *@got says how many came;
 * fewer than @len with 0 returned is end of input. 0 or -errno.
 */
static int read_full(struct stream_reader *r, void *buf, size_t len, size_t *got)
{
	uint8_t *p = buf;
	size_t done = 0;
	int err = 0;

	while (done < len) {
		size_t want = len - done < IO_CHUNK_MAX ? len - done : IO_CHUNK_MAX;
		bool refill = r->buf && want < r->buf_len;
		ssize_t n;

		if (r->buf_pos < r->buf_end) {
			n = (ssize_t)from_buffer(r, p + done, want);
			done += (size_t)n;
			r->offset += (uint64_t)n;
			continue;
		}
		if (refill)
			want = r->buf_len;
		if (refill || !r->buf || !r->read_needed)
			n = r->read(r->opaque, refill ? r->buf : p + done, want);
		else
			n = r->read_needed(r->opaque, p + done, want);
		if (n == 0)
			break;
		if (n == -1 && errno == EINTR)
			continue;
		if (n < 0 || (size_t)n > want) {
			err = n < 0 ? callback_errno(n) : -EIO;
			break;
		}
		r->reads++;
		if (refill) {
			r->buf_pos = 0;
			r->buf_end = (size_t)n;
			continue;
		}
		done += (size_t)n;
		r->offset += (uint64_t)n;
	}
	*got = done;
	return err;
}

static int check_magic(struct stream_reader *r, const uint8_t *b)
{
	if (!memcmp(b, STREAM_MAGIC, 8))
		return 0;
	return set_err(r->err, -EBADMSG,
		       "not a tern snapshot: magic %02x %02x %02x %02x %02x %02x %02x %02x, expected \"%s\"",
		       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], STREAM_MAGIC);
}

/* Lists the bit numbers set in @bits ("3, 17, 63") into @buf. */
static void bit_list(uint64_t bits, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < 64 && used < size; i++) {
		if (!(bits & (1ULL << i)))
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%u", used ? ", " : "", i);
	}
}

/*
 * The fields after magic and version, in an order that gives the most useful
 * message: corruption first (so a flipped bit is not reported as a foreign
 * host), then compatibility with this host.
 */
static int check_header(struct stream_reader *r, const uint8_t *b, const struct stream_header *h,
			uint32_t page_size)
{
	uint32_t stored = (uint32_t)get_le(b + HEADER_CRC_AT, 4);
	uint32_t crc = crc_update(0, b, HEADER_CRC_AT);
	uint32_t reserved = (uint32_t)get_le(b + 20, 4);
	char bits[STREAM_ERR_MAX / 2];

	if (stored != crc)
		return set_err(r->err, -EBADMSG,
			       "header CRC mismatch: stored %#010x, computed %#010x (corrupt)", stored,
			       crc);
	if (reserved)
		return set_err(r->err, -EBADMSG, "header reserved field is %#x, not 0 (corrupt)",
			       reserved);
	if (h->arch != STREAM_ARCH_AARCH64)
		return set_err(r->err, -ENOTSUP,
			       "snapshot is for ELF machine %u, this tern restores aarch64 (%u)",
			       h->arch, STREAM_ARCH_AARCH64);
	if (h->page_size != page_size)
		return set_err(r->err, -ENOTSUP,
			       "snapshot was taken with %u-byte pages, this host uses %u-byte pages",
			       h->page_size, page_size);
	if (h->features & ~STREAM_F_KNOWN) {
		bit_list(h->features & ~STREAM_F_KNOWN, bits, sizeof(bits));
		return set_err(r->err, -ENOTSUP,
			       "snapshot needs features this tern does not know: bit %s", bits);
	}
	return 0;
}

int stream_read_header(struct stream_reader *r, struct stream_header *h, uint32_t page_size)
{
	uint8_t b[HEADER_BYTES];
	struct stream_header got_h;
	char why[64];
	size_t got;
	int ret;

	ret = read_full(r, b, sizeof(b), &got);
	if (ret)
		return set_err(r->err, ret, "reading the header at offset %llu: %s",
			       (unsigned long long)r->offset, err_text(ret, why, sizeof(why)));
	if (got < sizeof(b))
		return set_err(r->err, -EBADMSG, "truncated: the header ends at offset %llu, %zu bytes missing",
			       (unsigned long long)r->offset, sizeof(b) - got);
	ret = check_magic(r, b);
	if (ret)
		return ret;
	got_h = (struct stream_header){
		.version = (uint32_t)get_le(b + 8, 4),
		.arch = (uint32_t)get_le(b + 12, 4),
		.page_size = (uint32_t)get_le(b + 16, 4),
		.features = get_le(b + 24, 8),
	};
	/* Before the CRC: another version may lay out the rest differently. */
	if (got_h.version != STREAM_VERSION)
		return set_err(r->err, -ENOTSUP,
			       "format version %u not supported: this tern reads version %u",
			       got_h.version, STREAM_VERSION);
	ret = check_header(r, b, &got_h, page_size);
	if (ret)
		return ret;
	*h = got_h;
	return 0;
}

static int check_section(struct stream_reader *r, const struct stream_section *s, uint64_t at)
{
	const struct stream_section_rule *rule = stream_section_rule(s->type);

	if (!rule)
		return set_err(r->err, -ENOTSUP,
			       "section type %u at offset %llu is unknown to this tern (not skipped: its state would be lost)",
			       s->type, (unsigned long long)at);
	if (!s->version)
		return set_err(r->err, -EBADMSG, "section '%s' at offset %llu has version 0 (corrupt)",
			       rule->name, (unsigned long long)at);
	if (s->version > rule->version)
		return set_err(r->err, -ENOTSUP,
			       "section '%s' version %u not supported: this tern reads up to version %u",
			       rule->name, s->version, rule->version);
	if (s->length > rule->max_length)
		return set_err(r->err, -EBADMSG,
			       "section '%s' at offset %llu is %llu bytes long, more than the %llu allowed",
			       rule->name, (unsigned long long)at, (unsigned long long)s->length,
			       (unsigned long long)rule->max_length);
	if (s->type == STREAM_SEC_END && s->instance)
		return set_err(r->err, -EBADMSG, "end marker at offset %llu has instance %u, not 0 (corrupt)",
			       (unsigned long long)at, s->instance);
	/* No payload byte will be read to trigger the check: do it now. */
	if (!s->length && s->crc)
		return set_err(r->err, -EBADMSG, "section '%s' instance %u: payload CRC mismatch (corrupt)",
			       rule->name, s->instance);
	return 0;
}

static int read_section_header(struct stream_reader *r, struct stream_section *s)
{
	uint64_t at = r->offset;
	uint8_t b[SECTION_BYTES];
	uint32_t stored, crc;
	char why[64];
	size_t got;
	int ret;

	ret = read_full(r, b, sizeof(b), &got);
	if (ret)
		return set_err(r->err, ret, "reading the section header at offset %llu: %s",
			       (unsigned long long)r->offset, err_text(ret, why, sizeof(why)));
	if (!got)
		return set_err(r->err, -EBADMSG, "truncated: the stream ends at offset %llu without an end marker",
			       (unsigned long long)at);
	if (got < sizeof(b))
		return set_err(r->err, -EBADMSG,
			       "truncated: the section header ends at offset %llu, %zu bytes missing",
			       (unsigned long long)r->offset, sizeof(b) - got);
	stored = (uint32_t)get_le(b + SECTION_CRC_AT, 4);
	crc = crc_update(0, b, SECTION_CRC_AT);
	if (stored != crc)
		return set_err(r->err, -EBADMSG,
			       "section header at offset %llu: CRC mismatch, stored %#010x, computed %#010x (corrupt)",
			       (unsigned long long)at, stored, crc);
	*s = (struct stream_section){
		.type = (uint16_t)get_le(b + 0, 2),
		.version = (uint16_t)get_le(b + 2, 2),
		.instance = (uint32_t)get_le(b + 4, 4),
		.length = get_le(b + 8, 8),
		.crc = (uint32_t)get_le(b + 16, 4),
	};
	return check_section(r, s, at);
}

int stream_next_section(struct stream_reader *r, struct stream_section *s)
{
	struct stream_section next;
	int ret;

	/* Skipping would leave the previous payload's CRC unchecked. */
	if (r->payload_left)
		return set_err(r->err, -EINVAL,
			       "section '%s' instance %u still has %llu unread payload bytes at offset %llu",
			       type_name(r->cur.type), r->cur.instance,
			       (unsigned long long)r->payload_left, (unsigned long long)r->offset);
	ret = read_section_header(r, &next);
	if (ret)
		return ret;
	r->cur = next;
	r->payload_left = next.length;
	r->crc = 0;
	*s = next;
	return next.type == STREAM_SEC_END ? 0 : 1;
}

int stream_read_payload(struct stream_reader *r, void *buf, size_t len)
{
	char why[64];
	size_t got;
	int ret;

	if (len && !stream_section_rule(r->cur.type))
		return set_err(r->err, -EINVAL, "reading %zu payload bytes before any section", len);
	if (len > r->payload_left)
		return set_err(r->err, -EINVAL,
			       "reading %zu bytes of section '%s' instance %u, which has only %llu left",
			       len, type_name(r->cur.type), r->cur.instance,
			       (unsigned long long)r->payload_left);
	if (!len)
		return 0;
	ret = read_full(r, buf, len, &got);
	r->crc = crc_update(r->crc, buf, got);
	r->payload_left -= got;
	if (ret)
		return set_err(r->err, ret, "reading section '%s' at offset %llu: %s",
			       type_name(r->cur.type), (unsigned long long)r->offset,
			       err_text(ret, why, sizeof(why)));
	if (got < len)
		return set_err(r->err, -EBADMSG,
			       "truncated: section '%s' ends at offset %llu, %llu bytes missing",
			       type_name(r->cur.type), (unsigned long long)r->offset,
			       (unsigned long long)r->payload_left);
	if (!r->payload_left && r->crc != r->cur.crc)
		return set_err(r->err, -EBADMSG, "section '%s' instance %u: payload CRC mismatch (corrupt)",
			       type_name(r->cur.type), r->cur.instance);
	return 0;
}

int stream_read_payload_alloc(struct stream_reader *r, void **buf, size_t *len)
{
	/* Bounded by the section's rule, checked when its header was read. */
	size_t n = (size_t)r->payload_left;
	void *p;
	int ret;

	*buf = NULL;
	*len = 0;
	/* Never NULL on success, even for an empty payload: callers need not care. */
	p = malloc(n ? n : 1);
	if (!p)
		return set_err(r->err, -ENOMEM, "no memory for the %zu-byte payload of section '%s'",
			       n, type_name(r->cur.type));
	ret = stream_read_payload(r, p, n);
	if (ret) {
		free(p);
		return ret;
	}
	*buf = p;
	*len = n;
	return 0;
}

/* ------------------------------------------------------------ RAM_ZERO */

void stream_ram_zero_encode(uint8_t out[STREAM_RAM_ZERO_BYTES], uint64_t offset,
			    uint64_t npages)
{
	put_le(out, offset, 8);
	put_le(out + 8, npages, 8);
}

int stream_ram_zero_decode(const uint8_t in[STREAM_RAM_ZERO_BYTES], uint64_t ram_size,
			   uint32_t page_size, uint64_t *offset, uint64_t *npages, char *err,
			   size_t errlen)
{
	uint64_t off = get_le(in, 8), n = get_le(in + 8, 8);

	/* Compared in pages, so that n * page_size cannot overflow. */
	if (!page_size || off % page_size || !n || off > ram_size ||
	    n > (ram_size - off) / page_size) {
		snprintf(err, errlen, "zero-page run at offset %#llx of %llu pages does not fit "
			 "%llu MiB of RAM in whole pages", (unsigned long long)off,
			 (unsigned long long)n, (unsigned long long)(ram_size >> 20));
		return -EBADMSG;
	}
	*offset = off;
	*npages = n;
	return 0;
}

int stream_ram_check(uint64_t offset, uint64_t len, uint64_t ram_size, uint32_t page_size,
		     char *err, size_t errlen)
{
	if (!page_size || offset % page_size || len % page_size || offset > ram_size ||
	    len > ram_size - offset) {
		snprintf(err, errlen, "RAM section at offset %#llx with %#llx bytes does not fit "
			 "%llu MiB of RAM in whole pages", (unsigned long long)offset,
			 (unsigned long long)len, (unsigned long long)(ram_size >> 20));
		return -EBADMSG;
	}
	return 0;
}
