// SPDX-License-Identifier: GPL-2.0-only
/*
 * NS16550A UART, the guest's console.
 *
 * Transmission is instant: a byte written to THR goes to out_fd before the
 * MMIO write returns, so THR and the transmitter are always empty as far as
 * the guest can tell (LSR.THRE and LSR.TEMT stay set). Reception goes through
 * a 16-byte FIFO fed by the console; instead of overrunning, receive() takes
 * only what fits and the console retries after rx_ready. The FIFO, the
 * output and the lock are the console UARTs' shared core (devices/serial.h).
 *
 * Locking: one mutex per UART (serial.h's) covers all register state. device_set_irq() is
 * called with it held, so level changes reach the interrupt controller in the
 * order the state changed (the irq callback must not call back into the UART).
 * rx_ready is called without it, so the console may call receive() from there.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "vmm/fdt.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "device_state.h"
#include "serial.h"
#include "uart16550.h"

/* Register offsets (reg-shift 0). */
#define UART_RBR	0	/* read, DLAB=0 */
#define UART_THR	0	/* write, DLAB=0 */
#define UART_DLL	0	/* DLAB=1 */
#define UART_IER	1	/* DLAB=0 */
#define UART_DLM	1	/* DLAB=1 */
#define UART_IIR	2	/* read */
#define UART_FCR	2	/* write */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7
#define UART_NR_REGS	8

#define IER_ERBFI	0x01	/* received data available */
#define IER_ETBEI	0x02	/* THR empty */
#define IER_ELSI	0x04	/* receiver line status */
#define IER_EDSSI	0x08	/* modem status */
#define IER_MASK	0x0f	/* the other bits read as 0 on a 16550A */

#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_FIFOS	0xc0	/* both FIFO-enabled bits: "this is a 16550A" */

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define FCR_CLEAR_TX	0x04

#define LCR_DLAB	0x80

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80
#define MSR_DELTAS	0x0f	/* DCTS, DDSR, TERI, DDCD */

#define UART_CLOCK_HZ	1843200

struct uart16550 {
	struct device dev;
	struct serial s;		/* lock, receive FIFO, output (serial.h) */

	bool fifo_enabled;		/* FCR bit 0; off: a 1-byte holding register */
	bool thr_ipending;		/* THR-empty interrupt not yet acknowledged */
	bool irq_level;			/* what device_set_irq() was last told */

	uint8_t ier;
	uint8_t lcr;
	uint8_t mcr;
	uint8_t lsr_errors;		/* OE: the only error a byte-perfect link has */
	uint8_t msr_deltas;		/* low nibble of MSR, cleared by reading it */
	uint8_t scr;
	uint8_t dll;
	uint8_t dlm;
};

static struct uart16550 *to_uart(struct device *dev)
{
	return (struct uart16550 *)((char *)dev - offsetof(struct uart16550, dev));
}

/* ---------------------------------------------------------------- state */

static unsigned int rx_capacity(const struct uart16550 *u)
{
	return u->fifo_enabled ? SERIAL_FIFO_SIZE : 1;
}

static uint8_t lsr_value(const struct uart16550 *u)
{
	return (u->s.rx_count ? LSR_DR : 0) | u->lsr_errors | LSR_THRE | LSR_TEMT;
}

/*
 * The modem input lines. In loopback the outputs are wired to the inputs
 * (Linux's autoconfig checks MCR=LOOP|OUT2|RTS reads back as DCD|CTS);
 * otherwise a modem that is always ready is attached.
 */
static uint8_t modem_lines(const struct uart16550 *u)
{
	uint8_t m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_RTS ? MSR_CTS : 0) |
	       (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0);
}

/* The MSR delta bits a change of input lines from @old to @new sets. */
static uint8_t modem_deltas(uint8_t old, uint8_t new)
{
	uint8_t changed = old ^ new;
	uint8_t d = 0;

	if (changed & MSR_CTS)
		d |= MSR_DCTS;
	if (changed & MSR_DSR)
		d |= MSR_DDSR;
	if ((old & MSR_RI) && !(new & MSR_RI))	/* trailing edge only */
		d |= MSR_TERI;
	if (changed & MSR_DCD)
		d |= MSR_DDCD;
	return d;
}

