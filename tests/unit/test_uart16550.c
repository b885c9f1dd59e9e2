// SPDX-License-Identifier: GPL-2.0-only
/*
 * The 16550 model driven through its MMIO handlers, as a vCPU would: output
 * goes to a pipe, the interrupt line to a recorder.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libfdt.h>

#include "vmm/layout.h"
#include "devices/uart16550.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct ctx {
	struct device *dev;
	int out[2];			/* the UART writes out[1]; tests read out[0] */
	bool level;			/* the interrupt line as last reported */
	unsigned int irq_calls;
	unsigned int irq_redundant;	/* reports that changed nothing */
	unsigned int rx_ready_calls;
	uint8_t lsr_in_rx_ready;
};

static void record_irq(void *opaque, unsigned int spi, bool level)
{
	struct ctx *c = opaque;

	assert_int_equal(spi, LAYOUT_UART_SPI);
	if (level == c->level)
		c->irq_redundant++;
	c->level = level;
	c->irq_calls++;
}

static uint8_t rd(struct ctx *c, uint64_t off)
{
	uint8_t v = 0xee;

	c->dev->ops->mmio_read(c->dev, off, &v, 1);
	return v;
}

static void wr(struct ctx *c, uint64_t off, uint8_t v)
{
	c->dev->ops->mmio_write(c->dev, off, &v, 1);
}

/* Called without the UART's lock: reading a register here must not deadlock. */
static void record_rx_ready(void *opaque)
{
	struct ctx *c = opaque;

	c->rx_ready_calls++;
	c->lsr_in_rx_ready = rd(c, LSR);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(pipe2(c->out, O_NONBLOCK | O_CLOEXEC), 0);
	c->dev = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, c->out[1],
				  record_rx_ready, c);
	assert_non_null(c->dev);
	c->dev->set_irq = record_irq;
	c->dev->irq_opaque = c;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	/* The line is reported only when it changes (reset aside). */
	assert_int_equal(c->irq_redundant, 0);
	c->dev->ops->destroy(c->dev);
	close(c->out[0]);
	close(c->out[1]);
	free(c);
	return 0;
}

/* What the UART wrote to the pipe so far, NUL-terminated. */
static size_t drain_output(struct ctx *c, char *buf, size_t size)
{
	ssize_t n = read(c->out[0], buf, size - 1);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return n;
}

static void enable_fifos(struct ctx *c)
{
	wr(c, FCR, 0x01);
	assert_int_equal(rd(c, IIR) & 0xc0, 0xc0);
}

static void test_power_on_values(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, IER), 0x00);
	assert_int_equal(rd(c, IIR), 0x01);
	assert_int_equal(rd(c, LCR), 0x00);
	assert_int_equal(rd(c, MCR), 0x00);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, MSR), 0xb0);	/* DCD, DSR, CTS: a ready modem */
	assert_int_equal(rd(c, SCR), 0x00);
	assert_int_equal(c->irq_calls, 0);
	assert_false(c->level);
}

static void test_tx_to_pipe(void **state)
{
	struct ctx *c = *state;
	const char *msg = "Booting Linux on physical CPU 0x0\n";
	char buf[128];

	for (const char *p = msg; *p; p++)
		wr(c, THR, *p);
	assert_int_equal(drain_output(c, buf, sizeof(buf)), strlen(msg));
	assert_string_equal(buf, msg);
	/* The transmitter is always done by the time the guest looks. */
	assert_int_equal(rd(c, LSR) & 0x60, 0x60);
	assert_int_equal(c->irq_calls, 0);
}

static void test_tx_error_drops_byte(void **state)
{
	struct device *dev = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, -1, NULL, NULL);
	uint8_t v = 'x';

	assert_non_null(dev);
	dev->ops->mmio_write(dev, THR, &v, 1);
	dev->ops->mmio_write(dev, THR, &v, 1);
	dev->ops->mmio_read(dev, LSR, &v, 1);
	assert_int_equal(v, 0x60);
	dev->ops->destroy(dev);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A full non-blocking out_fd (a console reader that stopped) drops the byte
 * at once, counted: a vCPU never waits for the console. */
