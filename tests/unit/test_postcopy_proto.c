// SPDX-License-Identifier: GPL-2.0-only
/*
 * Post-copy's pure half: the destination's messages (bytes on the wire as
 * docs/stream-format.md gives them, every refusal), the missing-page book
 * (fault, request, arrival, latency), and the percentiles of the report.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migration/postcopy_proto.h"

#define PAGE	4096u
#define RAM	(1ULL << 30)

/* ---- messages ---- */

static void test_request_bytes(void **state)
{
	const struct pc_msg msg = { PC_MSG_REQUEST, 3, 0x12345000 };
	const uint8_t want[PC_MSG_BYTES] = { 1, 0, 0, 0, 3, 0, 0, 0,
					     0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0 };
	uint8_t out[PC_MSG_BYTES];
	struct pc_msg back;
	char err[200];

	pc_msg_encode(out, &msg);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(pc_msg_decode(out, RAM, PAGE, &back, err, sizeof(err)), 0);
	assert_int_equal(back.type, PC_MSG_REQUEST);
	assert_int_equal(back.npages, 3);
	assert_int_equal(back.offset, 0x12345000);
}

static void test_done_bytes(void **state)
{
	const struct pc_msg msg = { PC_MSG_DONE, 0, 0 };
	const uint8_t want[PC_MSG_BYTES] = { 2 };
	uint8_t out[PC_MSG_BYTES];
	struct pc_msg back;
	char err[200];

	pc_msg_encode(out, &msg);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(pc_msg_decode(out, RAM, PAGE, &back, err, sizeof(err)), 0);
	assert_int_equal(back.type, PC_MSG_DONE);
}

/* The POSTCOPY section's payload: the bytes, the range, the reserved word. */
static void test_params(void **state)
{
	const struct pc_params p = { 3600 };
	const uint8_t want[PC_PARAMS_BYTES] = { 0x10, 0x0e, 0, 0, 0, 0, 0, 0 };
	uint8_t out[PC_PARAMS_BYTES];
	struct pc_params back;
	char err[200] = "";

	pc_params_encode(out, &p);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(pc_params_decode(out, &back, err, sizeof(err)), 0);
	assert_int_equal(back.recovery_s, 3600);

	out[0] = 0x11;		/* 3601 s */
	assert_int_equal(pc_params_decode(out, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "3601 s; it must be from 1 to 3600"));
	memset(out, 0, sizeof(out));
	assert_int_equal(pc_params_decode(out, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "of 0 s"));
	out[0] = 1;
	out[7] = 0x80;
	assert_int_equal(pc_params_decode(out, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "reserved word 0x80000000"));
	out[7] = 0;
	assert_int_equal(pc_params_decode(out, &back, err, sizeof(err)), 0);
	assert_int_equal(back.recovery_s, 1);
}

/* The push's pacing: bytes at a cap, from the connection's start. */
static void test_push_due(void **state)
{
	assert_int_equal(pc_push_due_ns(5, 1ULL << 40, 0), 5);
	/* 2 MiB at 2 MiB/s: due 1 s after the start. */
	assert_int_equal(pc_push_due_ns(1000, 2ULL << 20, 2ULL << 20), 1000 + 1000000000ULL);
	/* 64 KiB at 1 MiB/s: 1/16 s. */
	assert_int_equal(pc_push_due_ns(0, 64 << 10, 1 << 20), 62500000);
	/* 2^40 bytes at 1 byte/s: about 1.1e21 ns, past 64 bits: saturates. */
	assert_int_equal(pc_push_due_ns(0, 1ULL << 40, 1), UINT64_MAX);
	assert_int_equal(pc_push_due_ns(7, 1ULL << 40, 1ULL << 40), 7 + 1000000000ULL);
	assert_int_equal(pc_push_due_ns(UINT64_MAX - 1, 1, 1), UINT64_MAX);
}

