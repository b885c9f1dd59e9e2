// SPDX-License-Identifier: GPL-2.0-only
/*
 * pci-testdev driven as kvm-unit-tests' pci-test drives it (lib/pci-testdev.c
 * there): through the PCI host's ECAM and its memory and I/O windows. KVM's
 * half, the ioeventfds, is recorded by the stubs below; that KVM takes the
 * writes is the lab's kvm-unit-tests run.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pci.h"
#include "devices/pci_testdev.h"
#include "migration/state.h"
#include "vmm/layout.h"
#include "vmm/msi.h"

#define MAX_CALLS	16

struct ioeventfd_call {
	uint64_t addr;
	unsigned int len;
	bool assign, match;
	uint64_t data;
};

static struct ioeventfd_call calls[MAX_CALLS];
static unsigned int nr_calls;
static int ioeventfd_ret;

static int record(uint64_t addr, unsigned int len, bool assign, bool match, uint64_t data)
{
	assert_true(nr_calls < MAX_CALLS);
	calls[nr_calls++] = (struct ioeventfd_call){ addr, len, assign, match, data };
	return ioeventfd_ret;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign)
{
	assert_true(efd >= 0);
	(void)vm;
	return record(addr, len, assign, false, 0);
}

int vm_ioeventfd_match(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign,
		       uint64_t datamatch)
{
	assert_true(efd >= 0);
	(void)vm;
	return record(addr, len, assign, true, datamatch);
}

static void assert_call(unsigned int i, uint64_t addr, bool assign, bool match, uint64_t data)
{
	assert_true(i < nr_calls);
	assert_int_equal(calls[i].addr, addr);
	assert_int_equal(calls[i].len, 1);
	assert_int_equal(calls[i].assign, assign);
	assert_int_equal(calls[i].match, match);
	if (match)
		assert_int_equal(calls[i].data, data);
}

struct ctx {
	struct pci_host host;
	struct pci_device *dev;
	uint64_t mem, io;		/* where BAR 0 and BAR 1 decode */
};

static void cfg_wr(struct ctx *c, unsigned int reg, uint32_t v, unsigned int len)
{
	c->host.ecam.ops->mmio_write(&c->host.ecam, reg, (const uint8_t *)&v, len);
}

static uint32_t cfg_rd(struct ctx *c, unsigned int reg, unsigned int len)
{
	uint32_t v = 0;

	c->host.ecam.ops->mmio_read(&c->host.ecam, reg, (uint8_t *)&v, len);
	return v;
}

/* A guest access at CPU address @addr: the memory or the I/O window. */
static struct device *window(struct ctx *c, uint64_t addr)
{
	return addr >= LAYOUT_PCI_IO_BASE && addr < LAYOUT_PCI_IO_BASE + LAYOUT_PCI_IO_SIZE ?
		       &c->host.io :
		       &c->host.mmio;
}