static void test_tx_full_pipe_drops_byte(void **state)
{
	struct ctx *c = *state;
	char junk[4096] = { 0 };
	char buf[16];
	size_t total = 0;
	uint64_t t0;

	assert_int_equal(fcntl(c->out[1], F_SETFL, O_NONBLOCK), 0);
	while (write(c->out[1], junk, sizeof(junk)) > 0)
		total += sizeof(junk);
	while (write(c->out[1], junk, 1) == 1)
		total++;
	t0 = now_ms();
	for (int i = 0; i < 1000; i++)
		wr(c, THR, 'A');
	assert_true(now_ms() - t0 < 500);
	assert_int_equal(uart16550_tx_dropped(c->dev), 1000);

	while (total) {
		ssize_t n = read(c->out[0], junk, total < sizeof(junk) ? total : sizeof(junk));

		assert_true(n > 0);
		total -= n;
	}
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 0);
	wr(c, THR, 'B');
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "B");
	assert_int_equal(uart16550_tx_dropped(c->dev), 1000);
}

static void test_rx_in_order_with_irq(void **state)
{
	struct ctx *c = *state;

	enable_fifos(c);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(rd(c, LSR) & 0x01, 0x01);
	/* Data but no interrupt while ERBFI is off. */
	assert_int_equal(rd(c, IIR), 0xc1);
	assert_false(c->level);

	wr(c, IER, 0x01);
	assert_true(c->level);
	assert_int_equal(rd(c, IIR), 0xc4);

	assert_int_equal(rd(c, RBR), 'a');
	assert_int_equal(rd(c, RBR), 'b');
	assert_true(c->level);
	assert_int_equal(c->rx_ready_calls, 0);
	assert_int_equal(rd(c, RBR), 'c');

	assert_false(c->level);
	assert_int_equal(c->irq_calls, 2);
	assert_int_equal(c->rx_ready_calls, 1);
	assert_int_equal(c->lsr_in_rx_ready & 0x01, 0);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, IIR), 0xc1);
	/* An empty RBR reads as 0 and does not signal again. */
	assert_int_equal(rd(c, RBR), 0);
	assert_int_equal(c->rx_ready_calls, 1);
}

static void test_rx_raises_irq_when_enabled(void **state)
{
	struct ctx *c = *state;

	enable_fifos(c);
	wr(c, IER, 0x01);
	assert_false(c->level);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"q", 1), 1);
	assert_true(c->level);
	/* More data while already high: no new report. */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"r", 1), 1);
	assert_int_equal(c->irq_calls, 1);
	assert_int_equal(uart16550_receive(c->dev, NULL, 0), 0);
}

static void test_rx_fifo_full(void **state)
{
	struct ctx *c = *state;
	uint8_t in[20];

	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = 'A' + i;
	enable_fifos(c);
	assert_int_equal(uart16550_receive(c->dev, in, sizeof(in)), 16);
	assert_int_equal(uart16550_receive(c->dev, in + 16, 4), 0);
	/* Flow control, not overrun. */
	assert_int_equal(rd(c, LSR), 0x61);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(rd(c, RBR), 'A' + i);
	assert_int_equal(c->rx_ready_calls, 1);
	assert_int_equal(uart16550_receive(c->dev, in + 16, 4), 4);
	assert_int_equal(rd(c, RBR), 'A' + 16);
}

static void test_rx_without_fifo_holds_one_byte(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(rd(c, IIR), 0x01);	/* FIFOs off: no 0xc0 bits */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"xy", 2), 1);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"y", 1), 0);
	assert_int_equal(rd(c, RBR), 'x');
	assert_int_equal(c->rx_ready_calls, 1);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"y", 1), 1);
	assert_int_equal(rd(c, RBR), 'y');
}

static void test_fcr_clears_rx(void **state)
{
	struct ctx *c = *state;

	enable_fifos(c);
	wr(c, IER, 0x01);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"12345", 5), 5);
	assert_true(c->level);
	wr(c, FCR, 0x07);		/* enable + clear RX + clear TX */
	assert_false(c->level);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(c->rx_ready_calls, 1);

	/* Turning the FIFOs off empties them too. */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"67", 2), 2);
	wr(c, FCR, 0x00);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, IIR), 0x01);
	assert_int_equal(c->rx_ready_calls, 2);

	/* Clear bits without FCR0 do nothing. */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"8", 1), 1);
	wr(c, FCR, 0x02);
	assert_int_equal(rd(c, RBR), '8');
}

