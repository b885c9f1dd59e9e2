// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device snapshots: each model is driven into a non-trivial state through
 * its guest interface, saved, loaded into a fresh instance and saved again
 * (byte-identical), and then keeps working from where it was. Then states
 * the models must refuse: truncated, inconsistent, from another model, or
 * from another configuration. And the I/O thread's pause.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/uart16550.h"
#include "devices/virtio_devices.h"
#include "migration/state.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "vmm/layout.h"
#include "virtio_driver.h"

/* ---------------------------------------------------------------- helpers */

/*
 * A model under test, as the refusal checks see it: make a fresh instance,
 * load a state into it, free it. @ctx is the test's.
 */
struct model {
	void *(*create)(void *ctx);
	int (*load)(void *obj, struct state_reader *r);
	void (*destroy)(void *obj);
	void *ctx;
};

static void assert_same_state(const struct state_writer *a, const struct state_writer *b)
{
	assert_int_equal(a->err, 0);
	assert_int_equal(b->err, 0);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->buf, b->buf, a->len);
}

/* Loads @len bytes of @buf into a fresh instance; the message in @msg. */
static int try_load(const struct model *m, const void *buf, size_t len, char *msg)
{
	void *obj = m->create(m->ctx);
	struct state_reader r;
	int ret;

	assert_non_null(obj);
	sr_init(&r, buf, len);
	ret = m->load(obj, &r);
	if (!ret)
		ret = sr_finish(&r);
	snprintf(msg, STATE_MSG_MAX, "%s", r.msg);
	m->destroy(obj);
	return ret;
}

static void assert_loads(const struct model *m, const struct state_writer *w)
{
	char msg[STATE_MSG_MAX];

	if (try_load(m, w->buf, w->len, msg))
		fail_msg("refused its own state: %s", msg);
}

/* Refused, with a message that contains @why. */
static void assert_refused(const struct model *m, const void *buf, size_t len, const char *why)
{
	char msg[STATE_MSG_MAX];

	assert_int_equal(try_load(m, buf, len, msg), -EBADMSG);
	if (!strstr(msg, why))
		fail_msg("refused with \"%s\", not for \"%s\"", msg, why);
}

/* @w's bytes with the @n-byte little-endian field at @off set to @v. */
static void assert_refused_with(const struct model *m, const struct state_writer *w, size_t off,
				uint64_t v, unsigned int n, const char *why)
{
	uint8_t *copy = malloc(w->len);

	assert_non_null(copy);
	assert_true(off + n <= w->len);
	memcpy(copy, w->buf, w->len);
	for (unsigned int i = 0; i < n; i++)
		copy[off + i] = (uint8_t)(v >> (8 * i));
	assert_refused(m, copy, w->len, why);
	free(copy);
}

/* Every proper prefix of a good state is refused as truncated (values are
 * checked only once read whole), and so is one byte more. */
static void assert_truncations_refused(const struct model *m, const struct state_writer *w)
{
	uint8_t *longer = calloc(1, w->len + 1);

	for (size_t len = 0; len < w->len; len++)
		assert_refused(m, w->buf, len, "truncated");
	assert_non_null(longer);
	memcpy(longer, w->buf, w->len);
	assert_refused(m, longer, w->len + 1, "unexpected bytes");
	free(longer);
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* The first bytes of every state: a u16-prefixed model name, a u16 version. */
static size_t header_len(const char *model)
{
	return 2 + strlen(model) + 2;
}

/* ---------------------------------------------------------------- UART */

struct uart_ctx {
	struct device *dev;
	int out[2];
	bool level;
	unsigned int irq_calls;
};

static void uart_irq(void *opaque, unsigned int spi, bool level)
{
	struct uart_ctx *c = opaque;

	c->level = level;
	c->irq_calls++;
}

static void *uart_create(void *unused)
{
	struct uart_ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(pipe2(c->out, O_NONBLOCK | O_CLOEXEC), 0);
	c->dev = uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, c->out[1], NULL, NULL);
	assert_non_null(c->dev);
	c->dev->set_irq = uart_irq;
	c->dev->irq_opaque = c;
	return c;
}

static int uart_load(void *obj, struct state_reader *r)
{
	struct uart_ctx *c = obj;

	return c->dev->ops->load(c->dev, r);
}

static void uart_destroy(void *obj)
{
	struct uart_ctx *c = obj;

	c->dev->ops->destroy(c->dev);
	close(c->out[0]);
	close(c->out[1]);
	free(c);
}

static const struct model uart_model = { uart_create, uart_load, uart_destroy, NULL };

static uint8_t uart_rd(struct uart_ctx *c, uint64_t reg)
{
	uint8_t v = 0xee;

	c->dev->ops->mmio_read(c->dev, reg, &v, 1);
	return v;
}

static void uart_wr(struct uart_ctx *c, uint64_t reg, uint8_t v)
{
	c->dev->ops->mmio_write(c->dev, reg, &v, 1);
}

static void uart_save(struct uart_ctx *c, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(c->dev->ops->save(c->dev, w), 0);
}

/* Divisor latch, line settings, FIFOs on, RX interrupt enabled, modem
 * control set, "hello" received and its first byte read. */