static uint32_t rd(struct ctx *c, uint64_t addr, unsigned int len)
{
	struct device *w = window(c, addr);
	uint32_t v = 0x5a5a5a5a;

	w->ops->mmio_read(w, addr - w->mmio_base, (uint8_t *)&v, len);
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

static void wr(struct ctx *c, uint64_t addr, uint32_t v, unsigned int len)
{
	struct device *w = window(c, addr);

	w->ops->mmio_write(w, addr - w->mmio_base, (const uint8_t *)&v, len);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(pci_host_init(&c->host, NULL), 0);
	c->dev = pci_testdev_create(NULL);
	assert_non_null(c->dev);
	assert_int_equal(pci_host_add(&c->host, c->dev), 0);
	assert_true(c->host.io_window);
	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	c->mem = pci_bar_addr(c->dev, 0);
	c->io = pci_bar_addr(c->dev, 1);
	assert_int_equal(c->mem, LAYOUT_PCI_MMIO32_BASE);
	assert_int_equal(c->io, LAYOUT_PCI_IO_BASE + 0x1000);
	nr_calls = 0;
	ioeventfd_ret = 0;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	pci_testdev_destroy(c->dev);
	c->host.ecam.ops->destroy(&c->host.ecam);
	free(c);
	return 0;
}

/* The header's name, read a byte at a time as pci-test does. */
static void read_name(struct ctx *c, uint64_t bar, char *name, size_t size)
{
	size_t i;

	for (i = 0; i + 1 < size; i++) {
		name[i] = (char)rd(c, bar + 16 + i, 1);
		if (!name[i])
			break;
	}
	name[i] = 0;
}

static void test_identity(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(cfg_rd(c, PCI_VENDOR_ID, 2), 0x1b36);
	assert_int_equal(cfg_rd(c, PCI_DEVICE_ID, 2), 0x0005);
	assert_int_equal(cfg_rd(c, PCI_BASE_ADDRESS_0, 4), LAYOUT_PCI_MMIO32_BASE);
	assert_int_equal(cfg_rd(c, PCI_BASE_ADDRESS_1, 4), 0x1000 | PCI_BASE_ADDRESS_SPACE_IO);
	cfg_wr(c, PCI_BASE_ADDRESS_1, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, PCI_BASE_ADDRESS_1, 4), 0xffffff01);	/* 256 ports */
	cfg_wr(c, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(cfg_rd(c, PCI_BASE_ADDRESS_0, 4), 0xfffff000);	/* 4 KiB */
	/* No test running: everything reads 0. */
	cfg_wr(c, PCI_BASE_ADDRESS_0, (uint32_t)LAYOUT_PCI_MMIO32_BASE, 4);
	cfg_wr(c, PCI_BASE_ADDRESS_1, 0x1000, 4);
	assert_int_equal(rd(c, c->mem + 4, 4), 0);
	assert_int_equal(rd(c, c->io + 1, 1), 0);
}

/* pci_testdev_one(): start the test, check its header, write its data byte
 * 16 times at its offset, read the count. */
static uint32_t pci_test_one(struct ctx *c, uint64_t bar, unsigned int nr, uint32_t offset,
			 uint8_t data, const char *name)
{
	char got[40];

	wr(c, bar, nr, 1);
	assert_int_equal(rd(c, bar + 12, 4), 0);			/* count */
	assert_int_equal(rd(c, bar + 1, 1), 1);				/* width */
	assert_int_equal(rd(c, bar + 8, 4), data);			/* data */
	assert_int_equal(rd(c, bar + 4, 4), offset);			/* offset */
	read_name(c, bar, got, sizeof(got));
	assert_string_equal(got, name);
	for (int i = 0; i < 16; i++)
		wr(c, bar + offset, data, 1);
	return rd(c, bar + 12, 4);
}

static void test_memory_bar_tests(void **state)
{
	struct ctx *c = *state;

	/* no-eventfd: every write reaches tern and counts; other bytes not. */
	assert_int_equal(pci_test_one(c, c->mem, 0, 2048, 0xfa, "mmio-no-eventfd"), 16);
	wr(c, c->mem + 2048, 0x11, 1);
	wr(c, c->mem + 2049, 0xfa, 1);
	assert_int_equal(rd(c, c->mem + 12, 4), 16);
	assert_int_equal(nr_calls, 0);

	/* wildcard-eventfd: an ioeventfd for any byte at offset 2049. What
	 * reaches tern anyway (here: everything, KVM being a stub) counts. */
	assert_int_equal(pci_test_one(c, c->mem, 1, 2049, 0xce, "mmio-wildcard-eventfd"), 16);
	assert_int_equal(nr_calls, 1);
	assert_call(0, c->mem + 2049, true, false, 0);
	wr(c, c->mem + 2049, 0x11, 1);
	assert_int_equal(rd(c, c->mem + 12, 4), 17);

	/* datamatch-eventfd: the previous one removed, one for 0xfa placed. */
	assert_int_equal(pci_test_one(c, c->mem, 2, 2050, 0xfa, "mmio-datamatch-eventfd"), 16);
	assert_int_equal(nr_calls, 3);
	assert_call(1, c->mem + 2049, false, false, 0);
	assert_call(2, c->mem + 2050, true, true, 0xfa);
	wr(c, c->mem + 2050, 0xfb, 1);
	assert_int_equal(rd(c, c->mem + 12, 4), 16);

	/* No test 3: the last one ends, the header reads 0 (pci-test stops). */
	wr(c, c->mem, 3, 1);
	assert_int_equal(nr_calls, 4);
	assert_call(3, c->mem + 2050, false, true, 0xfa);
	assert_int_equal(rd(c, c->mem + 1, 1), 0);
	assert_int_equal(rd(c, c->mem + 12, 4), 0);
}

static void test_io_bar_tests(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pci_test_one(c, c->io, 0, 131, 0xfa, "portio-no-eventfd"), 16);
	assert_int_equal(pci_test_one(c, c->io, 1, 132, 0xce, "portio-wildcard-eventfd"), 16);
	assert_int_equal(pci_test_one(c, c->io, 2, 133, 0xfa, "portio-datamatch-eventfd"), 16);
	/* The ioeventfds sit at the ports' CPU addresses, MMIO to KVM. */
	assert_int_equal(nr_calls, 3);
	assert_call(0, c->io + 132, true, false, 0);
	assert_call(2, c->io + 133, true, true, 0xfa);
	/* The header's last byte and beyond read 0; wide reads work. */
	assert_int_equal(rd(c, c->io + 16 + strlen("portio-datamatch-eventfd"), 1), 0);
	assert_int_equal(rd(c, c->io + 200, 4), 0);
	assert_int_equal(rd(c, c->io + 0, 4), 5 | 1 << 8);	/* test 5, width 1 */
}