/* The highest-priority enabled interrupt source, as IIR bits 0-3. */
static uint8_t iir_source(const struct uart16550 *u)
{
	if ((u->ier & IER_ELSI) && u->lsr_errors)
		return IIR_RLSI;
	/* No character timeout: data raises RDI at any FIFO level, which
	 * drivers handle alike, and needs no timer. */
	if ((u->ier & IER_ERBFI) && u->s.rx_count)
		return IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && u->msr_deltas)
		return IIR_MSI;
	return IIR_NO_INT;
}

static void update_irq(struct uart16550 *u)
{
	bool level = iir_source(u) != IIR_NO_INT;

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	device_set_irq(&u->dev, level);
}

/* ---------------------------------------------------------------- transmit */

static void write_thr(struct uart16550 *u, uint8_t byte)
{
	if (!(u->mcr & MCR_LOOP))
		serial_transmit(&u->s, byte);
	else if (!serial_rx_push(&u->s, byte, rx_capacity(u)))
		u->lsr_errors |= LSR_OE;	/* the FIFO keeps its bytes; this one is lost */
	/*
	 * Writing THR acknowledges the THRE interrupt, but the byte has already
	 * left, so THR is empty again and the interrupt re-arms at once, as on a
	 * real UART once the shift register takes the byte. Linux's 8250 driver
	 * writes up to a FIFO's worth per interrupt and waits for the next one.
	 */
	u->thr_ipending = true;
}

/* ---------------------------------------------------------------- registers */

static void write_ier(struct uart16550 *u, uint8_t val)
{
	uint8_t changed = (u->ier ^ val) & IER_ETBEI;

	u->ier = val & IER_MASK;
	/* Enabling ETBEI while THR is empty raises THRE; disabling drops it.
	 * Linux's startup checks both (its UART_BUG_THRE test). */
	if (changed)
		u->thr_ipending = u->ier & IER_ETBEI;
}

/* Returns whether received bytes were discarded. */
static bool write_fcr(struct uart16550 *u, uint8_t val)
{
	bool enable = val & FCR_ENABLE;
	bool cleared = false;

	/* Switching the FIFOs on or off empties them. */
	if (enable != u->fifo_enabled) {
		u->fifo_enabled = enable;
		cleared = serial_rx_clear(&u->s);
	}
	/* The clear bits only act with FCR0 set; TX has nothing to clear. */
	if (enable && (val & FCR_CLEAR_RX))
		cleared |= serial_rx_clear(&u->s);
	return cleared;
}

static void write_mcr(struct uart16550 *u, uint8_t val)
{
	uint8_t old = modem_lines(u);

	u->mcr = val & MCR_MASK;
	u->msr_deltas |= modem_deltas(old, modem_lines(u));
}

static uint8_t read_iir(struct uart16550 *u)
{
	uint8_t src = iir_source(u);

	/* Reading IIR acknowledges THRE when that is what it reports. */
	if (src == IIR_THRI)
		u->thr_ipending = false;
	return src | (u->fifo_enabled ? IIR_FIFOS : 0);
}

static uint8_t read_lsr(struct uart16550 *u)
{
	uint8_t val = lsr_value(u);

	u->lsr_errors = 0;
	return val;
}

static uint8_t read_msr(struct uart16550 *u)
{
	uint8_t val = modem_lines(u) | u->msr_deltas;

	u->msr_deltas = 0;
	return val;
}

/* @drained: set when this read emptied the receive FIFO. */
static uint8_t read_reg(struct uart16550 *u, unsigned int reg, bool *drained)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_RBR:
		if (dlab)
			return u->dll;
		return serial_rx_pop(&u->s, drained);
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		return read_iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return read_lsr(u);
	case UART_MSR:
		return read_msr(u);
	default:
		return u->scr;
	}
}

