// SPDX-License-Identifier: GPL-2.0-only
/*
 * Snapshots of the devices --firmware adds: the CFI flash banks (the
 * firmware's, checked by hash; the variable store's command state and
 * contents), the PL011 and the PL031. Each is driven into a busy state
 * through its MMIO handlers, saved, loaded into a fresh instance, saved
 * again (byte-identical) and then goes on from where it was; then the
 * states it must refuse: truncated, inconsistent, another model's, another
 * configuration's. A refused variable store leaves the store untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "devices/cfi_flash.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "migration/state.h"
#include "vmm/layout.h"
#include "state_check.h"

#define DUAL(c)		((uint32_t)(c) << 16 | (c))
#define PAGE		4096u

/* ---------------------------------------------------------------- flash */

/* What a model instance of a bank is made from. */
struct bank_cfg {
	bool readonly;
	uint64_t size;
	uint8_t fill;		/* the array's bytes at creation */
	uint64_t poke;		/* and one byte changed there, unless 0 */
};

struct bank {
	struct device *dev;
	uint8_t *array;
	uint64_t size;
	bool mapped;
};

static void on_map(void *opaque, bool mapped)
{
	struct bank *b = opaque;

	assert_true(mapped != b->mapped);
	b->mapped = mapped;
}

#define VARS_SIZE	(2 * CFI_BLOCK_SIZE)
#define NR_ARRAYS	3

/* The arrays, made once: the refusal checks create thousands of banks,
 * and a fresh mapping for each is most of their time. */
static uint8_t arrays[NR_ARRAYS][VARS_SIZE];
static bool array_used[NR_ARRAYS];

static uint8_t *array_get(void)
{
	for (unsigned int i = 0; i < NR_ARRAYS; i++) {
		if (!array_used[i]) {
			array_used[i] = true;
			return arrays[i];
		}
	}
	fail_msg("more than %u banks at once", NR_ARRAYS);
	return NULL;
}

static void array_put(uint8_t *a)
{
	array_used[(a - arrays[0]) / VARS_SIZE] = false;
}

static void *bank_create(void *ctx)
{
	const struct bank_cfg *cfg = ctx;
	struct bank *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	assert_true(cfg->size <= VARS_SIZE);
	b->size = cfg->size;
	b->array = array_get();
	memset(b->array, cfg->fill, cfg->size);
	if (cfg->poke)
		b->array[cfg->poke] ^= 1;
	b->mapped = true;
	b->dev = cfi_flash_create(0x04000000, b->array, cfg->size, cfg->readonly, on_map, b);
	assert_non_null(b->dev);
	return b;
}

static int bank_load(void *obj, struct state_reader *r)
{
	struct bank *b = obj;

	return b->dev->ops->load(b->dev, r);
}

static void bank_destroy(void *obj)
{
	struct bank *b = obj;

	b->dev->ops->destroy(b->dev);
	array_put(b->array);
	free(b);
}

static void bank_save(struct bank *b, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(b->dev->ops->save(b->dev, w), 0);
}

static void wr(struct bank *b, uint64_t off, uint32_t v)
{
	b->dev->ops->mmio_write(b->dev, off, (uint8_t *)&v, 4);
}

static uint32_t rd(struct bank *b, uint64_t off)
{
	uint32_t v;

	b->dev->ops->mmio_read(b->dev, off, (uint8_t *)&v, 4);
	return v;
}

#define BUF_BASE	0x1000u

/* A blank store (a new file's zeros) the guest erased a block of, programmed
 * a word into, and is halfway through a 4-word buffered program of. */
static void bank_busy(struct bank *b)
{
	wr(b, 0, DUAL(0x20));
	wr(b, 0, DUAL(0xd0));
	wr(b, 0x100, DUAL(0x40));
	wr(b, 0x100, 0x12345678);
	wr(b, BUF_BASE, DUAL(0xe8));
	wr(b, BUF_BASE, DUAL(3));
	wr(b, BUF_BASE, 0xa1a1a1a1);
	wr(b, BUF_BASE + 8, 0xa3a3a3a3);
	assert_false(b->mapped);	/* status mode: reads trap */
}

