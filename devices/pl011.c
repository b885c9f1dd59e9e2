// SPDX-License-Identifier: GPL-2.0-only
/*
 * ARM PrimeCell PL011 UART (the PL011 Technical Reference Manual, ARM DDI
 * 0183; register map and ID values from there). What a driver can see:
 * DR, RSR/ECR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR,
 * DMACR and the peripheral/PrimeCell ID words at 0xFE0-0xFFC. No DMA, no
 * modem lines (CTS, DSR, DCD read as asserted), no receive errors.
 *
 * Interrupts: RXRIS is set while the receive FIFO holds data (level, not
 * the FIFO trigger level: no timer is needed and drivers read until RXFE
 * anyway); TXRIS is set by each byte written to DR (it has left at once) and
 * cleared by ICR; RT, the modem
 * and error interrupts never fire.
 *
 * Locking as in uart16550.c: one mutex; the irq callback runs under it,
 * rx_ready without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libfdt.h>

#include "vmm/fdt.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "device_state.h"
#include "pl011.h"

#define UARTDR		0x000
#define UARTRSR		0x004
#define UARTFR		0x018
#define UARTILPR	0x020
#define UARTIBRD	0x024
#define UARTFBRD	0x028
#define UARTLCR_H	0x02c
#define UARTCR		0x030
#define UARTIFLS	0x034
#define UARTIMSC	0x038
#define UARTRIS		0x03c
#define UARTMIS		0x040
#define UARTICR		0x044
#define UARTDMACR	0x048
#define UARTID_BASE	0xfe0

#define FR_CTS		0x001
#define FR_DSR		0x002
#define FR_DCD		0x004
#define FR_RXFE		0x010
#define FR_TXFF		0x020
#define FR_RXFF		0x040
#define FR_TXFE		0x080

#define LCRH_FEN	0x10

#define INT_RX		0x010
#define INT_TX		0x020
#define INT_MASK	0x7ff

#define CR_RESET	0x300	/* TXE | RXE */
#define IFLS_RESET	0x012	/* both FIFOs at half */

#define PL011_FIFO_SIZE	16
#define PL011_CLOCK_HZ	24000000
#define PL011_TX_TRIES	4

