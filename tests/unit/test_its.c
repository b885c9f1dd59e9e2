// SPDX-License-Identifier: GPL-2.0-only
/*
 * ITS save/restore: the calls its_restore makes, recorded and compared with
 * the sequence Documentation/virt/kvm/devices/arm-vgic-its.rst requires;
 * refusal of a state with commands pending; save's quiescence check.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "migration/its.h"
#include "migration/state.h"

enum call_kind { CALL_GET, CALL_SET, CALL_SAVE_TABLES, CALL_RESTORE_TABLES };

struct call {
	enum call_kind kind;
	uint32_t offset;
	uint64_t val;
};

/* A fake ITS: registers by offset, every call recorded, one may fail. */
struct recorder {
	struct call calls[64];
	unsigned int nr;
	unsigned int fail_at;		/* 1-based call number that fails; 0: none */
	uint64_t regs[0x200 / 4];
};

static int record(struct recorder *rec, enum call_kind kind, uint32_t off, uint64_t val)
{
	assert_true(rec->nr < 64);
	rec->calls[rec->nr++] = (struct call){ kind, off, val };
	return rec->nr == rec->fail_at ? -EIO : 0;
}

static int rec_get(void *ctx, uint32_t off, uint64_t *val)
{
	struct recorder *rec = ctx;

	*val = rec->regs[off / 4];
	return record(rec, CALL_GET, off, *val);
}

static int rec_set(void *ctx, uint32_t off, uint64_t val)
{
	struct recorder *rec = ctx;

	rec->regs[off / 4] = val;
	return record(rec, CALL_SET, off, val);
}

static int rec_save_tables(void *ctx)
{
	return record(ctx, CALL_SAVE_TABLES, 0, 0);
}

static int rec_restore_tables(void *ctx)
{
	return record(ctx, CALL_RESTORE_TABLES, 0, 0);
}

static struct its_ops ops_for(struct recorder *rec)
{
	return (struct its_ops){ rec_get, rec_set, rec_save_tables, rec_restore_tables, rec };
}

static struct its_state sample_state(void)
{
	struct its_state st = {
		.iidr = 0x4300043b,
		.cbaser = (1ULL << 63) | 0x40a10000 | 0xf,
		.creadr = 0x1a0,
		.cwriter = 0x1a0,
		.ctlr = GITS_CTLR_ENABLED | GITS_CTLR_QUIESCENT,
	};

	for (unsigned int i = 0; i < GITS_NR_BASER; i++)
		st.baser[i] = i < 2 ? (1ULL << 63) | (0x40b00000 + i * 0x10000) : 0;
	return st;
}

/* The documented restore sequence, written out independently of its.c. */
static const struct call documented_order[] = {
	{ CALL_SET, 0x0004, 0 },	/* GITS_IIDR */
	{ CALL_SET, 0x0080, 0 },	/* GITS_CBASER */
	{ CALL_SET, 0x0090, 0 },	/* GITS_CREADR */
	{ CALL_SET, 0x0088, 0 },	/* GITS_CWRITER */
	{ CALL_SET, 0x0100, 0 }, { CALL_SET, 0x0108, 0 }, { CALL_SET, 0x0110, 0 },
	{ CALL_SET, 0x0118, 0 }, { CALL_SET, 0x0120, 0 }, { CALL_SET, 0x0128, 0 },
	{ CALL_SET, 0x0130, 0 }, { CALL_SET, 0x0138, 0 },	/* GITS_BASER0..7 */
	{ CALL_RESTORE_TABLES, 0, 0 },
	{ CALL_SET, 0x0000, 0 },	/* GITS_CTLR, last */
};
#define NR_DOCUMENTED (sizeof(documented_order) / sizeof(documented_order[0]))

static void test_restore_follows_documented_order(void **state)
{
	struct recorder rec = { 0 };
	struct its_ops ops = ops_for(&rec);
	struct its_state st = sample_state();
	char err[128] = "";

	assert_int_equal(its_restore(&ops, &st, err, sizeof(err)), 0);
	assert_int_equal(rec.nr, NR_DOCUMENTED);
	for (unsigned int i = 0; i < NR_DOCUMENTED; i++) {
		assert_int_equal(rec.calls[i].kind, documented_order[i].kind);
		assert_int_equal(rec.calls[i].offset, documented_order[i].offset);
	}
	/* And the values written are the state's. */
	assert_int_equal(rec.regs[GITS_IIDR / 4], st.iidr);
	assert_int_equal(rec.regs[GITS_CBASER / 4], st.cbaser);
	assert_int_equal(rec.regs[GITS_CREADR / 4], st.creadr);
	assert_int_equal(rec.regs[GITS_CWRITER / 4], st.cwriter);
	assert_int_equal(rec.regs[GITS_BASER(1) / 4], st.baser[1]);
	assert_int_equal(rec.regs[GITS_CTLR / 4], st.ctlr);
}

