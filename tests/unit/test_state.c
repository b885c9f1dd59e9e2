// SPDX-License-Identifier: GPL-2.0-only
/*
 * The byte encoder and decoder for saved state: every type round trips with
 * its extreme values and exact little-endian bytes, the writer grows, and the
 * reader refuses what it should (running out, strings too long, bytes left
 * over) with errors that stick and keep the first message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migration/state.h"

static struct state_writer w;
static struct state_reader r;

static int setup(void **state)
{
	sw_init(&w);
	memset(&r, 0, sizeof(r));
	return 0;
}

static int teardown(void **state)
{
	sw_free(&w);
	return 0;
}

static void reader_on_writer(void)
{
	assert_int_equal(w.err, 0);
	sr_init(&r, w.buf, w.len);
}

static void assert_fails(const char *word)
{
	assert_int_equal(r.err, -EBADMSG);
	assert_false(sr_ok(&r));
	if (!strstr(r.msg, word))
		fail_msg("message \"%s\" lacks \"%s\"", r.msg, word);
}

/* ---- round trips ---- */

static void test_integers(void **state)
{
	static const uint8_t want[] = {
		0x00, 0xff, 0x7f,
		0x00, 0x00, 0xff, 0xff, 0x34, 0x12,
		0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x78, 0x56, 0x34, 0x12,
		0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
	};

	sw_u8(&w, 0);
	sw_u8(&w, UINT8_MAX);
	sw_u8(&w, 0x7f);
	sw_u16(&w, 0);
	sw_u16(&w, UINT16_MAX);
	sw_u16(&w, 0x1234);
	sw_u32(&w, 0);
	sw_u32(&w, UINT32_MAX);
	sw_u32(&w, 0x12345678);
	sw_u64(&w, 0);
	sw_u64(&w, UINT64_MAX);
	sw_u64(&w, 0x0123456789abcdefULL);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.buf, want, sizeof(want));

	reader_on_writer();
	assert_int_equal(sr_u8(&r), 0);
	assert_int_equal(sr_u8(&r), UINT8_MAX);
	assert_int_equal(sr_u8(&r), 0x7f);
	assert_int_equal(sr_u16(&r), 0);
	assert_int_equal(sr_u16(&r), UINT16_MAX);
	assert_int_equal(sr_u16(&r), 0x1234);
	assert_int_equal(sr_u32(&r), 0);
	assert_int_equal(sr_u32(&r), UINT32_MAX);
	assert_int_equal(sr_u32(&r), 0x12345678);
	assert_int_equal(sr_u64(&r), 0);
	assert_true(sr_u64(&r) == UINT64_MAX);
	assert_true(sr_u64(&r) == 0x0123456789abcdefULL);
	assert_int_equal(sr_finish(&r), 0);
	assert_true(sr_ok(&r));
}

static void test_bytes_and_strings(void **state)
{
	static const uint8_t blob[5] = { 1, 2, 3, 4, 5 };
	uint8_t back[5];
	char s[32];

	sw_bytes(&w, blob, sizeof(blob));
	sw_bytes(&w, blob, 0);
	sw_str(&w, "virtio-blk");
	sw_str(&w, "");
	sw_u8(&w, 0xaa);
	/* A string is a u16 length, then its bytes, no NUL. */
	assert_int_equal(w.len, 5 + 2 + 10 + 2 + 1);
	assert_int_equal(w.buf[5], 10);
	assert_int_equal(w.buf[6], 0);
	assert_memory_equal(w.buf + 7, "virtio-blk", 10);

	reader_on_writer();
	sr_bytes(&r, back, sizeof(back));
	assert_memory_equal(back, blob, sizeof(blob));
	sr_bytes(&r, back, 0);
	sr_str(&r, s, sizeof(s));
	assert_string_equal(s, "virtio-blk");
	sr_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(sr_u8(&r), 0xaa);
	assert_int_equal(sr_finish(&r), 0);
}

/* A string that exactly fits, NUL included, is fine. */
static void test_string_exact_fit(void **state)
{
	char s[6];

	sw_str(&w, "hello");
	reader_on_writer();
	sr_str(&r, s, sizeof(s));
	assert_string_equal(s, "hello");
	assert_int_equal(sr_finish(&r), 0);
}

static void test_string_too_long(void **state)
{
	char s[5] = "xxxx";

	sw_str(&w, "hello");
	sw_u32(&w, 7);
	reader_on_writer();
	sr_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_fails("string of 5 bytes where at most 4 fit");
	/* The rest is not read as if the string had been skipped. */
	assert_int_equal(sr_u32(&r), 0);
	assert_int_equal(sr_finish(&r), -EBADMSG);
}

/* The writer grows well past its first allocation, and keeps every byte. */
static void test_writer_grows(void **state)
{
	for (uint32_t i = 0; i < 10000; i++)
		sw_u32(&w, i * 2654435761u);
	assert_int_equal(w.len, 40000);
	assert_true(w.cap >= w.len);
	reader_on_writer();
	for (uint32_t i = 0; i < 10000; i++)
		if (sr_u32(&r) != i * 2654435761u)
			fail_msg("value %u changed", i);
	assert_int_equal(sr_finish(&r), 0);
}

/* sw_str() cuts a string over 64 KiB at 65535 bytes: the framing stays whole. */
static void test_writer_long_string(void **state)
{
	size_t n = 70000;
	char *big = malloc(n + 1), *back = malloc(n + 1);

	assert_non_null(big);
	assert_non_null(back);
	memset(big, 'a', n);
	big[n] = '\0';
	sw_str(&w, big);
	sw_u8(&w, 0x5a);
	assert_int_equal(w.len, 2 + UINT16_MAX + 1);
	reader_on_writer();
	sr_str(&r, back, n + 1);
	assert_int_equal(strlen(back), UINT16_MAX);
	assert_int_equal(sr_u8(&r), 0x5a);
	assert_int_equal(sr_finish(&r), 0);
	free(big);
	free(back);
}

