// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the snapshot stream reader: the input is the stream.
 * The reader reads the header (4 KiB pages) and then sections until the end
 * marker or an error, taking each payload with stream_read_payload_alloc().
 *
 * Each input is read twice:
 *   - as it is, which mostly exercises the header and CRC refusals;
 *   - with its framing repaired: magic set, and the CRCs made right, so that
 *     mutations get past the first CRC and reach the rules behind it. So
 *     that mismatches stay reachable, a section whose instance is odd keeps
 *     its payload CRC, and one whose instance ends in binary 11 keeps its
 *     header CRC too.
 *
 * The input reaches the reader in short reads of varying size, a function of
 * the position only (deterministic). Besides the sanitizers, it checks that
 * the reader never claims more than the input holds, that accepted sections
 * obey their rules, and that every error comes with a message.
 *
 * Each payload read whole then goes to the pure checks the snapshot loader
 * and a migration destination apply to it (against 1 GiB of RAM): a RAM
 * section's offset and pages (stream_ram_check), a RAM_ZERO or RAM_MISSING
 * run (stream_ram_zero_decode), the POSTCOPY parameters, and the ITS state
 * (its_state_decode, then its_restore's register sequence into a recorder:
 * only a state the checks accept is written, CTLR last). What is accepted
 * must lie inside RAM in whole pages. (CONFIG and CLOCK are checked
 * against KVM and the host as they load: not here; CLOCK is three fixed
 * numbers. VCPU and GIC payloads have their own target, fuzz_machine_state,
 * DEVICE payloads fuzz_device_state.)
 *
 * Seeds: tests/fuzz/corpus/stream/, a snapshot taken in the lab, trimmed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "migration/its.h"
#include "migration/le.h"
#include "migration/postcopy_proto.h"
#include "migration/state.h"
#include "migration/stream.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAGE		4096
#define HDR_BYTES	36
#define SEC_BYTES	24
#define MAX_SECTIONS	256
#define RAM_SIZE	(1ULL << 30)

struct input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static ssize_t input_read(void *opaque, void *buf, size_t len)
{
	struct input *in = opaque;
	/* Short reads from 1 to 61 bytes, then whatever was asked. */
	size_t n = in->pos < 4096 ? 1 + (in->pos * 7) % 61 : len;

	if (n > len)
		n = len;
	if (n > in->size - in->pos)
		n = in->size - in->pos;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return (ssize_t)n;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(0, p, (uInt)n);
}

/* Makes the magic and the CRCs of @buf right, as far as they fit. */
static void repair(uint8_t *buf, size_t size)
{
	size_t pos = HDR_BYTES;

	if (size < HDR_BYTES)
		return;
	memcpy(buf, STREAM_MAGIC, 8);
	put_le(buf + 32, crc(buf, 32), 4);
	while (size - pos >= SEC_BYTES) {
		uint8_t *s = buf + pos;
		uint64_t len = get_le(s + 8, 8);
		uint32_t instance = (uint32_t)get_le(s + 4, 4);
		bool complete = len <= size - pos - SEC_BYTES;

		if (complete && !(instance & 1))
			put_le(s + 16, len ? crc(s + SEC_BYTES, len) : 0, 4);
		if ((instance & 3) != 3)
			put_le(s + 20, crc(s, 20), 4);
		if (!complete)
			return;
		pos += SEC_BYTES + len;
	}
}

static void check_section(const struct stream_reader *r, const struct stream_section *s)
{
	const struct stream_section_rule *rule = stream_section_rule(s->type);

	check(rule);
	check(s->version >= 1 && s->version <= rule->version);
	check(s->length <= rule->max_length);
	check(r->payload_left == s->length);
}

/* its_restore's register writes, in order. */
struct its_recorder {
	unsigned int n;
	uint32_t off[16];
	bool tables;
};

static int rec_set(void *ctx, uint32_t off, uint64_t val)
{
	struct its_recorder *rec = ctx;

	check(rec->n < 16);
	rec->off[rec->n++] = off;
	return 0;
}

static int rec_tables(void *ctx)
{
	((struct its_recorder *)ctx)->tables = true;
	return 0;
}

static void check_its(const void *p, size_t len)
{
	struct its_recorder rec = { 0 };
	const struct its_ops ops = { .set_reg = rec_set, .restore_tables = rec_tables,
				     .ctx = &rec };
	struct state_reader r;
	struct its_state st;
	char err[256] = "";

	sr_init(&r, p, len);
	if (its_state_decode(&st, &r)) {
		check(r.err && r.msg[0]);
		return;
	}
	check(!its_state_check(&st));
	check(its_restore(&ops, &st, err, sizeof(err)) == 0);
	check(rec.tables && rec.n == 5 + GITS_NR_BASER && rec.off[0] == GITS_IIDR &&
	      rec.off[rec.n - 1] == GITS_CTLR);
}