static void uart_busy_state(struct uart_ctx *c)
{
	uart_wr(c, 3, 0x80);			/* LCR: DLAB */
	uart_wr(c, 0, 0x0c);			/* DLL */
	uart_wr(c, 1, 0x01);			/* DLM */
	uart_wr(c, 3, 0x03);			/* 8n1 */
	uart_wr(c, 2, 0x01);			/* FCR: FIFOs on */
	uart_wr(c, 1, 0x01);			/* IER: RX data */
	uart_wr(c, 4, 0x0b);			/* MCR: DTR RTS OUT2 */
	uart_wr(c, 7, 0x5a);			/* SCR */
	assert_int_equal(uart16550_receive(c->dev, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(uart_rd(c, 0), 'h');
	assert_true(c->level);
}

static void test_uart_round_trip(void **state)
{
	struct uart_ctx *a = uart_create(NULL), *b = uart_create(NULL);
	struct state_writer w1, w2;
	struct state_reader r;

	uart_busy_state(a);
	uart_save(a, &w1);
	assert_int_equal(w1.len, header_len("uart16550") + 29);

	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(b->dev->ops->load(b->dev, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	/* The line is driven to the level it had. */
	assert_true(b->level);
	assert_int_equal(b->irq_calls, 1);
	uart_save(b, &w2);
	assert_same_state(&w1, &w2);

	/* And it goes on: the rest of the FIFO in order, then empty. */
	assert_int_equal(uart_rd(b, 2), 0xc4);		/* RX data, FIFOs on */
	assert_int_equal(uart_rd(b, 0), 'e');
	assert_int_equal(uart_rd(b, 0), 'l');
	assert_int_equal(uart_rd(b, 0), 'l');
	assert_int_equal(uart_rd(b, 0), 'o');
	assert_int_equal(uart_rd(b, 5), 0x60);		/* LSR: no data */
	assert_int_equal(uart_rd(b, 2), 0xc1);
	assert_false(b->level);
	assert_int_equal(uart_rd(b, 4), 0x0b);
	assert_int_equal(uart_rd(b, 7), 0x5a);
	uart_wr(b, 3, 0x83);
	assert_int_equal(uart_rd(b, 0), 0x0c);
	assert_int_equal(uart_rd(b, 1), 0x01);

	sw_free(&w1);
	sw_free(&w2);
	uart_destroy(a);
	uart_destroy(b);
}

static void test_uart_refusals(void **state)
{
	struct uart_ctx *a = uart_create(NULL);
	size_t h = header_len("uart16550");
	struct state_writer w, other;

	uart_busy_state(a);
	uart_save(a, &w);
	assert_loads(&uart_model, &w);
	assert_truncations_refused(&uart_model, &w);
	assert_refused_with(&uart_model, &w, h + 0, 0x11, 1, "IER 0x11");
	assert_refused_with(&uart_model, &w, h + 3, 0x80, 1, "LSR errors");
	assert_refused_with(&uart_model, &w, h + 8, 2, 1, "FIFO enable is 2");
	assert_refused_with(&uart_model, &w, h + 10, 16, 1, "head 16");
	assert_refused_with(&uart_model, &w, h + 11, 17, 1, "holds 17 bytes");
	/* FIFOs off: a single holding byte, but four are queued. */
	assert_refused_with(&uart_model, &w, h + 8, 0, 1, "more than its 1");
	/* The line low while received data and ERBFI raise it. */
	assert_refused_with(&uart_model, &w, h + 28, 0, 1, "interrupt line low");

	sw_init(&other);
	sw_str(&other, "virtio-blk");
	sw_u16(&other, 1);
	assert_refused(&uart_model, other.buf, other.len, "state of a virtio-blk, not of a uart16550");
	sw_free(&other);
	sw_free(&w);
	uart_destroy(a);
}

/* ---------------------------------------------------------------- PCI */

#define PCI_VENDOR	0x1af4
#define PCI_DEVICE	0x1042
#define MAX_REMAPS	8

struct pci_ctx {
	struct mem_layout layout;
	struct pci_host host;
	struct pci_device fn;		/* BAR0 32-bit 4 KiB, BAR2 64-bit 1 MiB */
	struct { int bar; uint64_t old_addr, new_addr; } remaps[MAX_REMAPS];
	unsigned int nr_remaps, bar_reads;
};

static void fn_remap(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct pci_ctx *c = pdev->priv;

	assert_true(c->nr_remaps < MAX_REMAPS);
	c->remaps[c->nr_remaps].bar = bar;
	c->remaps[c->nr_remaps].old_addr = old_addr;
	c->remaps[c->nr_remaps++].new_addr = new_addr;
}

static void fn_read(struct pci_device *pdev, int bar, uint64_t off, void *data, unsigned int len)
{
	struct pci_ctx *c = pdev->priv;

	c->bar_reads++;
	memset(data, 0xab, len);
}

static const struct pci_device_ops fn_ops = {
	.bar_read = fn_read,
	.bar_remap = fn_remap,
};

static void *pci_create(void *device_id)
{
	struct pci_ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(layout_compute(&c->layout, 512 * MiB, 1), 0);
	assert_int_equal(pci_host_init(&c->host, &c->layout), 0);
	c->fn.ops = &fn_ops;
	c->fn.priv = c;
	c->fn.model = "fake";
	pci_device_init(&c->fn, PCI_VENDOR, device_id ? *(uint16_t *)device_id : PCI_DEVICE,
			0x010000, 1, PCI_VENDOR, 2);
	assert_int_equal(pci_device_add_bar(&c->fn, 0, 4 * KiB, false), 0);
	assert_int_equal(pci_device_add_bar(&c->fn, 2, 1 * MiB, true), 0);
	assert_int_equal(pci_host_add(&c->host, &c->fn), 0);
	return c;
}

static int pci_load(void *obj, struct state_reader *r)
{
	struct pci_ctx *c = obj;

	return pci_device_load(&c->fn, r);
}

static void pci_destroy(void *obj)
{
	struct pci_ctx *c = obj;

	c->host.ecam.ops->destroy(&c->host.ecam);
	free(c);
}

static const struct model pci_model = { pci_create, pci_load, pci_destroy, NULL };

static void ecam_wr(struct pci_host *host, unsigned int reg, uint32_t v, unsigned int len)
{
	host->ecam.ops->mmio_write(&host->ecam, reg, (const uint8_t *)&v, len);
}

static uint32_t ecam_rd(struct pci_host *host, unsigned int reg, unsigned int len)
{
	uint32_t v = 0;

	host->ecam.ops->mmio_read(&host->ecam, reg, (uint8_t *)&v, len);
	return v;
}

#define MOVED_BAR0	(LAYOUT_PCI_MMIO32_BASE + 0x200000)

/* Decoding on, BAR0 moved, BAR2 half rewritten, two plain registers set. */
static void pci_busy_state(struct pci_ctx *c)
{
	ecam_wr(&c->host, PCI_BASE_ADDRESS_0, (uint32_t)MOVED_BAR0, 4);
	ecam_wr(&c->host, PCI_BASE_ADDRESS_2, 0x00100000, 4);	/* low half only */
	ecam_wr(&c->host, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ecam_wr(&c->host, PCI_INTERRUPT_LINE, 0x2a, 1);
	ecam_wr(&c->host, PCI_CACHE_LINE_SIZE, 0x10, 1);
	assert_int_equal(pci_bar_addr(&c->fn, 0), MOVED_BAR0);
	assert_int_equal(c->fn.bars[2].written, 0x0f);
}

static void test_pci_round_trip(void **state)
{
	struct pci_ctx *a = pci_create(NULL), *b = pci_create(NULL);
	struct state_writer w1, w2;
	struct state_reader r;
	uint32_t v = 0;

	assert_string_equal(a->fn.name, "pci 00:00.0 fake");
	pci_busy_state(a);
	sw_init(&w1);
	assert_int_equal(pci_device_save(&a->fn, &w1), 0);

	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(pci_device_load(&b->fn, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	/* Decoding came back through bar_remap, as after the guest's writes. */
	assert_int_equal(b->nr_remaps, 2);
	assert_int_equal(b->remaps[0].bar, 0);
	assert_int_equal(b->remaps[0].old_addr, 0);
	assert_int_equal(b->remaps[0].new_addr, MOVED_BAR0);
	assert_int_equal(b->remaps[1].bar, 2);
	assert_int_equal(b->remaps[1].new_addr, a->fn.bars[2].decoded);
	sw_init(&w2);
	assert_int_equal(pci_device_save(&b->fn, &w2), 0);
	assert_same_state(&w1, &w2);

	/* The function answers where it did; the half-written BAR completes. */
	b->host.mmio.ops->mmio_read(&b->host.mmio, MOVED_BAR0 - b->host.mmio.mmio_base,
				    (uint8_t *)&v, 4);
	assert_int_equal(v, 0xabababab);
	assert_int_equal(b->bar_reads, 1);
	assert_int_equal(ecam_rd(&b->host, PCI_INTERRUPT_LINE, 1), 0x2a);
	ecam_wr(&b->host, PCI_BASE_ADDRESS_3, 0, 4);
	assert_int_equal(pci_bar_addr(&b->fn, 2), 0x00100000);

	sw_free(&w1);
	sw_free(&w2);
	pci_destroy(a);
	pci_destroy(b);
}

static void test_pci_refusals(void **state)
{
	struct pci_ctx *a = pci_create(NULL);
	const size_t bars = 1 + PCI_CFG_SPACE_EXP_SIZE;	/* devfn, config space */
	uint16_t other_id = PCI_DEVICE + 1;
	struct model other = pci_model;
	struct state_writer w;

	pci_busy_state(a);
	sw_init(&w);
	assert_int_equal(pci_device_save(&a->fn, &w), 0);
	assert_loads(&pci_model, &w);
	assert_truncations_refused(&pci_model, &w);

	assert_refused_with(&pci_model, &w, 0, 8, 1, "slot 1");
	/* Read-only bytes: the vendor ID, a BAR's type bits, the header type. */
	assert_refused_with(&pci_model, &w, 1 + PCI_VENDOR_ID, 0x1b, 1, "byte 0x000");
	assert_refused_with(&pci_model, &w, 1 + PCI_BASE_ADDRESS_0, 0x08, 1, "byte 0x010");
	assert_refused_with(&pci_model, &w, 1 + PCI_HEADER_TYPE, 0x80, 1, "byte 0x00e");
	/* Another device ID: the same state, another function. */
	other.ctx = &other_id;
	assert_refused(&other, w.buf, w.len, "byte 0x002 is 0x42, this function has 0x43");
	/* BAR state that its registers cannot explain. */
	assert_refused_with(&pci_model, &w, bars + 0, MOVED_BAR0 + 0x1000, 8, "BAR 0: address");
	assert_refused_with(&pci_model, &w, bars + 16, 0x1f, 1, "written-bytes mask");
	assert_refused_with(&pci_model, &w, bars + 8, 0, 8, "BAR 0: answered at 0x0");
	assert_refused_with(&pci_model, &w, bars + 17, 0x1000, 8, "BAR 1 does not exist");
	sw_free(&w);
	pci_destroy(a);
}

/* ---------------------------------------------------------------- MSI-X */

#define NR_VECTORS	70
#define MSIX_BAR	1
#define PBA_OFF		0x2000
#define DOORBELL	0x08090040ULL

struct msix_ctx {
	struct pci_host host;
	struct pci_device fn;
	struct msix m;
	unsigned int routes, fires;
	unsigned int route_vec[16], fire_vec[16];
	uint32_t route_data[16];
};

static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct msix_ctx *c = opaque;

	assert_int_equal(addr, DOORBELL);
	assert_true(c->routes < 16);
	c->route_vec[c->routes] = vec;
	c->route_data[c->routes++] = data;
	return 0;
}

static void sink_fire(void *opaque, unsigned int vec)
{
	struct msix_ctx *c = opaque;

	assert_true(c->fires < 16);
	c->fire_vec[c->fires++] = vec;
}

static const struct msi_sink_ops sink = { .route = sink_route, .fire = sink_fire };

static void msix_fn_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			  unsigned int len)
{
	struct msix_ctx *c = pdev->priv;

	if (off < PBA_OFF)
		msix_table_write(&c->m, off, data, len);
}

static void msix_fn_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			 unsigned int len)
{
	struct msix_ctx *c = pdev->priv;

	if (off >= PBA_OFF)
		msix_pba_read(&c->m, off - PBA_OFF, data, len);
	else
		msix_table_read(&c->m, off, data, len);
}

static void msix_fn_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct msix_ctx *c = pdev->priv;

	msix_config_written(&c->m);
}

static const struct pci_device_ops msix_fn_ops = {
	.bar_read = msix_fn_read,
	.bar_write = msix_fn_write,
	.config_written = msix_fn_config_written,
};

static void *msix_create(void *unused)
{
	struct msix_ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(pci_host_init(&c->host, NULL), 0);
	c->fn.ops = &msix_fn_ops;
	c->fn.priv = c;
	pci_device_init(&c->fn, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1);
	assert_int_equal(pci_device_add_bar(&c->fn, MSIX_BAR, 16 * KiB, false), 0);
	assert_int_equal(msix_init(&c->m, &c->fn, NR_VECTORS, MSIX_BAR, 0, PBA_OFF, &sink, c), 0);
	assert_int_equal(pci_host_add(&c->host, &c->fn), 0);
	return c;
}

/* Config space first: it holds the MSI-X Enable and Mask bits. */
static int msix_load_both(void *obj, struct state_reader *r)
{
	struct msix_ctx *c = obj;

	if (pci_device_load(&c->fn, r))
		return r->err;
	return msix_load(&c->m, r);
}

static void msix_destroy_ctx(void *obj)
{
	struct msix_ctx *c = obj;

	msix_destroy(&c->m);
	c->host.ecam.ops->destroy(&c->host.ecam);
	free(c);
}

static const struct model msix_model = { msix_create, msix_load_both, msix_destroy_ctx, NULL };

static void msix_bar_wr(struct msix_ctx *c, uint64_t off, uint32_t v)
{
	uint64_t addr = c->fn.bars[MSIX_BAR].decoded + off;

	c->host.mmio.ops->mmio_write(&c->host.mmio, addr - c->host.mmio.mmio_base,
				     (const uint8_t *)&v, 4);
}

static uint64_t msix_bar_rd64(struct msix_ctx *c, uint64_t off)
{
	uint64_t addr = c->fn.bars[MSIX_BAR].decoded + off, v = 0;

	c->host.mmio.ops->mmio_read(&c->host.mmio, addr - c->host.mmio.mmio_base,
				    (uint8_t *)&v, 8);
	return v;
}

static void msix_program(struct msix_ctx *c, unsigned int vec, uint32_t data, bool masked)
{
	msix_bar_wr(c, vec * 16 + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)DOORBELL);
	msix_bar_wr(c, vec * 16 + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	msix_bar_wr(c, vec * 16 + PCI_MSIX_ENTRY_DATA, data);
	msix_bar_wr(c, vec * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, masked);
}

/* Enabled; vectors 0 and 65 live, 1 masked with an interrupt pending. */
static void msix_busy_state(struct msix_ctx *c)
{
	ecam_wr(&c->host, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	ecam_wr(&c->host, c->m.cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	msix_program(c, 0, 0x20, false);
	msix_program(c, 1, 0x21, true);
	msix_program(c, 65, 0x61, false);
	msix_notify(&c->m, 1);
	msix_notify(&c->m, 0);
	assert_int_equal(c->fires, 1);
	assert_int_equal(msix_bar_rd64(c, PBA_OFF), 2);
}

static void msix_save_both(struct msix_ctx *c, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(pci_device_save(&c->fn, w), 0);
	assert_int_equal(msix_save(&c->m, w), 0);
}

static void test_msix_round_trip(void **state)
{
	struct msix_ctx *a = msix_create(NULL), *b = msix_create(NULL);
	struct state_writer w1, w2;
	struct state_reader r;

	msix_busy_state(a);
	msix_save_both(a, &w1);
	sr_init(&r, w1.buf, w1.len);
	assert_int_equal(msix_load_both(b, &r), 0);
	assert_int_equal(sr_finish(&r), 0);
	/* The live vectors got their routes back; nothing fired. */
	assert_int_equal(b->routes, 2);
	assert_int_equal(b->route_vec[0], 0);
	assert_int_equal(b->route_data[0], 0x20);
	assert_int_equal(b->route_vec[1], 65);
	assert_int_equal(b->fires, 0);
	msix_save_both(b, &w2);
	assert_same_state(&w1, &w2);

	/* The pending vector fires when the guest unmasks it. */
	assert_int_equal(msix_bar_rd64(b, PBA_OFF), 2);
	msix_bar_wr(b, 1 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	assert_int_equal(b->fires, 1);
	assert_int_equal(b->fire_vec[0], 1);
	assert_int_equal(b->route_data[2], 0x21);
	assert_int_equal(msix_bar_rd64(b, PBA_OFF), 0);
	msix_notify(&b->m, 65);
	assert_int_equal(b->fire_vec[1], 65);

	sw_free(&w1);
	sw_free(&w2);
	msix_destroy_ctx(a);
	msix_destroy_ctx(b);
}

static void test_msix_refusals(void **state)
{
	struct msix_ctx *a = msix_create(NULL);
	const size_t table = 1 + PCI_CFG_SPACE_EXP_SIZE + 6 * 17 + 2;
	const size_t pba = table + NR_VECTORS * 16;
	const size_t function = pba + 16;
	struct state_writer w;

	msix_busy_state(a);
	msix_save_both(a, &w);
	assert_loads(&msix_model, &w);
	assert_truncations_refused(&msix_model, &w);
	assert_refused_with(&msix_model, &w, table - 2, NR_VECTORS + 1, 2, "71 MSI-X vectors");
	assert_refused_with(&msix_model, &w, table + 16 + 0, DOORBELL + 1, 8, "not DWORD-aligned");
	assert_refused_with(&msix_model, &w, table + 16 + 12, 3, 4, "reserved bits");
	assert_refused_with(&msix_model, &w, pba + 8, 1ULL << 6, 8, "past vector 69");
	assert_refused_with(&msix_model, &w, function, 0, 1, "config space says 1, 0");
	assert_refused_with(&msix_model, &w, function + 1, 1, 1, "config space says 1, 0");
	sw_free(&w);
	msix_destroy_ctx(a);
}

/* ---------------------------------------------------------------- virtio */

#define DISK_SECTORS	256

/* One virtio device under a fake driver (virtio_driver.h). */
struct vfix {
	struct drv d;
	struct iothread *io;
	struct virtio_device *vdev;
	char disk[64];
	int peer;			/* virtio-net: the host network's end */
};

static struct vfix vf;

static int make_disk(char *path, size_t size, unsigned int sectors)
{
	uint8_t buf[512];
	int fd;

	snprintf(path, size, "/tmp/tern-state-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	for (unsigned int s = 0; s < sectors; s++) {
		memset(buf, s & 0xff, sizeof(buf));
		if (pwrite(fd, buf, sizeof(buf), s * 512LL) != sizeof(buf))
			return -1;
	}
	close(fd);
	return 0;
}

static int vfix_setup(void)
{
	memset(&vf, 0, sizeof(vf));
	vf.peer = -1;
	if (drv_ram_init(&vf.d) < 0)
		return -1;
	vf.io = iothread_create();
	return vf.io && iothread_start(vf.io) == 0 ? 0 : -1;
}

static int vfix_teardown(void **state)
{
	iothread_stop(vf.io);
	if (vf.vdev)
		vf.vdev->ops->destroy(vf.vdev);
	iothread_destroy(vf.io);
	if (vf.disk[0])
		unlink(vf.disk);
	if (vf.peer >= 0)
		close(vf.peer);
	free(vf.d.mem.hva);
	return 0;
}

/* As the snapshot code does: I/O thread paused, requests finished, save. */
static void vsave(struct virtio_device *vdev, struct state_writer *w)
{
	sw_init(w);
	assert_int_equal(iothread_pause(vf.io), 0);
	assert_int_equal(virtio_device_quiesce(vdev), 0);
	assert_int_equal(virtio_device_save(vdev, w), 0);
	iothread_resume(vf.io);
}

/* Loads @w into @fresh, makes it live, and moves the driver over to it
 * (the old device is gone, as in a new process). */
static void vrestore(struct virtio_device *fresh, const struct state_writer *w)
{
	struct state_reader r;

	assert_non_null(fresh);
	vf.vdev->ops->destroy(vf.vdev);
	fresh->transport = &drv_transport;
	fresh->transport_priv = &vf.d;
	assert_int_equal(iothread_pause(vf.io), 0);
	sr_init(&r, w->buf, w->len);
	if (virtio_device_load(fresh, &r) || sr_finish(&r))
		fail_msg("refused: %s", r.msg);
	assert_int_equal(virtio_device_revive(fresh), 0);
	iothread_resume(vf.io);
	vf.vdev = vf.d.vdev = fresh;
	for (unsigned int q = 0; q < fresh->nr_queues && q < 2; q++)
		vf.d.q[q].vq = &fresh->vqs[q];
}

static uint16_t last_avail(unsigned int q)
{
	uint16_t v;

	pthread_mutex_lock(&vf.vdev->lock);
	v = vf.vdev->vqs[q].last_avail_idx;
	pthread_mutex_unlock(&vf.vdev->lock);
	return v;
}

/* Waits (up to 5 s) for the device to have popped @n chains of queue @q. */
static void wait_popped(unsigned int q, uint16_t n)
{
	for (int i = 0; i < 5000 && last_avail(q) != n; i++)
		usleep(1000);
	assert_int_equal(last_avail(q), n);
}

/* Loads into fresh devices that @create makes on the fixture's RAM. */
static int vload(void *obj, struct state_reader *r)
{
	return virtio_device_load(obj, r);
}

static void vdestroy(void *obj)
{
	struct virtio_device *vdev = obj;

	vdev->ops->destroy(vdev);
}

/* Offsets in a virtio device's state, as virtio.c and virtqueue.c write it. */
#define VST_STATUS(h)		(h)
#define VST_OFFERED(h)		((h) + 1)
#define VST_ACCEPTED(h)		((h) + 9)
#define VST_QUEUE(h, q)		((h) + 19 + 35 * (q))
#define VQ_SIZE			0
#define VQ_READY		2
#define VQ_DESC			4
#define VQ_USED			20
#define VQ_LAST_AVAIL		28

/* ---- virtio-blk */

static uint8_t blk_request(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
			   bool data_in)
{
	uint64_t hdr = drv_alloc(&vf.d, sizeof(struct virtio_blk_outhdr), 0);
	uint64_t st = drv_alloc(&vf.d, 1, 0xee);
	struct virtio_blk_outhdr *h = drv_hva(&vf.d, hdr);
	struct drv_seg segs[3] = {
		{ hdr, sizeof(*h), false }, { data, len, data_in }, { st, 1, true },
	};
	uint16_t head, id;
	uint32_t ulen;

	h->type = type;
	h->sector = sector;
	head = drv_add(&vf.d, 0, segs, 3);
	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &ulen), 0);
	assert_int_equal(id, head);
	return *(uint8_t *)drv_hva(&vf.d, st);
}

static struct virtio_device *blk_new(const char *path, bool readonly, struct iothread *io)
{
	struct disk_config cfg = { .path = path, .readonly = readonly };

	return virtio_blk_create(&cfg, &vf.d.mem, io);
}

static void *blk_create(void *path)
{
	return blk_new(path ? path : vf.disk, false, NULL);
}

static void *blk_create_ro(void *unused)
{
	return blk_new(vf.disk, true, NULL);
}

/* io_uring may be disabled (sysctl kernel.io_uring_disabled, seccomp). */
static bool have_io_uring(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(4, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static int setup_blk(void **state)
{
	if (!have_io_uring()) {
		memset(&vf, 0, sizeof(vf));
		vf.peer = -1;
		return 0;
	}
	if (vfix_setup() < 0 || make_disk(vf.disk, sizeof(vf.disk), DISK_SECTORS) < 0)
		return -1;
	vf.vdev = blk_new(vf.disk, false, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 1, 0) : -1;
}

/* A write and a read served, so both indices are at 2. */
static void blk_busy_state(void)
{
	uint64_t buf = drv_alloc(&vf.d, 1024, 0x77);

	assert_int_equal(blk_request(VIRTIO_BLK_T_OUT, 8, buf, 1024, false), VIRTIO_BLK_S_OK);
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 3, buf, 512, true), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)drv_hva(&vf.d, buf), 3);
}

static void test_blk_round_trip(void **state)
{
	struct state_writer w1, w2;
	uint64_t buf;

	if (!vf.vdev)
		skip();
	buf = drv_alloc(&vf.d, 1024, 0);
	blk_busy_state();
	vsave(vf.vdev, &w1);
	vrestore(blk_new(vf.disk, false, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);

	/* The next request comes from avail entry 2 and is used at entry 2. */
	assert_int_equal(vf.d.q[0].used_seen, 2);
	assert_int_equal(blk_request(VIRTIO_BLK_T_IN, 8, buf, 1024, true), VIRTIO_BLK_S_OK);
	assert_int_equal(drv_used(&vf.d, 0)->idx, 3);
	assert_int_equal(((uint8_t *)drv_hva(&vf.d, buf))[1023], 0x77);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

/* Requests in flight when the pause comes are completed, not dropped. */
static void test_blk_quiesce_completes(void **state)
{
	uint64_t bufs, hdrs, st;
	struct state_writer w;

	if (!vf.vdev)
		skip();
	/* 16 chains of 3 descriptors fit the fake driver's 64-entry queue. */
	bufs = drv_alloc(&vf.d, 16 * 4096, 0);
	hdrs = drv_alloc(&vf.d, 16 * 16, 0);
	st = drv_alloc(&vf.d, 16, 0xee);
	for (unsigned int i = 0; i < 16; i++) {
		struct virtio_blk_outhdr *h = drv_hva(&vf.d, hdrs + 16 * i);
		struct drv_seg segs[3] = {
			{ hdrs + 16 * i, 16, false },
			{ bufs + 4096 * i, 4096, true },
			{ st + i, 1, true },
		};

		h->type = VIRTIO_BLK_T_IN;
		h->sector = 8 * i % DISK_SECTORS;
		drv_add(&vf.d, 0, segs, 3);
	}
	drv_kick(&vf.d, 0);
	vsave(vf.vdev, &w);
	/* Done before the save: every status written, every chain used. */
	assert_int_equal(drv_used(&vf.d, 0)->idx, 16);
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(((uint8_t *)drv_hva(&vf.d, st))[i], VIRTIO_BLK_S_OK);
		assert_int_equal(((uint8_t *)drv_hva(&vf.d, bufs))[4096 * i], (8 * i) & 0xff);
	}
	sw_free(&w);
}

static void test_blk_refusals(void **state)
{
	struct model blk = { blk_create, vload, vdestroy, NULL };
	struct model blk_ro = { blk_create_ro, vload, vdestroy, NULL };
	size_t h = header_len("virtio-blk"), q0 = VST_QUEUE(h, 0);
	char small[64];
	struct state_writer w, rng;
	struct virtio_device *r;

	if (!vf.vdev)
		skip();
	blk_busy_state();
	vsave(vf.vdev, &w);
	assert_loads(&blk, &w);
	assert_truncations_refused(&blk, &w);

	assert_refused_with(&blk, &w, q0 + VQ_SIZE, 48, 2, "size 48 is not a power of two");
	assert_refused_with(&blk, &w, q0 + VQ_SIZE, 512, 2, "size 512");
	assert_refused_with(&blk, &w, q0 + VQ_DESC, 0x1000, 8, "descriptor table at 0x1000");
	assert_refused_with(&blk, &w, q0 + VQ_DESC, DRV_RAM_GPA + DRV_RAM_SIZE - 512, 8,
			    "descriptor table");
	assert_refused_with(&blk, &w, q0 + VQ_USED, DRV_RAM_GPA + 2, 8, "used ring");
	assert_refused_with(&blk, &w, q0 + VQ_READY, 3, 1, "queue enable is 3");
	assert_refused_with(&blk, &w, q0 + VQ_LAST_AVAIL, 5, 2, "requests in flight");
	assert_refused_with(&blk, &w, VST_ACCEPTED(h), vf.vdev->host_features | 1ULL << 30, 8,
			    "features 0x40000000 accepted but never offered");
	assert_refused_with(&blk, &w, VST_ACCEPTED(h), 1ULL << VIRTIO_BLK_F_FLUSH, 8,
			    "without VERSION_1");
	assert_refused_with(&blk, &w, VST_STATUS(h), 0x1f, 1, "status 0x1f");
	assert_refused_with(&blk, &w, VST_QUEUE(h, 0) - 2, 2, 2, "2 queues");

	/* Other configurations: a read-only disk offers more, a smaller one
	 * has another capacity. */
	assert_refused(&blk_ro, w.buf, w.len, "features offered");
	assert_int_equal(make_disk(small, sizeof(small), DISK_SECTORS / 2), 0);
	blk.ctx = small;
	assert_refused(&blk, w.buf, w.len, "configuration byte 0 is 0x00, this device has 0x80");
	unlink(small);

	/* Another model. */
	r = virtio_rng_create(&vf.d.mem, NULL);
	assert_non_null(r);
	sw_init(&rng);
	assert_int_equal(virtio_device_save(r, &rng), 0);
	blk.ctx = NULL;
	assert_refused(&blk, rng.buf, rng.len, "state of a virtio-rng, not of a virtio-blk");
	r->ops->destroy(r);
	sw_free(&rng);
	sw_free(&w);
}

/* ---- virtio-net */

#define NET_HDR	12

static const struct net_config net_cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };

static struct virtio_device *net_new(const struct net_config *cfg, struct iothread *io, int *peer)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	if (peer)
		*peer = sv[1];
	else
		close(sv[1]);
	return virtio_net_create_fd(sv[0], cfg, &vf.d.mem, io);
}

static void *net_create(void *cfg)
{
	return net_new(cfg ? cfg : &net_cfg, NULL, NULL);
}

static int setup_net(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = net_new(&net_cfg, vf.io, &vf.peer);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 2, 0) : -1;
}

static void net_send(uint32_t len, int seed)
{
	uint8_t buf[2048] = { 0 };

	for (uint32_t i = NET_HDR; i < len; i++)
		buf[i] = (uint8_t)(seed + i);
	assert_int_equal(send(vf.peer, buf, len, 0), len);
}

static uint64_t net_post_rx(uint32_t len)
{
	uint64_t gpa = drv_alloc(&vf.d, len, 0xee);
	struct drv_seg s = { gpa, len, true };

	drv_add(&vf.d, 0, &s, 1);
	return gpa;
}

/* The receive buffer the device holds at the save. */
struct held_buf {
	uint16_t head;
	uint64_t gpa;
};

/*
 * One frame received and one sent; then a 40-byte receive buffer popped
 * for a 300-byte frame that waits for more: the device holds it.
 */
static struct held_buf net_busy_state(void)
{
	uint64_t tx = drv_alloc(&vf.d, NET_HDR + 50, 0x33);
	struct drv_seg s = { tx, NET_HDR + 50, false };
	struct held_buf held;
	uint8_t got[128];
	uint16_t id;
	uint32_t len;

	net_post_rx(2048);
	net_send(100, 1);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(len, 100);
	drv_add(&vf.d, 1, &s, 1);
	drv_kick(&vf.d, 1);
	assert_int_equal(drv_wait_used(&vf.d, 1, &id, &len), 0);
	assert_int_equal(recv(vf.peer, got, sizeof(got), 0), NET_HDR + 50);

	held.head = vf.d.q[0].next_desc;
	held.gpa = net_post_rx(40);
	net_send(300, 2);
	wait_popped(0, 2);
	return held;
}

static void test_net_round_trip(void **state)
{
	struct held_buf held = net_busy_state();
	struct virtio_net_hdr_mrg_rxbuf *hdr = drv_hva(&vf.d, held.gpa);
	size_t q0 = VST_QUEUE(header_len("virtio-net"), 0);
	struct state_writer w1, w2;
	int old_peer = vf.peer;
	uint16_t id;
	uint32_t len;

	vsave(vf.vdev, &w1);
	/* The held buffer goes back to the ring in the saved state. */
	assert_int_equal(get_le(w1.buf + q0 + VQ_LAST_AVAIL, 2), 1);
	vrestore(net_new(&net_cfg, vf.io, &vf.peer), &w1);
	close(old_peer);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);

	/* The next frame takes the handed-back buffer first, then a new one. */
	net_send(300, 3);
	wait_popped(0, 2);
	net_post_rx(2048);
	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(id, held.head);
	assert_int_equal(len, 40);
	assert_int_equal(hdr->num_buffers, 2);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(len, 260);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

static void test_net_refusals(void **state)
{
	struct model net = { net_create, vload, vdestroy, NULL };
	struct net_config other_mac = net_cfg;
	struct state_writer w;

	net_busy_state();
	vsave(vf.vdev, &w);
	assert_loads(&net, &w);
	assert_truncations_refused(&net, &w);
	other_mac.mac[5] = 0x57;
	net.ctx = &other_mac;
	assert_refused(&net, w.buf, w.len, "configuration byte 5 is 0x56, this device has 0x57");
	sw_free(&w);
}

/* ---- virtio-rng and virtio-console */

static int setup_rng(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = virtio_rng_create(&vf.d.mem, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 1, 0) : -1;
}

static uint32_t rng_request(uint32_t size)
{
	uint64_t buf = drv_alloc(&vf.d, size, 0);
	struct drv_seg s = { buf, size, true };
	uint16_t head = drv_add(&vf.d, 0, &s, 1), id;
	uint32_t len;

	drv_kick(&vf.d, 0);
	assert_int_equal(drv_wait_used(&vf.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	return len;
}

static void *rng_create(void *unused)
{
	return virtio_rng_create(&vf.d.mem, NULL);
}

static void test_rng_round_trip(void **state)
{
	struct model rng = { rng_create, vload, vdestroy, NULL };
	struct state_writer w1, w2;

	assert_int_equal(rng_request(64), 64);
	assert_int_equal(rng_request(16), 16);
	vsave(vf.vdev, &w1);
	assert_truncations_refused(&rng, &w1);
	vrestore(virtio_rng_create(&vf.d.mem, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);
	assert_int_equal(rng_request(32), 32);
	assert_int_equal(drv_used(&vf.d, 0)->idx, 3);
	sw_free(&w1);
	sw_free(&w2);
}

static int setup_console(void **state)
{
	if (vfix_setup() < 0)
		return -1;
	vf.vdev = virtio_console_create_pty(&vf.d.mem, vf.io);
	return vf.vdev ? drv_attach(&vf.d, vf.vdev, 2, 0) : -1;
}

static void *console_create(void *unused)
{
	return virtio_console_create_pty(&vf.d.mem, NULL);
}

/* Output sent; a receive buffer popped, waiting for input that never came. */
static void test_console_round_trip(void **state)
{
	struct model con = { console_create, vload, vdestroy, NULL };
	uint64_t tx = drv_alloc(&vf.d, 6, 0);
	struct drv_seg s = { tx, 6, false };
	struct state_writer w1, w2;
	uint16_t id;
	uint32_t len;

	memcpy(drv_hva(&vf.d, tx), "hello\n", 6);
	drv_add(&vf.d, 1, &s, 1);
	drv_kick(&vf.d, 1);
	assert_int_equal(drv_wait_used(&vf.d, 1, &id, &len), 0);
	s = (struct drv_seg){ drv_alloc(&vf.d, 64, 0), 64, true };
	drv_add(&vf.d, 0, &s, 1);
	drv_kick(&vf.d, 0);
	wait_popped(0, 1);

	vsave(vf.vdev, &w1);
	assert_loads(&con, &w1);
	assert_truncations_refused(&con, &w1);
	vrestore(virtio_console_create_pty(&vf.d.mem, vf.io), &w1);
	vsave(vf.vdev, &w2);
	assert_same_state(&w1, &w2);
	/* The buffer is the device's again once it looks. */
	assert_int_equal(last_avail(0), 0);
	drv_kick(&vf.d, 0);
	assert_int_equal(last_avail(0), 1);
	assert_int_equal(vf.d.needs_reset, 0);
	sw_free(&w1);
	sw_free(&w2);
}

/* ---------------------------------------------------------------- I/O thread */

struct counter {
	int fd;
	_Atomic unsigned int runs;
};

static void count_event(void *opaque, uint32_t events)
{
	struct counter *c = opaque;
	uint64_t n;

	if (read(c->fd, &n, sizeof(n)) == sizeof(n))
		c->runs++;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void wait_runs(struct counter *c, unsigned int n)
{
	for (int i = 0; i < 5000 && c->runs < n; i++)
		usleep(1000);
	assert_int_equal(c->runs, n);
}

static void test_iothread_pause(void **state)
{
	struct iothread *io = iothread_create();
	struct counter c = { .fd = eventfd(0, EFD_NONBLOCK) };

	assert_non_null(io);
	assert_true(c.fd >= 0);
	assert_int_equal(iothread_add(io, c.fd, EPOLLIN, count_event, &c), 0);
	/* Paused before it starts: it starts paused. */
	assert_int_equal(iothread_pause(io), 0);
	assert_int_equal(iothread_start(io), 0);
	signal_fd(c.fd);
	usleep(50 * 1000);
	assert_int_equal(c.runs, 0);
	iothread_resume(io);
	wait_runs(&c, 1);

	/* Paused while running, twice over: no handler until the resume. */
	assert_int_equal(iothread_pause(io), 0);
	assert_int_equal(iothread_pause(io), 0);
	signal_fd(c.fd);
	usleep(50 * 1000);
	assert_int_equal(c.runs, 1);
	iothread_resume(io);
	wait_runs(&c, 2);
	iothread_resume(io);		/* not paused: nothing */
	signal_fd(c.fd);
	wait_runs(&c, 3);

	/* Stopping a paused thread works. */
	assert_int_equal(iothread_pause(io), 0);
	iothread_destroy(io);
	close(c.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart_round_trip),
		cmocka_unit_test(test_uart_refusals),
		cmocka_unit_test(test_pci_round_trip),
		cmocka_unit_test(test_pci_refusals),
		cmocka_unit_test(test_msix_round_trip),
		cmocka_unit_test(test_msix_refusals),
		cmocka_unit_test_setup_teardown(test_blk_round_trip, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_blk_quiesce_completes, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_blk_refusals, setup_blk, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_net_round_trip, setup_net, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_net_refusals, setup_net, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_rng_round_trip, setup_rng, vfix_teardown),
		cmocka_unit_test_setup_teardown(test_console_round_trip, setup_console,
						vfix_teardown),
		cmocka_unit_test(test_iothread_pause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