static void test_restore_refuses_pending_commands(void **state)
{
	struct recorder rec = { 0 };
	struct its_ops ops = ops_for(&rec);
	struct its_state st = sample_state();
	char err[128] = "";

	st.cwriter = st.creadr + 0x20;		/* one command not yet executed */
	assert_int_equal(its_restore(&ops, &st, err, sizeof(err)), -EINVAL);
	assert_int_equal(rec.nr, 0);		/* not a single register touched */
	assert_non_null(strstr(err, "not drained"));

	st = sample_state();
	st.creadr |= GITS_CREADR_STALLED;
	assert_int_equal(its_restore(&ops, &st, err, sizeof(err)), -EINVAL);
	assert_int_equal(rec.nr, 0);
	assert_non_null(strstr(err, "stalled"));
}

/* Only the offset field counts: CWRITER.Retry does not make a queue busy. */
static void test_restore_compares_offsets_only(void **state)
{
	struct recorder rec = { 0 };
	struct its_ops ops = ops_for(&rec);
	struct its_state st = sample_state();
	char err[128] = "";

	st.cwriter |= 1;			/* GITS_CWRITER.Retry */
	assert_int_equal(its_restore(&ops, &st, err, sizeof(err)), 0);
}

static void test_restore_stops_at_first_failure(void **state)
{
	for (unsigned int fail = 1; fail <= NR_DOCUMENTED; fail++) {
		struct recorder rec = { .fail_at = fail };
		struct its_ops ops = ops_for(&rec);
		struct its_state st = sample_state();
		char err[128] = "";

		assert_int_equal(its_restore(&ops, &st, err, sizeof(err)), -EIO);
		assert_int_equal(rec.nr, fail);
		assert_true(strlen(err) > 0);
		/* Never enabled after a failure. */
		if (fail < NR_DOCUMENTED)
			assert_int_equal(rec.regs[GITS_CTLR / 4], 0);
	}
}

static void test_save_reads_after_tables(void **state)
{
	struct recorder rec = { 0 };
	struct its_ops ops = ops_for(&rec);
	struct its_state want = sample_state(), got;
	char err[128] = "";
	unsigned int save_at = 0;

	rec.regs[GITS_IIDR / 4] = want.iidr;
	rec.regs[GITS_CBASER / 4] = want.cbaser;
	rec.regs[GITS_CREADR / 4] = want.creadr;
	rec.regs[GITS_CWRITER / 4] = want.cwriter;
	rec.regs[GITS_CTLR / 4] = want.ctlr;
	for (unsigned int i = 0; i < GITS_NR_BASER; i++)
		rec.regs[GITS_BASER(i) / 4] = want.baser[i];

	assert_int_equal(its_save(&ops, &got, err, sizeof(err)), 0);
	assert_memory_equal(&got, &want, sizeof(want));
	for (unsigned int i = 0; i < rec.nr; i++)
		if (rec.calls[i].kind == CALL_SAVE_TABLES)
			save_at = i + 1;
	/* The queue check comes before SAVE_TABLES, the rest after it. */
	assert_int_equal(save_at, 3);
	for (unsigned int i = 0; i < rec.nr; i++)
		assert_int_not_equal(rec.calls[i].kind, CALL_SET);
}

static void test_save_refuses_busy_queue(void **state)
{
	struct recorder rec = { 0 };
	struct its_ops ops = ops_for(&rec);
	struct its_state got;
	char err[128] = "";

	rec.regs[GITS_CREADR / 4] = 0x40;
	rec.regs[GITS_CWRITER / 4] = 0x80;
	assert_int_equal(its_save(&ops, &got, err, sizeof(err)), -EAGAIN);
	for (unsigned int i = 0; i < rec.nr; i++)
		assert_int_not_equal(rec.calls[i].kind, CALL_SAVE_TABLES);
	assert_non_null(strstr(err, "CWRITER 0x80"));
}

static void test_encode_decode(void **state)
{
	struct its_state st = sample_state(), back;
	struct state_writer w;
	struct state_reader r;

	sw_init(&w);
	its_state_encode(&st, &w);
	assert_int_equal(w.err, 0);
	sr_init(&r, w.buf, w.len);
	assert_int_equal(its_state_decode(&back, &r), 0);
	assert_memory_equal(&st, &back, sizeof(st));

	/* Truncated: every shorter length fails. */
	for (size_t n = 0; n < w.len; n++) {
		sr_init(&r, w.buf, n);
		assert_int_equal(its_state_decode(&back, &r), -EBADMSG);
	}
	sw_free(&w);

	/* A stream carrying a busy queue is refused at decode already. */
	st.cwriter += 0x20;
	sw_init(&w);
	its_state_encode(&st, &w);
	sr_init(&r, w.buf, w.len);
	assert_int_equal(its_state_decode(&back, &r), -EBADMSG);
	assert_non_null(strstr(r.msg, "not drained"));
	sw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_follows_documented_order),
		cmocka_unit_test(test_restore_refuses_pending_commands),
		cmocka_unit_test(test_restore_compares_offsets_only),
		cmocka_unit_test(test_restore_stops_at_first_failure),
		cmocka_unit_test(test_save_reads_after_tables),
		cmocka_unit_test(test_save_refuses_busy_queue),
		cmocka_unit_test(test_encode_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
