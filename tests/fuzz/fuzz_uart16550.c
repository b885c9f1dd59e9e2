// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the 16550 model. The input is a program of MMIO reads
 * and writes (any offset in the 4 KiB window, any width), console input and
 * resets, run against one UART. Besides the sanitizers, it checks that:
 *  - the interrupt line is reported only when it changes (reset aside),
 *  - the line is high exactly when IIR reports a pending interrupt, and the
 *    source IIR names is the highest-priority one that IER, LSR and MSR imply,
 *  - ignored accesses read as zero, receive() never takes more than fits,
 *  - rx_ready runs without the UART's lock and with the FIFO empty.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/layout.h"
#include "devices/uart16550.h"
#include "fuzz_input.h"

#define IER 1
#define IIR 2
#define LCR 3
#define LSR 5
#define MSR 6

#define LSR_ERRORS	0x1e
#define MSR_DELTAS	0x0f

struct fuzz {
	struct device *dev;
	struct fuzz_input input;
	bool level;
	bool in_reset;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_irq(void *opaque, unsigned int spi, bool level)
{
	struct fuzz *f = opaque;

	check(spi == LAYOUT_UART_SPI);
	check(level != f->level || f->in_reset);
	f->level = level;
}

static uint8_t rd(struct fuzz *f, uint64_t off)
{
	uint8_t v;

	f->dev->ops->mmio_read(f->dev, off, &v, 1);
	return v;
}

static void wr(struct fuzz *f, uint64_t off, uint8_t v)
{
	f->dev->ops->mmio_write(f->dev, off, &v, 1);
}

/* Outside the lock (else this read deadlocks), after the FIFO emptied. */
static void on_rx_ready(void *opaque)
{
	struct fuzz *f = opaque;

	check(!(rd(f, LSR) & 0x01));
}

/* The IIR source the other registers imply, given IIR's own answer for THRE
 * (a pending THRE is only visible through IIR). */
static uint8_t implied_source(uint8_t ier, uint8_t lsr, uint8_t msr, bool thre)
{
	if ((ier & 0x04) && (lsr & LSR_ERRORS))
		return 0x06;
	if ((ier & 0x01) && (lsr & 0x01))
		return 0x04;
	if ((ier & 0x02) && thre)
		return 0x02;
	if ((ier & 0x08) && (msr & MSR_DELTAS))
		return 0x00;
	return 0x01;
}

static void check_irq(struct fuzz *f)
{
	uint8_t iir, lcr, ier, lsr, msr;
	bool level = f->level;	/* reading IIR may acknowledge THRE */

	iir = rd(f, IIR);
	check(level == !(iir & 0x01));
	check((iir & 0x30) == 0 && ((iir & 0xc0) == 0 || (iir & 0xc0) == 0xc0));

	/* Reading IER needs DLAB clear; put LCR back after. */
	lcr = rd(f, LCR);
	if (lcr & 0x80)
		wr(f, LCR, lcr & 0x7f);
	ier = rd(f, IER);
	if (lcr & 0x80)
		wr(f, LCR, lcr);
	check(!(ier & 0xf0));

	/* IIR came first; LSR and MSR reads clear what they report. */
	lsr = rd(f, LSR);
	msr = rd(f, MSR);
	check((lsr & 0x60) == 0x60);
	check(implied_source(ier, lsr, msr, (iir & 0x0f) == 0x02) == (iir & 0x0f));

	level = f->level;
	iir = rd(f, IIR);
	check(level == !(iir & 0x01));
}

static unsigned int access_len(uint8_t op)
{
	return 1u << ((op >> 3) & 3);
}

/* Mostly the 8 registers, sometimes anywhere in the window. */
static uint64_t access_offset(struct fuzz *f, uint8_t op)
{
	uint64_t off = next(&f->input);

	if (op & 0x20)
		off = (off << 8 | next(&f->input)) % LAYOUT_UART_SIZE;
	else
		off &= 0x0f;
	return off;
}

static void do_read(struct fuzz *f, uint8_t op)
{
	unsigned int len = access_len(op);
	uint64_t off = access_offset(f, op);
	uint8_t v[8];

	if (off + len > LAYOUT_UART_SIZE)
		return;		/* the VM never routes such an access here */
	memset(v, 0xa5, sizeof(v));
	f->dev->ops->mmio_read(f->dev, off, v, len);
	if (len > 1 || off >= 8)
		for (unsigned int i = 0; i < len; i++)
			check(v[i] == 0);
}

static void do_write(struct fuzz *f, uint8_t op)
{
	unsigned int len = access_len(op);
	uint64_t off = access_offset(f, op);
	uint8_t v[8];

	if (off + len > LAYOUT_UART_SIZE)
		return;
	for (unsigned int i = 0; i < len; i++)
		v[i] = next(&f->input);
	f->dev->ops->mmio_write(f->dev, off, v, len);
}

static void do_receive(struct fuzz *f)
{
	uint8_t buf[32];
	size_t want = next(&f->input) % sizeof(buf);
	size_t got;

	for (size_t i = 0; i < want; i++)
		buf[i] = next(&f->input);
	got = uart16550_receive(f->dev, buf, want);
	check(got <= want && got <= 16);
}

static void do_reset(struct fuzz *f)
{
	f->in_reset = true;
	f->dev->ops->reset(f->dev);
	f->in_reset = false;
	check(!f->level);
	check(rd(f, IIR) == 0x01 && rd(f, LSR) == 0x60 && rd(f, LCR) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f = { .input = { data, size } };
	int out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (out_fd < 0)
		abort();
	f.dev = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, out_fd, on_rx_ready, &f);
	if (!f.dev)
		abort();
	f.dev->set_irq = on_irq;
	f.dev->irq_opaque = &f;

	while (f.input.left) {
		uint8_t op = next(&f.input);

		switch (op & 7) {
		case 0: case 1: case 2:
			do_read(&f, op);
			break;
		case 3: case 4: case 5:
			do_write(&f, op);
			break;
		case 6:
			do_receive(&f);
			break;
		default:
			if (op & 0x80)
				do_reset(&f);
			else
				check_irq(&f);
			break;
		}
	}
	check_irq(&f);

	f.dev->ops->destroy(f.dev);
	close(out_fd);
	return 0;
}