/* Returns whether received bytes were discarded (FCR). */
static bool write_reg(struct uart16550 *u, unsigned int reg, uint8_t val)
{
	bool dlab = u->lcr & LCR_DLAB;

	switch (reg) {
	case UART_THR:
		if (dlab)
			u->dll = val;
		else
			write_thr(u, val);
		break;
	case UART_IER:
		if (dlab)
			u->dlm = val;
		else
			write_ier(u, val);
		break;
	case UART_FCR:
		return write_fcr(u, val);
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		write_mcr(u, val);
		break;
	case UART_LSR:
	case UART_MSR:
		break;		/* read-only (LSR writes are a factory test mode) */
	default:
		u->scr = val;
		break;
	}
	return false;
}

/* ---------------------------------------------------------------- device ops */

/* Only byte accesses to the 8 registers do anything; the rest of the 4 KiB
 * window and wider accesses read as 0 and ignore writes. */
static bool is_register_access(uint64_t offset, unsigned int len)
{
	return len == 1 && offset < UART_NR_REGS;
}

static void uart_mmio_read(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct uart16550 *u = to_uart(dev);
	bool drained = false;

	memset(data, 0, len);
	if (!is_register_access(offset, len))
		return;

	pthread_mutex_lock(&u->s.lock);
	data[0] = read_reg(u, offset, &drained);
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);

	serial_rx_ready(&u->s, drained);
}

static void uart_mmio_write(struct device *dev, uint64_t offset, const uint8_t *data,
			    unsigned int len)
{
	struct uart16550 *u = to_uart(dev);
	bool drained;

	if (!is_register_access(offset, len))
		return;

	pthread_mutex_lock(&u->s.lock);
	drained = write_reg(u, offset, data[0]);
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);

	serial_rx_ready(&u->s, drained);
}

static int fdt_errno(int err, const char *what)
{
	pr_err("uart: device tree: %s: %s", what, fdt_strerror(err));
	return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

static int uart_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	char name[32];
	int node, err;

	snprintf(name, sizeof(name), "serial@%" PRIx64, dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0)
		return fdt_errno(node, name);

	err = fdt_setprop_string(fdt, node, "compatible", "ns16550a");
	if (err)
		return fdt_errno(err, name);
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	if (!err)
		err = fdt_prop_spi(fdt, node, dev->spi);
	if (err)
		return err;

	/* The clock Linux derives baud divisors from, and byte-wide registers
	 * one byte apart. */
	err = fdt_setprop_u32(fdt, node, "clock-frequency", UART_CLOCK_HZ);
	if (!err)
		err = fdt_setprop_u32(fdt, node, "reg-shift", 0);
	if (!err)
		err = fdt_setprop_u32(fdt, node, "reg-io-width", 1);
	if (err)
		return fdt_errno(err, name);
	return node;
}

/* Power-on values; the caller holds the lock (or owns @u alone). */
static bool reset_registers(struct uart16550 *u)
{
	bool drained = serial_rx_clear(&u->s);

	u->fifo_enabled = false;
	u->thr_ipending = false;
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->lsr_errors = 0;
	u->msr_deltas = 0;
	u->scr = 0;
	u->dll = 0;
	u->dlm = 0;
	return drained;
}

static void uart_reset(struct device *dev)
{
	struct uart16550 *u = to_uart(dev);
	bool drained;

	pthread_mutex_lock(&u->s.lock);
	drained = reset_registers(u);
	/* Lowered even if we think it is low: the interrupt controller may have
	 * been reset on its own. */
	u->irq_level = false;
	device_set_irq(dev, false);
	pthread_mutex_unlock(&u->s.lock);

	/* Pending input was thrown away: let the console send more. */
	serial_rx_ready(&u->s, drained);
}

/* ---------------------------------------------------------------- snapshot */

#define UART_STATE_VERSION	1

/*
 * Every register, the receive FIFO as it sits (ring, head, count) and the
 * interrupt line. Host-side state (out_fd, whether a lost byte was already
 * reported) belongs to the new process, not to the guest.
 */
static int uart_save(struct device *dev, struct state_writer *w)
{
	struct uart16550 *u = to_uart(dev);

	pthread_mutex_lock(&u->s.lock);
	dev_state_begin(w, dev->ops->name, UART_STATE_VERSION);
	sw_u8(w, u->ier);
	sw_u8(w, u->lcr);
	sw_u8(w, u->mcr);
	sw_u8(w, u->lsr_errors);
	sw_u8(w, u->msr_deltas);
	sw_u8(w, u->scr);
	sw_u8(w, u->dll);
	sw_u8(w, u->dlm);
	sw_u8(w, u->fifo_enabled);
	sw_u8(w, u->thr_ipending);
	serial_rx_save(&u->s, w, u->irq_level);
	pthread_mutex_unlock(&u->s.lock);
	return w->err;
}