static void assert_refused(struct pc_msg msg, const char *want)
{
	uint8_t buf[PC_MSG_BYTES];
	struct pc_msg back;
	char err[200] = "";

	pc_msg_encode(buf, &msg);
	assert_int_equal(pc_msg_decode(buf, RAM, PAGE, &back, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
}

static void test_refusals(void **state)
{
	assert_refused((struct pc_msg){ 0, 1, 0 }, "unknown type");
	assert_refused((struct pc_msg){ 3, 1, 0 }, "unknown type");
	assert_refused((struct pc_msg){ 0xffffffff, 1, 0 }, "unknown type");
	assert_refused((struct pc_msg){ PC_MSG_REQUEST, 1, 0x1001 }, "not page-aligned");
	assert_refused((struct pc_msg){ PC_MSG_REQUEST, 0, 0x1000 }, "no pages");
	assert_refused((struct pc_msg){ PC_MSG_REQUEST, 1, RAM }, "outside RAM");
	assert_refused((struct pc_msg){ PC_MSG_REQUEST, 2, RAM - PAGE }, "outside RAM");
	/* A sum that would wrap past 2^64 is still outside. */
	assert_refused((struct pc_msg){ PC_MSG_REQUEST, 0xffffffff, UINT64_MAX & ~(uint64_t)(PAGE - 1) },
		       "outside RAM");
	assert_refused((struct pc_msg){ PC_MSG_DONE, 1, 0 }, "carries no pages");
	assert_refused((struct pc_msg){ PC_MSG_DONE, 0, PAGE }, "carries no pages");
}

static void test_request_last_page(void **state)
{
	uint8_t buf[PC_MSG_BYTES];
	struct pc_msg back;
	char err[200];

	pc_msg_encode(buf, &(struct pc_msg){ PC_MSG_REQUEST, 1, RAM - PAGE });
	assert_int_equal(pc_msg_decode(buf, RAM, PAGE, &back, err, sizeof(err)), 0);
	pc_msg_encode(buf, &(struct pc_msg){ PC_MSG_REQUEST, RAM / PAGE, 0 });
	assert_int_equal(pc_msg_decode(buf, RAM, PAGE, &back, err, sizeof(err)), 0);
}

/* ---- the missing-page book ---- */

static void test_missing_fault_and_arrival(void **state)
{
	struct pc_missing pm;
	uint64_t lat = 99;

	assert_int_equal(pc_missing_init(&pm, 100), 0);
	assert_int_equal(pc_missing_mark(&pm, 5), 0);
	assert_int_equal(pc_missing_mark(&pm, 6), 0);
	assert_int_equal(pc_missing_mark(&pm, 5), 0);	/* twice counts once */
	assert_int_equal(pc_missing_mark(&pm, 100), -ERANGE);
	assert_int_equal(pm.total, 2);
	assert_int_equal(pm.left, 2);

	/* Not missing: a zero page never written. */
	assert_int_equal(pc_missing_fault(&pm, 4, 1000), PC_FAULT_ZERO);
	assert_int_equal(pc_missing_fault(&pm, 100, 1000), PC_FAULT_ZERO);
	/* First fault asks, the next ones wait for the same arrival. */
	assert_int_equal(pc_missing_fault(&pm, 5, 1000), PC_FAULT_REQUEST);
	assert_int_equal(pc_missing_fault(&pm, 5, 1500), PC_FAULT_WAIT);
	/* The arrival measures from the first fault. */
	assert_true(pc_missing_arrived(&pm, 5, 4000, &lat));
	assert_int_equal(lat, 3000);
	assert_int_equal(pm.left, 1);
	assert_false(pc_missing_test(&pm, 5));
	/* Again (pushed twice after a reconnection): nothing to place. */
	assert_false(pc_missing_arrived(&pm, 5, 5000, &lat));
	assert_int_equal(lat, 0);
	/* Pushed, never asked for: no latency sample. */
	assert_true(pc_missing_arrived(&pm, 6, 6000, &lat));
	assert_int_equal(lat, 0);
	assert_int_equal(pm.left, 0);
	assert_int_equal(pc_missing_fault(&pm, 6, 7000), PC_FAULT_ZERO);
	pc_missing_free(&pm);
}

/* A clock reading of 0 still records the request. */
static void test_missing_fault_at_time_zero(void **state)
{
	struct pc_missing pm;
	uint64_t lat;

	assert_int_equal(pc_missing_init(&pm, 8), 0);
	assert_int_equal(pc_missing_mark(&pm, 7), 0);
	assert_int_equal(pc_missing_fault(&pm, 7, 0), PC_FAULT_REQUEST);
	assert_int_equal(pc_missing_fault(&pm, 7, 0), PC_FAULT_WAIT);
	assert_true(pc_missing_arrived(&pm, 7, 10, &lat));
	assert_int_equal(lat, 9);
	pc_missing_free(&pm);
}

/* ---- percentiles ---- */

static void test_percentiles(void **state)
{
	uint64_t v[100], one[1] = { 42 }, two[2] = { 9, 1 };

	for (int i = 0; i < 100; i++)
		v[i] = (uint64_t)(100 - i);	/* 100..1, unsorted */
	assert_int_equal(pc_percentile(v, 100, 50), 50);
	assert_int_equal(pc_percentile(v, 100, 99), 99);
	assert_int_equal(pc_percentile(v, 100, 100), 100);
	assert_int_equal(pc_percentile(v, 100, 0), 1);
	assert_int_equal(pc_percentile(v, 100, 1), 1);
	assert_int_equal(pc_percentile(one, 1, 50), 42);
	assert_int_equal(pc_percentile(one, 1, 99), 42);
	assert_int_equal(pc_percentile(two, 2, 50), 1);
	assert_int_equal(pc_percentile(two, 2, 51), 9);
	assert_int_equal(pc_percentile(two, 2, 99), 9);
	assert_int_equal(pc_percentile(NULL, 0, 50), 0);
	assert_int_equal(pc_percentile(two, 2, 200), 9);
}

/* One slow outlier in a thousand moves p99 only when it is over 1%. */
static void test_percentile_outliers(void **state)
{
	uint64_t v[1000];

	for (int i = 0; i < 1000; i++)
		v[i] = i < 5 ? 1000000 : 100;
	assert_int_equal(pc_percentile(v, 1000, 50), 100);
	assert_int_equal(pc_percentile(v, 1000, 99), 100);
	for (int i = 0; i < 1000; i++)
		v[i] = i < 20 ? 1000000 : 100;
	assert_int_equal(pc_percentile(v, 1000, 99), 1000000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_bytes),
		cmocka_unit_test(test_done_bytes),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_push_due),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_request_last_page),
		cmocka_unit_test(test_missing_fault_and_arrival),
		cmocka_unit_test(test_missing_fault_at_time_zero),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_percentile_outliers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
