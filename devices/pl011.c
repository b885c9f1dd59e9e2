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
 * The receive FIFO, the output and the lock are the console UARTs' shared
 * core (devices/serial.h); the irq callback runs under the lock, rx_ready
 * without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "vmm/fdt.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "device_state.h"
#include "pl011.h"
#include "serial.h"

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

#define PL011_CLOCK_HZ	24000000

/* PeriphID0-3 (part 0x011, designer ARM, revision r1p5) and PrimeCell ID0-3. */
static const uint8_t pl011_id[8] = { 0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

struct pl011 {
	struct device dev;
	struct serial s;		/* lock, receive FIFO, output (serial.h) */

	uint32_t ris;			/* raw interrupt status: INT_TX only; RX is derived */
	uint32_t imsc;
	uint32_t lcr_h, cr, ibrd, fbrd, ifls, ilpr, dmacr;
	bool irq_level;
};

static struct pl011 *to_pl011(struct device *dev)
{
	return (struct pl011 *)((char *)dev - offsetof(struct pl011, dev));
}

static unsigned int rx_capacity(const struct pl011 *u)
{
	return (u->lcr_h & LCRH_FEN) ? SERIAL_FIFO_SIZE : 1;
}

static uint32_t raw_status(const struct pl011 *u)
{
	return u->ris | (u->s.rx_count ? INT_RX : 0);
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

	if (!u->s.rx_count)
		fr |= FR_RXFE;
	if (u->s.rx_count >= rx_capacity(u))
		fr |= FR_RXFF;
	return fr;
}

static uint32_t read_reg(struct pl011 *u, uint64_t off, bool *drained)
{
	if (off >= UARTID_BASE)
		return pl011_id[(off - UARTID_BASE) / 4];
	switch (off) {
	case UARTDR:	return serial_rx_pop(&u->s, drained);
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
	bool drop = false;

	/* Turning the FIFOs on or off empties them. */
	if ((u->lcr_h ^ val) & LCRH_FEN)
		drop = serial_rx_clear(&u->s);
	u->lcr_h = val & 0xff;
	return drop;
}

static bool write_reg(struct pl011 *u, uint64_t off, uint32_t val)
{
	switch (off) {
	case UARTDR:
		serial_transmit(&u->s, (uint8_t)val);
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

static void pl011_mmio_read(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pl011 *u = to_pl011(dev);
	bool drained = false;
	uint32_t val;

	memset(data, 0, len);
	if (!is_register_access(offset, len))
		return;
	pthread_mutex_lock(&u->s.lock);
	val = read_reg(u, offset, &drained);
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);
	memcpy(data, &val, len);
	serial_rx_ready(&u->s, drained);
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
	pthread_mutex_lock(&u->s.lock);
	drained = write_reg(u, offset, val);
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);
	serial_rx_ready(&u->s, drained);
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
	bool drained = serial_rx_clear(&u->s);

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

	pthread_mutex_lock(&u->s.lock);
	drained = reset_registers(u);
	u->irq_level = false;
	device_set_irq(dev, false);
	pthread_mutex_unlock(&u->s.lock);
	serial_rx_ready(&u->s, drained);
}

static void pl011_destroy(struct device *dev)
{
	struct pl011 *u = to_pl011(dev);

	serial_destroy(&u->s);
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

	pthread_mutex_lock(&u->s.lock);
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
	serial_rx_save(&u->s, w, u->irq_level);
	pthread_mutex_unlock(&u->s.lock);
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
	return serial_rx_check(&u->s, r, rx_capacity(u), u->irq_level, level);
}

static int pl011_load(struct device *dev, struct state_reader *r)
{
	struct pl011 *u = to_pl011(dev);
	int err;

	if (dev_state_check(r, dev->ops->name, PL011_STATE_VERSION))
		return r->err;
	pthread_mutex_lock(&u->s.lock);
	u->ris = sr_u32(r);
	u->imsc = sr_u32(r);
	u->lcr_h = sr_u32(r);
	u->cr = sr_u32(r);
	u->ibrd = sr_u32(r);
	u->fbrd = sr_u32(r);
	u->ifls = sr_u32(r);
	u->ilpr = sr_u32(r);
	u->dmacr = sr_u32(r);
	u->irq_level = serial_rx_load(&u->s, r);
	err = sr_ok(r) ? pl011_check_state(u, r) : r->err;
	if (err) {
		reset_registers(u);
		u->irq_level = false;
	}
	/* The new VM's interrupt controller learns the line from us. */
	device_set_irq(dev, u->irq_level);
	pthread_mutex_unlock(&u->s.lock);
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
	err = serial_init(&u->s, "pl011", out_fd, rx_ready, rx_opaque);
	if (err) {
		free(u);
		errno = -err;
		return NULL;
	}
	u->dev.ops = &pl011_ops;
	u->dev.mmio_base = base;
	u->dev.mmio_size = LAYOUT_PL011_SIZE;
	u->dev.spi = spi;
	reset_registers(u);
	return &u->dev;
}

size_t pl011_receive(struct device *dev, const uint8_t *buf, size_t len)
{
	struct pl011 *u = to_pl011(dev);
	size_t n;

	pthread_mutex_lock(&u->s.lock);
	n = serial_rx_fill(&u->s, buf, len, rx_capacity(u));
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);
	return n;
}
