// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device snapshots, the platform devices: the UART, PCI configuration and
 * MSI-X are driven into a non-trivial state through their guest interface,
 * saved, loaded into a fresh instance and saved again (byte-identical), and
 * then keep working from where they were. Then states they must refuse:
 * truncated, inconsistent, from another model, or from another
 * configuration. And the I/O thread's pause. The virtio devices are in
 * test_virtio_state.c.
 */
#include <errno.h>
#include <time.h>
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
#include "state_check.h"

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

/* A handler that blocks until @release is written (a device stuck on storage). */
struct stuck {
	int fd, release;
	_Atomic unsigned int entered, runs;
};

static void stuck_event(void *opaque, uint32_t events)
{
	struct stuck *s = opaque;
	uint64_t n;

	if (read(s->fd, &n, sizeof(n)) != sizeof(n))
		return;
	s->entered++;
	if (read(s->release, &n, sizeof(n)) == sizeof(n))	/* blocking */
		s->runs++;
}

static void test_iothread_pause_timeout(void **state)
{
	struct iothread *io = iothread_create();
	struct stuck s = { .fd = eventfd(0, EFD_NONBLOCK), .release = eventfd(0, 0) };
	struct timespec t0, t1;
	long ms;

	assert_non_null(io);
	assert_int_equal(iothread_add(io, s.fd, EPOLLIN, stuck_event, &s), 0);
	assert_int_equal(iothread_start(io), 0);
	signal_fd(s.fd);
	for (int i = 0; i < 5000 && !s.entered; i++)
		usleep(1000);
	assert_int_equal(s.entered, 1);

	/* The handler never returns: the pause gives up after its bound. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(iothread_pause_timeout(io, 200), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 190 && ms < 5000);

	/* And left the loop running: once the handler returns, events are served. */
	signal_fd(s.release);
	for (int i = 0; i < 5000 && s.runs < 1; i++)
		usleep(1000);
	assert_int_equal(s.runs, 1);
	signal_fd(s.release);		/* the next run returns at once */
	signal_fd(s.fd);
	for (int i = 0; i < 5000 && s.runs < 2; i++)
		usleep(1000);
	assert_int_equal(s.runs, 2);

	/* A pause that can succeed does, within the same bound. */
	assert_int_equal(iothread_pause_timeout(io, 200), 0);
	signal_fd(s.release);
	signal_fd(s.fd);
	usleep(50 * 1000);
	assert_int_equal(s.runs, 2);
	iothread_resume(io);
	for (int i = 0; i < 5000 && s.runs < 3; i++)
		usleep(1000);
	assert_int_equal(s.runs, 3);
	iothread_destroy(io);
	close(s.fd);
	close(s.release);
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
		cmocka_unit_test(test_iothread_pause),
		cmocka_unit_test(test_iothread_pause_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