static void test_flash_vars_round_trip(void **state)
{
	struct bank_cfg blank = { .size = VARS_SIZE }, other = { .size = VARS_SIZE, .fill = 0x5a };
	struct bank *a = bank_create(&blank), *b = bank_create(&other);
	struct state_writer w1, w2;
	struct state_reader r;

	(void)state;
	bank_busy(a);
	bank_save(a, &w1);
	/* 128 pages: the programmed word's sent whole, the rest (erased, or
	 * the blank file's zeros) as one byte each. */
	assert_int_equal(w1.len, header_len("cfi-flash") + 154 + (1 + PAGE) + 127 * 2);
	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(bank_load(b, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	assert_memory_equal(b->array, a->array, VARS_SIZE);
	assert_false(b->mapped);
	bank_save(b, &w2);
	assert_same_state(&w1, &w2);
	/* The buffered program goes on in the new instance. */
	wr(b, BUF_BASE + 4, 0xa2a2a2a2);
	wr(b, BUF_BASE + 12, 0xa4a4a4a4);
	wr(b, BUF_BASE, DUAL(0xd0));
	assert_int_equal(rd(b, 0), DUAL(0x80));
	wr(b, 0, DUAL(0xff));
	assert_true(b->mapped);
	assert_int_equal(rd(b, BUF_BASE + 8), 0xa3a3a3a3);
	assert_int_equal(rd(b, BUF_BASE + 12), 0xa4a4a4a4);
	assert_int_equal(rd(b, 0x100), 0x12345678);
	assert_int_equal(rd(b, CFI_BLOCK_SIZE), 0);	/* the block not erased */
	sw_free(&w1);
	sw_free(&w2);
	bank_destroy(a);
	bank_destroy(b);
}

static void test_flash_vars_refusals(void **state)
{
	struct bank_cfg blank = { .size = VARS_SIZE }, small = { .size = CFI_BLOCK_SIZE },
			code = { .size = VARS_SIZE, .readonly = true };
	struct model m = { bank_create, bank_load, bank_destroy, &blank };
	struct model m_small = m, m_code = m;
	struct bank *a = bank_create(&blank);
	size_t h = header_len("cfi-flash"), pages = h + 154;
	struct state_writer w;

	(void)state;
	m_small.ctx = &small;
	m_code.ctx = &code;
	bank_busy(a);
	bank_save(a, &w);
	assert_loads(&m, &w);
	assert_refused(&m_small, w.buf, w.len, "variable store is 524288 bytes, this one 262144");
	assert_refused(&m_code, w.buf, w.len, "a variable store, this one firmware");
	assert_refused_with(&m, &w, h, 2, 1, "read-only is 2");
	assert_refused_with(&m, &w, h + 9, 4, 1, "mode 4");
	assert_refused_with(&m, &w, h + 10, 7, 1, "step 7");
	assert_refused_with(&m, &w, h + 11, 0x01, 1, "status 0x01");
	assert_refused_with(&m, &w, h + 9, 0, 1, "not status mode");
	assert_refused_with(&m, &w, h + 12, VARS_SIZE, 8, "not a word of the bank");
	assert_refused_with(&m, &w, h + 12, BUF_BASE + 2, 8, "not a word of the bank");
	/* Four words at the block's last word but one: past its end. */
	assert_refused_with(&m, &w, h + 12, CFI_BLOCK_SIZE - 8, 8, "leaves its erase block");
	assert_refused_with(&m, &w, h + 20, 33, 1, "at most 32");
	assert_refused_with(&m, &w, h + 10, 6, 1, "holds 2 of 4 words while waiting for its confirm");
	assert_refused_with(&m, &w, h + 150, 0x7, 4, "word map 0x00000007");
	assert_refused_with(&m, &w, h + 150, 0x21, 4, "word map 0x00000021");
	assert_refused_with(&m, &w, pages, 2, 1, "kind 2");
	/* The first page sent whole, but 0xff throughout once the programmed
	 * word is erased too: the saving side would have sent one byte. */
	assert_refused_with(&m, &w, pages + 1 + 0x100, 0xffffffff, 4, "one byte repeated");
	assert_truncations_refused(&m, &w);
	sw_free(&w);
	bank_destroy(a);
}

/* A store damaged at its very end is refused before any page is written:
 * the restoring side's file keeps what it had. */
static void test_flash_vars_refused_untouched(void **state)
{
	struct bank_cfg blank = { .size = VARS_SIZE }, other = { .size = VARS_SIZE, .fill = 0x5a };
	struct bank *a = bank_create(&blank), *b = bank_create(&other);
	uint8_t *want = malloc(VARS_SIZE);
	struct state_writer w;
	struct state_reader r;

	(void)state;
	assert_non_null(want);
	bank_busy(a);
	bank_save(a, &w);
	memset(want, 0x5a, VARS_SIZE);
	w.buf[w.len - 2] = 1;		/* the last page: "sent whole", but truncated */
	sr_init(&r, w.buf, w.len);
	assert_int_not_equal(bank_load(b, &r), 0);
	assert_non_null(strstr(r.msg, "truncated"));
	assert_memory_equal(b->array, want, VARS_SIZE);
	assert_true(b->mapped);
	free(want);
	sw_free(&w);
	bank_destroy(a);
	bank_destroy(b);
}

/*
 * Blocks the bank was told are blank (a new store file's holes) are neither
 * read by a save nor touched by a load while they stay so: the arrays here
 * hold 0x5a where they claim zeros, which shows through if they are. A
 * block the guest programs is read again.
 */
static void test_flash_vars_blank_blocks(void **state)
{
	struct bank_cfg poison = { .size = VARS_SIZE, .fill = 0x5a };
	struct bank *a = bank_create(&poison), *b = bank_create(&poison);
	size_t h = header_len("cfi-flash");
	struct state_writer w1, w2;
	struct state_reader r;

	(void)state;
	cfi_flash_mark_blank(a->dev, 0);
	cfi_flash_mark_blank(a->dev, CFI_BLOCK_SIZE);
	cfi_flash_mark_blank(b->dev, CFI_BLOCK_SIZE);
	bank_save(a, &w1);
	assert_int_equal(w1.len, h + 154 + 128 * 2);
	for (size_t i = h + 154; i < w1.len; i++)
		assert_int_equal(w1.buf[i], 0);
	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(bank_load(b, &r), 0);
	/* Block 0 was not blank in b: written; block 1 was: left alone. */
	assert_int_equal(b->array[0], 0);
	assert_int_equal(b->array[CFI_BLOCK_SIZE - 1], 0);
	assert_int_equal(b->array[CFI_BLOCK_SIZE], 0x5a);
	/* Programming block 1 makes it read: its other bytes show 0x5a. */
	wr(a, CFI_BLOCK_SIZE, DUAL(0x40));
	wr(a, CFI_BLOCK_SIZE, 0);
	bank_save(a, &w2);
	assert_int_equal(w2.len, h + 154 + 64 * 2 + (1 + PAGE) + 63 * 2);
	sw_free(&w1);
	sw_free(&w2);
	bank_destroy(a);
	bank_destroy(b);
}

static void test_flash_code(void **state)
{
	struct bank_cfg fw = { .readonly = true, .size = CFI_BLOCK_SIZE, .fill = 0x11 };
	struct bank_cfg changed = fw, vars = fw;
	struct model m = { bank_create, bank_load, bank_destroy, &fw };
	struct model m_changed = m, m_vars = m;
	struct bank *a = bank_create(&fw);
	size_t h = header_len("cfi-flash");
	struct state_writer w;

	(void)state;
	changed.poke = 0x1234;
	vars.readonly = false;
	m_changed.ctx = &changed;
	m_vars.ctx = &vars;
	/* The ROM ignores writes: nothing the guest does is state. */
	wr(a, 0, DUAL(0x70));
	assert_true(a->mapped);
	bank_save(a, &w);
	assert_int_equal(w.len, h + 1 + 8 + CFI_HASH_SIZE);
	assert_loads(&m, &w);
	assert_refused(&m_changed, w.buf, w.len, "differs from the saved VM's");
	assert_refused(&m_vars, w.buf, w.len, "is the firmware, this one variable store");
	assert_truncations_refused(&m, &w);
	sw_free(&w);
	bank_destroy(a);
}

/* ---------------------------------------------------------------- PL011 */

#define UARTDR		0x000
#define UARTFR		0x018
#define UARTIBRD	0x024
#define UARTFBRD	0x028
#define UARTLCR_H	0x02c
#define UARTCR		0x030
#define UARTIMSC	0x038
#define UARTRIS		0x03c
#define FR_RXFE		0x010

struct uart {
	struct device *dev;
	bool level;
};

static void uart_irq(void *opaque, unsigned int spi, bool level)
{
	struct uart *u = opaque;

	(void)spi;
	u->level = level;
}

static void *uart_create(void *ctx)
{
	struct uart *u = calloc(1, sizeof(*u));

	(void)ctx;
	assert_non_null(u);
	u->dev = pl011_create(LAYOUT_PL011_BASE, LAYOUT_PL011_SPI, -1, NULL, NULL);
	assert_non_null(u->dev);
	u->dev->set_irq = uart_irq;
	u->dev->irq_opaque = u;
	return u;
}

static int uart_load(void *obj, struct state_reader *r)
{
	struct uart *u = obj;

	return u->dev->ops->load(u->dev, r);
}

static void uart_destroy(void *obj)
{
	struct uart *u = obj;

	u->dev->ops->destroy(u->dev);
	free(u);
}

static void uart_wr(struct uart *u, uint64_t off, uint32_t v)
{
	u->dev->ops->mmio_write(u->dev, off, (uint8_t *)&v, 4);
}

static uint32_t uart_rd(struct uart *u, uint64_t off)
{
	uint32_t v;

	u->dev->ops->mmio_read(u->dev, off, (uint8_t *)&v, 4);
	return v;
}

static void uart_save(struct uart *u, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(u->dev->ops->save(u->dev, w), 0);
}

/* Linux's amba-pl011 setup (115200 at 24 MHz, 8n1, FIFOs on, RX
 * interrupt), then input waiting: the line is high. */
static void uart_busy(struct uart *u)
{
	uart_wr(u, UARTIBRD, 13);
	uart_wr(u, UARTFBRD, 1);
	uart_wr(u, UARTLCR_H, 0x70);
	uart_wr(u, UARTCR, 0x301);
	uart_wr(u, UARTIMSC, 0x10);
	assert_int_equal(pl011_receive(u->dev, (const uint8_t *)"hey!", 4), 4);
	assert_int_equal(uart_rd(u, UARTDR), 'h');
	assert_true(u->level);
}

static void test_pl011_round_trip(void **state)
{
	struct uart *a = uart_create(NULL), *b = uart_create(NULL);
	struct state_writer w1, w2;
	struct state_reader r;

	(void)state;
	uart_busy(a);
	uart_save(a, &w1);
	assert_int_equal(w1.len, header_len("pl011") + 55);
	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(uart_load(b, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	assert_true(b->level);		/* told to the new interrupt controller */
	uart_save(b, &w2);
	assert_same_state(&w1, &w2);
	assert_int_equal(uart_rd(b, UARTIBRD), 13);
	assert_int_equal(uart_rd(b, UARTLCR_H), 0x70);
	assert_int_equal(uart_rd(b, UARTCR), 0x301);
	assert_int_equal(uart_rd(b, UARTDR), 'e');
	assert_int_equal(uart_rd(b, UARTDR), 'y');
	assert_int_equal(uart_rd(b, UARTDR), '!');
	assert_int_equal(uart_rd(b, UARTFR) & FR_RXFE, FR_RXFE);
	assert_false(b->level);
	sw_free(&w1);
	sw_free(&w2);
	uart_destroy(a);
	uart_destroy(b);
}

static void test_pl011_refusals(void **state)
{
	struct model m = { uart_create, uart_load, uart_destroy, NULL };
	struct uart *a = uart_create(NULL);
	size_t h = header_len("pl011");
	struct state_writer w, other;

	(void)state;
	uart_busy(a);
	uart_save(a, &w);
	assert_loads(&m, &w);
	assert_truncations_refused(&m, &w);
	assert_refused_with(&m, &w, h + 0, 0x10, 4, "RIS 0x10");
	assert_refused_with(&m, &w, h + 4, 0x800, 4, "IMSC 0x800");
	assert_refused_with(&m, &w, h + 20, 0x40, 4, "FBRD 0x40");
	assert_refused_with(&m, &w, h + 36, 16, 1, "head 16");
	assert_refused_with(&m, &w, h + 37, 17, 1, "holds 17 bytes");
	/* FIFOs off: one holding byte, but three are queued. */
	assert_refused_with(&m, &w, h + 8, 0x60, 4, "more than its 1");
	assert_refused_with(&m, &w, h + 54, 0, 1, "interrupt line low");
	assert_refused_with(&m, &w, h + 54, 2, 1, "interrupt line is 2");
	sw_init(&other);
	sw_str(&other, "uart16550");
	sw_u16(&other, 1);
	assert_refused(&m, other.buf, other.len, "state of a uart16550, not of a pl011");
	sw_free(&other);
	sw_free(&w);
	uart_destroy(a);
}

/* ---------------------------------------------------------------- PL031 */

#define RTCDR		0x000
#define RTCMR		0x004
#define RTCLR		0x008
#define RTCIMSC		0x010

static void *rtc_create(void *ctx)
{
	struct device *dev = pl031_create(LAYOUT_PL031_BASE, LAYOUT_PL031_SPI);

	(void)ctx;
	assert_non_null(dev);
	return dev;
}

static int rtc_load(void *obj, struct state_reader *r)
{
	struct device *dev = obj;

	return dev->ops->load(dev, r);
}

static void rtc_destroy(void *obj)
{
	struct device *dev = obj;

	dev->ops->destroy(dev);
}

static void rtc_wr(struct device *dev, uint64_t off, uint32_t v)
{
	dev->ops->mmio_write(dev, off, (uint8_t *)&v, 4);
}

static uint32_t rtc_rd(struct device *dev, uint64_t off)
{
	uint32_t v;

	dev->ops->mmio_read(dev, off, (uint8_t *)&v, 4);
	return v;
}

/* The guest set its clock to 1 000 000 s (12 days after 1970): the restored
 * RTC goes on from there, not from the host's time. */
static void test_pl031(void **state)
{
	struct model m = { rtc_create, rtc_load, rtc_destroy, NULL };
	struct device *a = rtc_create(NULL), *b = rtc_create(NULL);
	size_t h = header_len("pl031");
	struct state_writer w1, w2;
	struct state_reader r;
	uint32_t t;

	(void)state;
	rtc_wr(a, RTCLR, 1000000);
	rtc_wr(a, RTCMR, 0xabcd);
	rtc_wr(a, RTCIMSC, 1);
	sw_init(&w1);
	assert_int_equal(a->ops->save(a, &w1), 0);
	assert_int_equal(w1.len, h + 13);
	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(rtc_load(b, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	t = rtc_rd(b, RTCDR);
	assert_true(t >= 1000000 && t <= 1000002);
	assert_int_equal(rtc_rd(b, RTCMR), 0xabcd);
	assert_int_equal(rtc_rd(b, RTCIMSC), 1);
	sw_init(&w2);
	assert_int_equal(b->ops->save(b, &w2), 0);
	assert_same_state(&w1, &w2);
	assert_truncations_refused(&m, &w1);
	assert_refused_with(&m, &w1, h, (uint64_t)1 << 33, 8, "beyond what a 32-bit");
	assert_refused_with(&m, &w1, h, (uint64_t)(-((int64_t)1 << 41)), 8, "beyond what a 32-bit");
	assert_refused_with(&m, &w1, h + 12, 2, 1, "interrupt mask is 2");
	sw_free(&w1);
	sw_free(&w2);
	rtc_destroy(a);
	rtc_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flash_vars_round_trip),
		cmocka_unit_test(test_flash_vars_refusals),
		cmocka_unit_test(test_flash_vars_refused_untouched),
		cmocka_unit_test(test_flash_vars_blank_blocks),
		cmocka_unit_test(test_flash_code),
		cmocka_unit_test(test_pl011_round_trip),
		cmocka_unit_test(test_pl011_refusals),
		cmocka_unit_test(test_pl031),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