static void test_bar_moves_and_reset(void **state)
{
	struct ctx *c = *state;

	wr(c, c->io, 1, 1);
	assert_call(0, c->io + 132, true, false, 0);
	/* The guest moves the I/O BAR: the ioeventfd follows. */
	cfg_wr(c, PCI_BASE_ADDRESS_1, 0x2000, 4);
	assert_int_equal(nr_calls, 3);
	assert_call(1, c->io + 132, false, false, 0);
	assert_call(2, LAYOUT_PCI_IO_BASE + 0x2000 + 132, true, false, 0);
	/* Moving the other BAR changes nothing. */
	cfg_wr(c, PCI_BASE_ADDRESS_0, 0x20000000, 4);
	assert_int_equal(nr_calls, 3);
	/* I/O decoding off: removed; on again: placed again. */
	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_call(3, LAYOUT_PCI_IO_BASE + 0x2000 + 132, false, false, 0);
	cfg_wr(c, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	assert_call(4, LAYOUT_PCI_IO_BASE + 0x2000 + 132, true, false, 0);
	/* A guest reset ends the test. */
	c->host.ecam.ops->reset(&c->host.ecam);
	assert_int_equal(nr_calls, 6);
	assert_call(5, LAYOUT_PCI_IO_BASE + 0x2000 + 132, false, false, 0);
	assert_int_equal(pci_bar_addr(c->dev, 1), 0);
}

/* KVM refusing the ioeventfd: the writes come to tern and are counted. */
static void test_ioeventfd_refused(void **state)
{
	struct ctx *c = *state;

	ioeventfd_ret = -EEXIST;
	assert_int_equal(pci_test_one(c, c->mem, 2, 2050, 0xfa, "mmio-datamatch-eventfd"), 16);
	ioeventfd_ret = 0;
	/* Nothing was placed, so nothing is removed. */
	wr(c, c->mem, 0, 1);
	assert_int_equal(nr_calls, 1);
}

static void save(struct ctx *c, struct state_writer *w)
{
	sw_init(w);
	pthread_mutex_lock(&c->host.lock);
	assert_int_equal(c->dev->ops->save(c->dev, w), 0);
	pthread_mutex_unlock(&c->host.lock);
}

static int load(struct ctx *c, const struct state_writer *w)
{
	struct state_reader r;
	int ret;

	sr_init(&r, w->buf, w->len);
	pthread_mutex_lock(&c->host.lock);
	ret = c->dev->ops->load(c->dev, &r);
	pthread_mutex_unlock(&c->host.lock);
	return ret ? ret : sr_finish(&r);
}

/* A snapshot carries the running test and its count; the restored device
 * places its ioeventfd where the BAR decodes. A test that does not exist is
 * refused. */
static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct state_writer w;

	assert_int_equal(pci_test_one(c, c->mem, 1, 2049, 0xce, "mmio-wildcard-eventfd"), 16);
	save(c, &w);
	c->host.ecam.ops->reset(&c->host.ecam);
	nr_calls = 0;
	assert_int_equal(load(c, &w), 0);
	assert_int_equal(nr_calls, 1);
	assert_call(0, c->mem + 2049, true, false, 0);
	assert_int_equal(rd(c, c->mem + 12, 4), 16);
	assert_int_equal(rd(c, c->mem, 1), 1);

	w.buf[w.len - 5] = 7;	/* the running test, + 1 */
	assert_int_not_equal(load(c, &w), 0);
	sw_free(&w);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_memory_bar_tests),
		T(test_io_bar_tests),
		T(test_bar_moves_and_reset),
		T(test_ioeventfd_refused),
		T(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