static void test_writer_sticky(void **state)
{
	sw_u32(&w, 1);
	w.err = -ENOMEM;	/* as after a failed realloc */
	sw_u64(&w, 2);
	sw_bytes(&w, "abc", 3);
	sw_str(&w, "def");
	assert_int_equal(w.len, 4);
	assert_int_equal(w.err, -ENOMEM);
	sw_free(&w);
	assert_null(w.buf);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.cap, 0);
	assert_int_equal(w.err, 0);
}

/* ---- reader failures ---- */

/* Every cut of a record is refused, and everything after the cut reads as 0. */
static void test_truncation(void **state)
{
	char s[16];
	uint8_t b[3];

	sw_u8(&w, 0x11);
	sw_u16(&w, 0x2222);
	sw_u32(&w, 0x33333333);
	sw_u64(&w, 0x4444444444444444ULL);
	sw_bytes(&w, "\x55\x55\x55", 3);
	sw_str(&w, "six");
	assert_int_equal(w.err, 0);

	for (size_t cut = 0; cut < w.len; cut++) {
		sr_init(&r, w.buf, cut);
		sr_u8(&r);
		sr_u16(&r);
		sr_u32(&r);
		sr_u64(&r);
		sr_bytes(&r, b, sizeof(b));
		sr_str(&r, s, sizeof(s));
		assert_fails("truncated");
		assert_int_equal(sr_finish(&r), -EBADMSG);
	}
	sr_init(&r, w.buf, w.len);
	assert_int_equal(sr_u8(&r), 0x11);
	assert_int_equal(sr_u16(&r), 0x2222);
	sr_init(&r, w.buf, 5);
	assert_int_equal(sr_u8(&r), 0x11);
	assert_int_equal(sr_u16(&r), 0x2222);
	assert_int_equal(sr_u32(&r), 0);
	assert_fails("truncated: 4 bytes wanted at offset 3, 2 left");
}

static void test_sticky(void **state)
{
	uint8_t b[4] = { 9, 9, 9, 9 };
	char s[8] = "zzz";

	sw_u64(&w, UINT64_MAX);
	sw_str(&w, "ok");
	reader_on_writer();
	assert_int_equal(sr_u8(&r), 0xff);
	sr_init(&r, w.buf, 2);
	sr_u32(&r);
	assert_fails("truncated");
	/* Everything after the first error reads as zero, even what is there. */
	assert_int_equal(sr_u8(&r), 0);
	assert_int_equal(sr_u16(&r), 0);
	assert_int_equal(sr_u64(&r), 0);
	sr_bytes(&r, b, sizeof(b));
	assert_memory_equal(b, "\0\0\0\0", 4);
	sr_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_int_equal(r.pos, 0);
	assert_fails("4 bytes wanted at offset 0");
}

static void test_finish_trailing(void **state)
{
	sw_u32(&w, 1);
	sw_u16(&w, 2);
	reader_on_writer();
	assert_int_equal(sr_u32(&r), 1);
	assert_int_equal(sr_finish(&r), -EBADMSG);
	assert_fails("2 unexpected bytes");
	/* Called again, it keeps saying the same. */
	assert_int_equal(sr_finish(&r), -EBADMSG);
	assert_fails("2 unexpected bytes");
}

static void test_finish_empty(void **state)
{
	sr_init(&r, "", 0);
	assert_int_equal(sr_finish(&r), 0);
	assert_true(sr_ok(&r));
}

/* Zero-length reads and writes on empty buffers (NULL ones included) are no-ops. */
static void test_empty_buffers(void **state)
{
	uint8_t b[1] = { 7 };

	sw_bytes(&w, b, 0);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.err, 0);
	sr_init(&r, NULL, 0);
	sr_bytes(&r, b, 0);
	assert_int_equal(b[0], 7);
	assert_int_equal(sr_finish(&r), 0);
	sr_u8(&r);
	assert_fails("1 bytes wanted at offset 0, 0 left");
}

static void test_fail_keeps_first(void **state)
{
	sw_u32(&w, 5);
	reader_on_writer();
	assert_int_equal(sr_u32(&r), 5);
	assert_int_equal(sr_fail(&r, "vcpu %u: PSTATE %#x refused", 2, 0x3c5), -EBADMSG);
	assert_int_equal(sr_fail(&r, "second reason"), -EBADMSG);
	assert_int_equal(sr_u8(&r), 0);	/* truncated too: not what is reported */
	assert_int_equal(sr_finish(&r), -EBADMSG);
	assert_string_equal(r.msg, "vcpu 2: PSTATE 0x3c5 refused");
}

/* A message longer than the buffer is cut, not overflowed. */
static void test_fail_long_message(void **state)
{
	char big[STATE_MSG_MAX * 2];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sr_init(&r, "", 0);
	assert_int_equal(sr_fail(&r, "%s", big), -EBADMSG);
	assert_int_equal(strlen(r.msg), STATE_MSG_MAX - 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_integers),
		T(test_bytes_and_strings),
		T(test_string_exact_fit),
		T(test_string_too_long),
		T(test_writer_grows),
		T(test_writer_long_string),
		T(test_writer_sticky),
		T(test_truncation),
		T(test_sticky),
		T(test_finish_trailing),
		T(test_finish_empty),
		T(test_empty_buffers),
		T(test_fail_keeps_first),
		T(test_fail_long_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