static void check_run(const uint8_t *p, size_t len)
{
	uint64_t off, n;
	char err[256] = "";

	if (len != STREAM_RAM_ZERO_BYTES)
		return;
	if (stream_ram_zero_decode(p, RAM_SIZE, PAGE, &off, &n, err, sizeof(err))) {
		check(err[0]);
		return;
	}
	check(n && off % PAGE == 0 && off < RAM_SIZE && n <= (RAM_SIZE - off) / PAGE);
}

static void check_payload(const struct stream_section *s, const uint8_t *p, size_t len)
{
	char err[256] = "";
	struct pc_params params;

	switch (s->type) {
	case STREAM_SEC_RAM:
		if (len < 8)
			break;
		if (stream_ram_check(get_le(p, 8), len - 8, RAM_SIZE, PAGE, err, sizeof(err)))
			check(err[0]);
		else
			check(get_le(p, 8) % PAGE == 0 && (len - 8) % PAGE == 0 &&
			      get_le(p, 8) + (len - 8) <= RAM_SIZE);
		break;
	case STREAM_SEC_RAM_ZERO:
	case STREAM_SEC_RAM_MISSING:
		check_run(p, len);
		break;
	case STREAM_SEC_POSTCOPY:
		if (len == PC_PARAMS_BYTES && pc_params_decode(p, &params, err, sizeof(err)))
			check(err[0]);
		break;
	case STREAM_SEC_ITS:
		check_its(p, len);
		break;
	default:
		break;
	}
}

/* What a read of the whole input came to: it must not depend on the
 * reader's read-ahead buffer. */
struct outcome {
	int ret, sections;
	uint64_t offset;
	uint32_t crc;		/* of every payload read */
};

/* @rbuf_len: 0 reads unbuffered, else through a read-ahead buffer of that
 * many bytes (stream_reader_set_buffer, as a migration destination does). */
static struct outcome read_stream(const uint8_t *data, size_t size, size_t rbuf_len)
{
	struct input in = { .data = data, .size = size };
	struct outcome o = { 0 };
	struct stream_reader r;
	struct stream_header h;
	struct stream_section s;
	uint8_t *rbuf = rbuf_len ? malloc(rbuf_len) : NULL;
	int ret, n = 0;
	size_t len;
	void *p;

	stream_reader_init(&r, input_read, &in);
	if (rbuf)
		stream_reader_set_buffer(&r, rbuf, rbuf_len);
	ret = stream_read_header(&r, &h, PAGE);
	if (!ret)
		check(h.version == STREAM_VERSION && h.page_size == PAGE &&
		      !(h.features & ~STREAM_F_KNOWN));
	while (!ret && n++ < MAX_SECTIONS) {
		ret = stream_next_section(&r, &s);
		if (ret <= 0)
			break;
		o.sections++;
		check_section(&r, &s);
		ret = stream_read_payload_alloc(&r, &p, &len);
		if (!ret) {
			check(p && len == s.length && !r.payload_left);
			/* Touch every byte: the buffer is exactly as long as it says. */
			check(!len || crc(p, len) == s.crc);
			check_payload(&s, p, len);
			if (len)
				o.crc = (uint32_t)crc32(o.crc, p, (uInt)len);
		}
		free(p);
	}
	/* Read-ahead may take more from the input than the reader consumed. */
	check(rbuf ? r.offset <= in.pos : r.offset == in.pos);
	check(in.pos <= size);
	check(ret >= 0 || r.err[0]);
	free(rbuf);
	o.ret = ret;
	o.offset = r.offset;
	return o;
}

/* The input read unbuffered and through a read-ahead buffer (its size from
 * the input's length, so small and odd sizes are tried): the same outcome. */
static void read_both_ways(const uint8_t *data, size_t size)
{
	struct outcome plain = read_stream(data, size, 0);
	struct outcome ahead = read_stream(data, size, 1 + size % 8191);

	check(plain.ret == ahead.ret && plain.sections == ahead.sections &&
	      plain.offset == ahead.offset && plain.crc == ahead.crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	read_both_ways(data, size);
	fixed = malloc(size ? size : 1);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	repair(fixed, size);
	read_both_ways(fixed, size);
	free(fixed);
	return 0;
}