/* PeriphID0-3 (part 0x011, designer ARM, revision r1p5) and PrimeCell ID0-3. */
static const uint8_t pl011_id[8] = { 0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

struct pl011 {
	struct device dev;
	pthread_mutex_t lock;

	uint8_t rx_fifo[PL011_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	uint32_t ris;			/* raw interrupt status: INT_TX only; RX is derived */
	uint32_t imsc;
	uint32_t lcr_h, cr, ibrd, fbrd, ifls, ilpr, dmacr;
	bool irq_level;
	uint64_t tx_dropped;
	struct ratelimit tx_drop_log;

	int out_fd;
	uart_rx_ready_fn rx_ready;
	void *rx_opaque;
};

static struct pl011 *to_pl011(struct device *dev)
{
	return (struct pl011 *)((char *)dev - offsetof(struct pl011, dev));
}

static unsigned int rx_capacity(const struct pl011 *u)
{
	return (u->lcr_h & LCRH_FEN) ? PL011_FIFO_SIZE : 1;
}

static uint32_t raw_status(const struct pl011 *u)
{
	return u->ris | (u->rx_count ? INT_RX : 0);
}

static void update_irq(struct pl011 *u)
{
	bool level = raw_status(u) & u->imsc;

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	device_set_irq(&u->dev, level);
}

static uint32_t flags(const struct pl011 *u)
{
	uint32_t fr = FR_CTS | FR_DSR | FR_DCD | FR_TXFE;

	if (!u->rx_count)
		fr |= FR_RXFE;
	if (u->rx_count >= rx_capacity(u))
		fr |= FR_RXFF;
	return fr;
}

static void transmit(struct pl011 *u, uint8_t byte)
{
	int err = EAGAIN;

	for (int tries = 0; tries < PL011_TX_TRIES; tries++) {
		ssize_t n = write(u->out_fd, &byte, 1);

		if (n == 1)
			return;
		if (n < 0 && errno != EINTR) {
			err = errno;
			break;
		}
	}
	u->tx_dropped++;
	pr_warn_ratelimited(&u->tx_drop_log,
			    "pl011: console output dropped: %s (%" PRIu64 " bytes so far; %s)",
			    strerror(err), u->tx_dropped,
			    err == EAGAIN ? "its reader is not keeping up" : "the output is broken");
}

/* @drained: set when this read emptied the receive FIFO. */
static uint32_t read_dr(struct pl011 *u, bool *drained)
{
	uint8_t byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx_fifo[u->rx_head];
	u->rx_head = (u->rx_head + 1) % PL011_FIFO_SIZE;
	*drained = --u->rx_count == 0;
	return byte;
}

static uint32_t read_reg(struct pl011 *u, uint64_t off, bool *drained)
{
	if (off >= UARTID_BASE)
		return pl011_id[(off - UARTID_BASE) / 4];
	switch (off) {
	case UARTDR:	return read_dr(u, drained);
	case UARTRSR:	return 0;
	case UARTFR:	return flags(u);
	case UARTILPR:	return u->ilpr;
	case UARTIBRD:	return u->ibrd;
	case UARTFBRD:	return u->fbrd;
	case UARTLCR_H:	return u->lcr_h;
	case UARTCR:	return u->cr;
	case UARTIFLS:	return u->ifls;
	case UARTIMSC:	return u->imsc;
	case UARTRIS:	return raw_status(u);
	case UARTMIS:	return raw_status(u) & u->imsc;
	case UARTDMACR:	return u->dmacr;
	default:	return 0;
	}
}

/* Returns whether received bytes were thrown away (FIFO switched). */
static bool write_lcr_h(struct pl011 *u, uint32_t val)
{
	bool drop = ((u->lcr_h ^ val) & LCRH_FEN) && u->rx_count;

	/* Turning the FIFOs on or off empties them. */
	if ((u->lcr_h ^ val) & LCRH_FEN) {
		u->rx_head = 0;
		u->rx_count = 0;
	}
	u->lcr_h = val & 0xff;
	return drop;
}

static bool write_reg(struct pl011 *u, uint64_t off, uint32_t val)
{
	switch (off) {
	case UARTDR:
		transmit(u, (uint8_t)val);
		u->ris |= INT_TX;
		break;
	case UARTRSR:
		break;			/* ECR: clears errors we never have */
	case UARTILPR:
		u->ilpr = val & 0xff;
		break;
	case UARTIBRD:
		u->ibrd = val & 0xffff;
		break;
	case UARTFBRD:
		u->fbrd = val & 0x3f;
		break;
	case UARTLCR_H:
		return write_lcr_h(u, val);
	case UARTCR:
		u->cr = val & 0xffff;
		break;
	case UARTIFLS:
		u->ifls = val & 0x3f;
		break;
	case UARTIMSC:
		u->imsc = val & INT_MASK;
		break;
	case UARTICR:
		u->ris &= ~val;
		break;
	case UARTDMACR:
		u->dmacr = val & 0x7;
		break;
	default:
		break;			/* read-only or reserved */
	}
	return false;
}

/* Registers are 32-bit words (DR's data is its low byte); byte and
 * halfword reads of a word's low part are allowed, as drivers use
 * them (Linux's earlycon reads FR with 8- or 32-bit accesses). */
static bool is_register_access(uint64_t offset, unsigned int len)
{
	return (offset & 3) == 0 && len <= 4;
}

static void notify_rx_ready(struct pl011 *u, bool drained)
{
	if (drained && u->rx_ready)
		u->rx_ready(u->rx_opaque);
}

static void pl011_mmio_read(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pl011 *u = to_pl011(dev);
	bool drained = false;
	uint32_t val;

	memset(data, 0, len);
	if (!is_register_access(offset, len))
		return;
	pthread_mutex_lock(&u->lock);
	val = read_reg(u, offset, &drained);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	memcpy(data, &val, len);
	notify_rx_ready(u, drained);
}

static void pl011_mmio_write(struct device *dev, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	struct pl011 *u = to_pl011(dev);
	uint32_t val = 0;
	bool drained;

	if (!is_register_access(offset, len))
		return;
	memcpy(&val, data, len);
	pthread_mutex_lock(&u->lock);
	drained = write_reg(u, offset, val);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	notify_rx_ready(u, drained);
}

static int fdt_fail(const char *what, int err)
{
	pr_err("pl011: device tree: %s: %s", what, fdt_strerror(err));
	return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

/* The fixed clock the PL011's "clocks" point at (uartclk and apb_pclk). */
static int add_clock_node(void *fdt)
{
	int node = fdt_add_subnode(fdt, 0, "apb-pclk");
	int err;

	if (node < 0)
		return fdt_fail("apb-pclk", node);
	err = fdt_setprop_string(fdt, node, "compatible", "fixed-clock");
	if (!err)
		err = fdt_setprop_u32(fdt, node, "#clock-cells", 0);
	if (!err)
		err = fdt_setprop_u32(fdt, node, "clock-frequency", PL011_CLOCK_HZ);
	if (!err)
		err = fdt_setprop_string(fdt, node, "clock-output-names", "clk24mhz");
	if (!err)
		err = fdt_setprop_u32(fdt, node, "phandle", FDT_PL011_CLK_PHANDLE);
	return err ? fdt_fail("apb-pclk", err) : 0;
}

static int pl011_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	static const char compat[] = "arm,pl011\0arm,primecell";
	static const char clock_names[] = "uartclk\0apb_pclk";
	const fdt32_t clocks[2] = { cpu_to_fdt32(FDT_PL011_CLK_PHANDLE),
				    cpu_to_fdt32(FDT_PL011_CLK_PHANDLE) };
	char name[32];
	int node, err;

	(void)gic_phandle;
	err = add_clock_node(fdt);
	if (err)
		return err;
	snprintf(name, sizeof(name), "pl011@%" PRIx64, dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0)
		return fdt_fail(name, node);
	err = fdt_setprop(fdt, node, "compatible", compat, sizeof(compat));
	if (!err)
		err = fdt_setprop(fdt, node, "clock-names", clock_names, sizeof(clock_names));
	if (!err)
		err = fdt_setprop(fdt, node, "clocks", clocks, sizeof(clocks));
	if (err)
		return fdt_fail(name, err);
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	if (!err)
		err = fdt_prop_spi(fdt, node, dev->spi);
	return err ? err : node;
}

static bool reset_registers(struct pl011 *u)
{
	bool drained = u->rx_count > 0;

	u->rx_head = 0;
	u->rx_count = 0;
	u->ris = 0;
	u->imsc = 0;
	u->lcr_h = 0;
	u->cr = CR_RESET;
	u->ibrd = 0;
	u->fbrd = 0;
	u->ifls = IFLS_RESET;
	u->ilpr = 0;
	u->dmacr = 0;
	return drained;
}

static void pl011_reset(struct device *dev)
{
	struct pl011 *u = to_pl011(dev);
	bool drained;

	pthread_mutex_lock(&u->lock);
	drained = reset_registers(u);
	u->irq_level = false;
	device_set_irq(dev, false);
	pthread_mutex_unlock(&u->lock);
	notify_rx_ready(u, drained);
}

static void pl011_destroy(struct device *dev)
{
	struct pl011 *u = to_pl011(dev);

	pthread_mutex_destroy(&u->lock);
	ratelimit_destroy(&u->tx_drop_log);
	free(u);
}

/* ---------------------------------------------------------------- snapshot */

#define PL011_STATE_VERSION	1

/* Every register a driver can set, the receive FIFO as it sits (ring,
 * head, count), the transmit interrupt's raw status and the line. The
 * output fd and the drop counter belong to the process, not the guest. */
static int pl011_save(struct device *dev, struct state_writer *w)
{
	struct pl011 *u = to_pl011(dev);

	pthread_mutex_lock(&u->lock);
	dev_state_begin(w, dev->ops->name, PL011_STATE_VERSION);
	sw_u32(w, u->ris);
	sw_u32(w, u->imsc);
	sw_u32(w, u->lcr_h);
	sw_u32(w, u->cr);
	sw_u32(w, u->ibrd);
	sw_u32(w, u->fbrd);
	sw_u32(w, u->ifls);
	sw_u32(w, u->ilpr);
	sw_u32(w, u->dmacr);
	sw_u8(w, (uint8_t)u->rx_head);
	sw_u8(w, (uint8_t)u->rx_count);
	sw_bytes(w, u->rx_fifo, sizeof(u->rx_fifo));
	sw_u8(w, u->irq_level);
	pthread_mutex_unlock(&u->lock);
	return w->err;
}

/* A register with bits write_reg() never keeps: refused, named. */
static bool reg_fits(struct state_reader *r, const char *name, uint32_t v, uint32_t mask)
{
	if (v & ~mask)
		sr_fail(r, "%s 0x%x has bits a PL011 does not keep (mask 0x%x)", name, v, mask);
	return !(v & ~mask);
}

static int pl011_check_state(const struct pl011 *u, struct state_reader *r)
{
	bool level = raw_status(u) & u->imsc;

	if (!reg_fits(r, "RIS", u->ris, INT_TX) || !reg_fits(r, "IMSC", u->imsc, INT_MASK) ||
	    !reg_fits(r, "LCR_H", u->lcr_h, 0xff) || !reg_fits(r, "CR", u->cr, 0xffff) ||
	    !reg_fits(r, "IBRD", u->ibrd, 0xffff) || !reg_fits(r, "FBRD", u->fbrd, 0x3f) ||
	    !reg_fits(r, "IFLS", u->ifls, 0x3f) || !reg_fits(r, "ILPR", u->ilpr, 0xff) ||
	    !reg_fits(r, "DMACR", u->dmacr, 0x7))
		return r->err;
	if (u->rx_head >= PL011_FIFO_SIZE)
		return sr_fail(r, "receive FIFO head %u is past the %u-byte FIFO", u->rx_head,
			       PL011_FIFO_SIZE);
	if (u->rx_count > rx_capacity(u))
		return sr_fail(r, "receive FIFO holds %u bytes, more than its %u", u->rx_count,
			       rx_capacity(u));
	if (u->irq_level != level)
		return sr_fail(r, "interrupt line %s while the registers say %s",
			       u->irq_level ? "high" : "low", level ? "high" : "low");
	return 0;
}

static int pl011_load(struct device *dev, struct state_reader *r)
{
	struct pl011 *u = to_pl011(dev);
	int err;

	if (dev_state_check(r, dev->ops->name, PL011_STATE_VERSION))
		return r->err;
	pthread_mutex_lock(&u->lock);
	u->ris = sr_u32(r);
	u->imsc = sr_u32(r);
	u->lcr_h = sr_u32(r);
	u->cr = sr_u32(r);
	u->ibrd = sr_u32(r);
	u->fbrd = sr_u32(r);
	u->ifls = sr_u32(r);
	u->ilpr = sr_u32(r);
	u->dmacr = sr_u32(r);
	u->rx_head = sr_u8(r);
	u->rx_count = sr_u8(r);
	sr_bytes(r, u->rx_fifo, sizeof(u->rx_fifo));
	u->irq_level = dev_state_bool(r, "interrupt line");
	err = sr_ok(r) ? pl011_check_state(u, r) : r->err;
	if (err) {
		reset_registers(u);
		u->irq_level = false;
	}
	/* The new VM's interrupt controller learns the line from us. */
	device_set_irq(dev, u->irq_level);
	pthread_mutex_unlock(&u->lock);
	return err;
}

static const struct device_ops pl011_ops = {
	.name = "pl011",
	.mmio_read = pl011_mmio_read,
	.mmio_write = pl011_mmio_write,
	.fdt_node = pl011_fdt_node,
	.reset = pl011_reset,
	.save = pl011_save,
	.load = pl011_load,
	.destroy = pl011_destroy,
};

struct device *pl011_create(uint64_t base, unsigned int spi, int out_fd,
			    uart_rx_ready_fn rx_ready, void *rx_opaque)
{
	struct pl011 *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return NULL;
	err = pthread_mutex_init(&u->lock, NULL);
	if (err) {
		free(u);
		errno = err;
		return NULL;
	}
	u->dev.ops = &pl011_ops;
	u->dev.mmio_base = base;
	u->dev.mmio_size = LAYOUT_PL011_SIZE;
	u->dev.spi = spi;
	u->out_fd = out_fd;
	u->rx_ready = rx_ready;
	u->rx_opaque = rx_opaque;
	ratelimit_init(&u->tx_drop_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	reset_registers(u);
	return &u->dev;
}

size_t pl011_receive(struct device *dev, const uint8_t *buf, size_t len)
{
	struct pl011 *u = to_pl011(dev);
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < rx_capacity(u)) {
		u->rx_fifo[(u->rx_head + u->rx_count) % PL011_FIFO_SIZE] = buf[n++];
		u->rx_count++;
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}