static void test_thre_interrupt(void **state)
{
	struct ctx *c = *state;
	char buf[16];

	enable_fifos(c);
	/* Enabling ETBEI with THR empty raises it... */
	wr(c, IER, 0x02);
	assert_true(c->level);
	/* ...reading IIR while it is the source acknowledges it. */
	assert_int_equal(rd(c, IIR), 0xc2);
	assert_false(c->level);
	assert_int_equal(rd(c, IIR), 0xc1);

	/* Rewriting IER with ETBEI already set is no new edge. */
	wr(c, IER, 0x02);
	assert_false(c->level);

	/* Writing THR acknowledges it, the byte leaves at once, THR is empty
	 * again: raised again, which is how Linux keeps transmitting. */
	wr(c, THR, 'k');
	assert_true(c->level);
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 1);
	assert_int_equal(rd(c, IIR), 0xc2);
	assert_false(c->level);

	/* Linux's UART_BUG_THRE probe: off and on again re-asserts THRE. */
	wr(c, IER, 0x00);
	wr(c, IER, 0x02);
	assert_int_equal(rd(c, IIR), 0xc2);

	/* Disabling ETBEI withdraws a pending THRE. */
	wr(c, IER, 0x00);
	wr(c, IER, 0x02);
	assert_true(c->level);
	wr(c, IER, 0x00);
	assert_false(c->level);
	assert_int_equal(rd(c, IIR), 0xc1);

	/* Reading IIR while RX data outranks THRE leaves THRE pending. */
	wr(c, IER, 0x03);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"z", 1), 1);
	assert_int_equal(rd(c, IIR), 0xc4);
	assert_int_equal(rd(c, RBR), 'z');
	assert_true(c->level);
	assert_int_equal(rd(c, IIR), 0xc2);
	assert_false(c->level);
}

static void test_ier_keeps_low_nibble(void **state)
{
	struct ctx *c = *state;

	/* Linux's autoconfig: IER must read back 0 and 0x0f. */
	wr(c, IER, 0xff);
	assert_int_equal(rd(c, IER), 0x0f);
	wr(c, IER, 0x00);
	assert_int_equal(rd(c, IER), 0x00);
	wr(c, MCR, 0xff);
	assert_int_equal(rd(c, MCR), 0x1f);
}

static void test_iir_priorities(void **state)
{
	struct ctx *c = *state;

	enable_fifos(c);
	wr(c, IER, 0x0f);
	assert_int_equal(rd(c, IIR), 0xc2);	/* THRE, acknowledged */

	/* Loopback: DSR drops (modem status), then 17 bytes into a 16-byte
	 * FIFO: data available and an overrun (line status). */
	wr(c, MCR, 0x1a);
	assert_int_equal(rd(c, IIR), 0xc0);
	for (int i = 0; i < 17; i++)
		wr(c, THR, 'a' + i);

	assert_int_equal(rd(c, IIR), 0xc6);	/* line status first */
	assert_int_equal(rd(c, LSR), 0x63);	/* DR | OE | THRE | TEMT, clears OE */
	assert_int_equal(rd(c, IIR), 0xc4);	/* then RX data */
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(c, RBR), 'a' + i);
	assert_int_equal(rd(c, IIR), 0xc2);	/* then THRE (acknowledged here) */
	assert_true(c->level);
	assert_int_equal(rd(c, IIR), 0xc0);	/* then modem status */
	assert_int_equal(rd(c, MSR), 0x92);	/* DCD | CTS, delta DSR */
	assert_int_equal(rd(c, IIR), 0xc1);
	assert_false(c->level);
}

static void test_dlab(void **state)
{
	struct ctx *c = *state;
	char buf[16];

	wr(c, IER, 0x05);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"R", 1), 1);
	wr(c, LCR, 0x83);			/* DLAB, 8N1 */
	wr(c, DLL, 0x01);			/* 115200 baud at 1.8432 MHz */
	wr(c, DLM, 0x00);
	assert_int_equal(rd(c, DLL), 0x01);
	assert_int_equal(rd(c, DLM), 0x00);
	wr(c, DLM, 0x42);
	assert_int_equal(rd(c, DLM), 0x42);
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 0);	/* nothing sent */
	assert_int_equal(rd(c, LSR) & 0x01, 0x01);			/* nothing read */
	assert_int_equal(rd(c, LCR), 0x83);

	wr(c, LCR, 0x03);
	assert_int_equal(rd(c, IER), 0x05);
	assert_int_equal(rd(c, RBR), 'R');
	wr(c, LCR, 0x80);
	assert_int_equal(rd(c, DLL), 0x01);
	assert_int_equal(rd(c, DLM), 0x42);
}