/* Refuses register values no guest access could have produced. */
static int uart_check_state(const struct uart16550 *u, struct state_reader *r)
{
	bool level = iir_source(u) != IIR_NO_INT;

	if (u->ier & ~IER_MASK)
		return sr_fail(r, "IER 0x%02x has bits a 16550A does not keep", u->ier);
	if (u->mcr & ~MCR_MASK)
		return sr_fail(r, "MCR 0x%02x has bits a 16550A does not keep", u->mcr);
	if (u->lsr_errors & ~LSR_OE)
		return sr_fail(r, "LSR errors 0x%02x: only overrun can happen", u->lsr_errors);
	if (u->msr_deltas & ~MSR_DELTAS)
		return sr_fail(r, "MSR deltas 0x%02x are not delta bits", u->msr_deltas);
	return serial_rx_check(&u->s, r, rx_capacity(u), u->irq_level, level);
}

static int uart_load(struct device *dev, struct state_reader *r)
{
	struct uart16550 *u = to_uart(dev);
	int err;

	if (dev_state_check(r, dev->ops->name, UART_STATE_VERSION))
		return r->err;
	pthread_mutex_lock(&u->s.lock);
	u->ier = sr_u8(r);
	u->lcr = sr_u8(r);
	u->mcr = sr_u8(r);
	u->lsr_errors = sr_u8(r);
	u->msr_deltas = sr_u8(r);
	u->scr = sr_u8(r);
	u->dll = sr_u8(r);
	u->dlm = sr_u8(r);
	u->fifo_enabled = dev_state_bool(r, "FIFO enable");
	u->thr_ipending = dev_state_bool(r, "THR empty interrupt pending");
	u->irq_level = serial_rx_load(&u->s, r);
	err = sr_ok(r) ? uart_check_state(u, r) : r->err;
	if (err) {
		reset_registers(u);
		u->irq_level = false;
	}
	/* The interrupt controller of the new VM learns the line from us. */
	device_set_irq(dev, u->irq_level);
	pthread_mutex_unlock(&u->s.lock);
	return err;
}

static void uart_destroy(struct device *dev)
{
	struct uart16550 *u = to_uart(dev);

	serial_destroy(&u->s);
	free(u);
}

static const struct device_ops uart16550_ops = {
	.name = "uart16550",
	.mmio_read = uart_mmio_read,
	.mmio_write = uart_mmio_write,
	.fdt_node = uart_fdt_node,
	.reset = uart_reset,
	.save = uart_save,
	.load = uart_load,
	.destroy = uart_destroy,
};

struct device *uart16550_create(uint64_t base, unsigned int spi, int out_fd,
				uart_rx_ready_fn rx_ready, void *rx_opaque)
{
	struct uart16550 *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return NULL;
	err = serial_init(&u->s, "uart", out_fd, rx_ready, rx_opaque);
	if (err) {
		free(u);
		errno = -err;
		return NULL;
	}
	u->dev.ops = &uart16550_ops;
	u->dev.mmio_base = base;
	u->dev.mmio_size = LAYOUT_UART_SIZE;
	u->dev.spi = spi;
	reset_registers(u);
	return &u->dev;
}

uint64_t uart16550_tx_dropped(struct device *dev)
{
	struct uart16550 *u = to_uart(dev);
	uint64_t n;

	pthread_mutex_lock(&u->s.lock);
	n = u->s.tx_dropped;
	pthread_mutex_unlock(&u->s.lock);
	return n;
}

size_t uart16550_receive(struct device *dev, const uint8_t *buf, size_t len)
{
	struct uart16550 *u = to_uart(dev);
	size_t n;

	pthread_mutex_lock(&u->s.lock);
	n = serial_rx_fill(&u->s, buf, len, rx_capacity(u));
	update_irq(u);
	pthread_mutex_unlock(&u->s.lock);
	return n;
}