static void test_loopback(void **state)
{
	struct ctx *c = *state;
	char buf[16];

	/* Linux's autoconfig probe: LOOP | OUT2 | RTS reads back DCD | CTS. */
	wr(c, MCR, 0x1a);
	assert_int_equal(rd(c, MSR) & 0xf0, 0x90);
	wr(c, MCR, 0x15);			/* DTR | OUT1 */
	assert_int_equal(rd(c, MSR), 0x6b);	/* DSR | RI; deltas CTS, DSR, DCD */
	wr(c, MCR, 0x11);			/* RI trailing edge */
	assert_int_equal(rd(c, MSR), 0x24);
	assert_int_equal(rd(c, MSR), 0x20);

	wr(c, THR, 'Z');
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 0);
	assert_int_equal(rd(c, LSR), 0x61);
	assert_int_equal(rd(c, RBR), 'Z');
	assert_int_equal(c->rx_ready_calls, 1);

	/* FIFOs off: the second byte overruns the holding register. */
	wr(c, THR, '1');
	wr(c, THR, '2');
	assert_int_equal(rd(c, LSR), 0x63);
	assert_int_equal(rd(c, LSR), 0x61);
	assert_int_equal(rd(c, RBR), '1');

	wr(c, MCR, 0x0b);
	assert_int_equal(rd(c, MSR) & 0xf0, 0xb0);
	wr(c, THR, 'o');
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "o");
	assert_int_equal(rd(c, LSR), 0x60);
}

static void test_scratch(void **state)
{
	struct ctx *c = *state;

	wr(c, SCR, 0x5a);
	assert_int_equal(rd(c, SCR), 0x5a);
	wr(c, LCR, 0x80);
	assert_int_equal(rd(c, SCR), 0x5a);
	wr(c, SCR, 0xa5);
	wr(c, LCR, 0x00);
	assert_int_equal(rd(c, SCR), 0xa5);
}

static void test_bad_accesses_are_harmless(void **state)
{
	struct ctx *c = *state;
	static const unsigned int lens[] = { 2, 4, 8 };
	static const uint64_t offsets[] = { 8, 9, 0x10, 0x100, 0xff8, 0xfff };
	uint8_t v[8];
	char buf[16];

	enable_fifos(c);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"s", 1), 1);
	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (uint64_t off = 0; off + lens[i] <= 16; off++) {
			memset(v, 0xff, sizeof(v));
			c->dev->ops->mmio_write(c->dev, off, v, lens[i]);
			c->dev->ops->mmio_read(c->dev, off, v, lens[i]);
			for (unsigned int j = 0; j < lens[i]; j++)
				assert_int_equal(v[j], 0);
		}
	}
	for (unsigned int i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		wr(c, offsets[i], 0xff);
		assert_int_equal(rd(c, offsets[i]), 0);
	}
	/* Nothing moved: no output, data still there, registers untouched. */
	assert_int_equal(drain_output(c, buf, sizeof(buf)), 0);
	assert_int_equal(rd(c, IER), 0);
	assert_int_equal(rd(c, LCR), 0);
	assert_int_equal(rd(c, SCR), 0);
	assert_int_equal(rd(c, RBR), 's');
	/* Writes to the read-only status registers are ignored. */
	wr(c, LSR, 0xff);
	wr(c, MSR, 0xff);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, MSR), 0xb0);
}

static void test_reset(void **state)
{
	struct ctx *c = *state;

	enable_fifos(c);
	wr(c, IER, 0x0f);
	wr(c, LCR, 0x83);
	wr(c, DLL, 0x0c);
	wr(c, LCR, 0x1b);
	wr(c, MCR, 0x1f);
	wr(c, SCR, 0x77);
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"left", 4), 4);
	assert_true(c->level);

	c->dev->ops->reset(c->dev);
	assert_false(c->level);
	assert_int_equal(c->rx_ready_calls, 1);	/* the input was dropped */
	assert_int_equal(rd(c, IER), 0x00);
	assert_int_equal(rd(c, IIR), 0x01);
	assert_int_equal(rd(c, LCR), 0x00);
	assert_int_equal(rd(c, MCR), 0x00);
	assert_int_equal(rd(c, LSR), 0x60);
	assert_int_equal(rd(c, MSR), 0xb0);
	assert_int_equal(rd(c, SCR), 0x00);
	wr(c, LCR, 0x80);
	assert_int_equal(rd(c, DLL), 0x00);
	wr(c, LCR, 0x00);

	/* Back to a 1-byte holding register. */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"ab", 2), 1);

	/* Reset lowers the line even when it was already low. */
	c->dev->ops->reset(c->dev);
	assert_false(c->level);
	c->irq_redundant = 0;
}

static void test_fdt_node(void **state)
{
	struct ctx *c = *state;
	static uint8_t fdt[4096];
	const fdt32_t *p;
	int node, len;

	assert_int_equal(fdt_create_empty_tree(fdt, sizeof(fdt)), 0);
	node = c->dev->ops->fdt_node(c->dev, fdt, 1);
	assert_true(node >= 0);
	assert_int_equal(fdt_path_offset(fdt, "/serial@9000000"), node);
	assert_int_equal(fdt_node_check_compatible(fdt, node, "ns16550a"), 0);

	p = fdt_getprop(fdt, node, "reg", &len);
	assert_non_null(p);
	assert_int_equal(len, 16);
	assert_int_equal(((uint64_t)fdt32_to_cpu(p[0]) << 32) | fdt32_to_cpu(p[1]),
			 LAYOUT_UART_BASE);
	assert_int_equal(((uint64_t)fdt32_to_cpu(p[2]) << 32) | fdt32_to_cpu(p[3]),
			 LAYOUT_UART_SIZE);

	p = fdt_getprop(fdt, node, "interrupts", &len);
	assert_non_null(p);
	assert_int_equal(len, 12);
	assert_int_equal(fdt32_to_cpu(p[0]), 0);		/* GIC_SPI */
	assert_int_equal(fdt32_to_cpu(p[1]), LAYOUT_UART_SPI);
	assert_int_equal(fdt32_to_cpu(p[2]), 4);		/* level high */

	p = fdt_getprop(fdt, node, "clock-frequency", &len);
	assert_non_null(p);
	assert_int_equal(len, 4);
	assert_int_equal(fdt32_to_cpu(*p), 1843200);
	p = fdt_getprop(fdt, node, "reg-shift", &len);
	assert_non_null(p);
	assert_int_equal(fdt32_to_cpu(*p), 0);
	p = fdt_getprop(fdt, node, "reg-io-width", &len);
	assert_non_null(p);
	assert_int_equal(fdt32_to_cpu(*p), 1);
}

static void test_fdt_node_no_space(void **state)
{
	struct ctx *c = *state;
	static uint8_t fdt[128];	/* room for the node, not its properties */

	assert_int_equal(fdt_create_empty_tree(fdt, sizeof(fdt)), 0);
	assert_int_equal(c->dev->ops->fdt_node(c->dev, fdt, 1), -ENOSPC);
}

/*
 * A console thread feeding input while a "vCPU" drains it, as in tern: the
 * console waits for rx_ready whenever the FIFO is full.
 */
#define STREAM_LEN 20000

struct stream {
	struct device *dev;
	sem_t room;
};

static void stream_rx_ready(void *opaque)
{
	struct stream *s = opaque;

	sem_post(&s->room);
}

static void *stream_feed(void *opaque)
{
	struct stream *s = opaque;
	uint8_t chunk[7];
	size_t sent = 0;

	while (sent < STREAM_LEN) {
		size_t len = 0, n;

		while (len < sizeof(chunk) && sent + len < STREAM_LEN) {
			chunk[len] = (uint8_t)((sent + len) * 7);
			len++;
		}
		n = uart16550_receive(s->dev, chunk, len);
		sent += n;
		if (n < len)
			sem_wait(&s->room);
	}
	return NULL;
}

static void test_rx_stream_between_threads(void **state)
{
	struct stream s;
	pthread_t feeder;
	uint8_t v;

	assert_int_equal(sem_init(&s.room, 0, 0), 0);
	s.dev = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, -1, stream_rx_ready, &s);
	assert_non_null(s.dev);
	v = 0x01;
	s.dev->ops->mmio_write(s.dev, FCR, &v, 1);
	assert_int_equal(pthread_create(&feeder, NULL, stream_feed, &s), 0);

	for (size_t got = 0; got < STREAM_LEN;) {
		s.dev->ops->mmio_read(s.dev, LSR, &v, 1);
		if (!(v & 0x01))
			continue;
		s.dev->ops->mmio_read(s.dev, RBR, &v, 1);
		assert_int_equal(v, (uint8_t)(got * 7));
		got++;
	}

	assert_int_equal(pthread_join(feeder, NULL), 0);
	s.dev->ops->destroy(s.dev);
	sem_destroy(&s.room);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_power_on_values),
		T(test_tx_to_pipe),
		cmocka_unit_test(test_tx_error_drops_byte),
		T(test_tx_full_pipe_drops_byte),
		T(test_rx_in_order_with_irq),
		T(test_rx_raises_irq_when_enabled),
		T(test_rx_fifo_full),
		cmocka_unit_test(test_rx_stream_between_threads),
		T(test_rx_without_fifo_holds_one_byte),
		T(test_fcr_clears_rx),
		T(test_thre_interrupt),
		T(test_ier_keeps_low_nibble),
		T(test_iir_priorities),
		T(test_dlab),
		T(test_loopback),
		T(test_scratch),
		T(test_bad_accesses_are_harmless),
		T(test_reset),
		T(test_fdt_node),
		T(test_fdt_node_no_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
