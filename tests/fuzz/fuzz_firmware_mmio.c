// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the devices of a firmware boot: a PL011, a PL031 and
 * two CFI flash banks (one read-only), driven by a program of MMIO reads
 * and writes (any offset in each window, any width), console input and
 * resets. Besides the sanitizers (an access past a bank's array is caught
 * by ASan; the arrays are exactly the banks' size), it checks that:
 *  - a bank's array is mapped exactly while the bank says read-array mode,
 *    and the map callback is told only of changes;
 *  - the read-only bank's contents never change;
 *  - the PL011's interrupt is reported only when it changes (reset aside)
 *    and equals MIS != 0; receive() never takes more than 16 bytes;
 *  - the PrimeCell ID words of both PL0x1 devices read as their part numbers.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/layout.h"
#include "devices/cfi_flash.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "fuzz_input.h"

#define BANK_SIZE	CFI_BLOCK_SIZE

struct bank {
	struct device *dev;
	uint8_t *array;
	bool mapped;
};

struct fuzz {
	struct fuzz_input input;
	struct device *uart, *rtc;
	struct bank rw, ro;
	uint8_t *ro_copy;
	bool level, in_reset;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_map(void *opaque, bool mapped)
{
	struct bank *b = opaque;

	check(mapped != b->mapped);
	b->mapped = mapped;
}

static void on_irq(void *opaque, unsigned int spi, bool level)
{
	struct fuzz *f = opaque;

	check(spi == LAYOUT_PL011_SPI);
	check(level != f->level || f->in_reset);
	f->level = level;
}

static uint32_t rd32(struct device *dev, uint64_t off)
{
	uint32_t v;

	dev->ops->mmio_read(dev, off, (uint8_t *)&v, 4);
	return v;
}

static struct device *pick(struct fuzz *f, uint8_t op)
{
	switch ((op >> 5) & 3) {
	case 0: return f->uart;
	case 1: return f->rtc;
	case 2: return f->rw.dev;
	default: return f->ro.dev;
	}
}

/* Mostly low registers and the ID words, sometimes anywhere. */
static uint64_t pick_offset(struct fuzz *f, struct device *dev)
{
	uint8_t how = next(&f->input);
	uint64_t off = next(&f->input);

	off = off << 8 | next(&f->input);
	if (how & 1)
		off = off << 8 | next(&f->input);
	if (how & 2)
		off = 0xfe0 + (off & 0x1f);
	else if (how & 4)
		off &= 0x7c;
	return off % dev->mmio_size;
}

static void do_access(struct fuzz *f, uint8_t op)
{
	struct device *dev = pick(f, op);
	unsigned int len = 1u << ((op >> 3) & 3);
	uint64_t off = pick_offset(f, dev);
	uint8_t v[8];

	if (off + len > dev->mmio_size)
		return;		/* the VM never routes such an access here */
	if (op & 1) {
		for (unsigned int i = 0; i < len; i++)
			v[i] = next(&f->input);
		dev->ops->mmio_write(dev, off, v, len);
	} else {
		dev->ops->mmio_read(dev, off, v, len);
	}
}

static void do_receive(struct fuzz *f)
{
	uint8_t buf[32];
	size_t want = next(&f->input) % sizeof(buf);

	for (size_t i = 0; i < want; i++)
		buf[i] = next(&f->input);
	check(pl011_receive(f->uart, buf, want) <= 16);
}

static void do_reset(struct fuzz *f)
{
	f->in_reset = true;
	f->uart->ops->reset(f->uart);
	f->rtc->ops->reset(f->rtc);
	f->rw.dev->ops->reset(f->rw.dev);
	f->ro.dev->ops->reset(f->ro.dev);
	f->in_reset = false;
	check(!f->level && f->rw.mapped && f->ro.mapped);
}

static void check_state(struct fuzz *f)
{
	check(f->rw.mapped == cfi_flash_array_mode(f->rw.dev));
	check(f->ro.mapped == cfi_flash_array_mode(f->ro.dev));
	check(f->level == (rd32(f->uart, 0x40) != 0));		/* MIS */
	check(rd32(f->uart, 0xfe0) == 0x11 && rd32(f->uart, 0xff0) == 0x0d);
	check(rd32(f->rtc, 0xfe0) == 0x31 && rd32(f->rtc, 0xffc) == 0xb1);
}

static void make_bank(struct bank *b, uint64_t base, bool readonly)
{
	b->array = malloc(BANK_SIZE);
	if (!b->array)
		abort();
	memset(b->array, readonly ? 0x3c : 0xff, BANK_SIZE);
	b->mapped = true;
	b->dev = cfi_flash_create(base, b->array, BANK_SIZE, readonly, on_map, b);
	if (!b->dev)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f = { .input = { data, size } };
	int out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (out_fd < 0)
		abort();
	f.uart = pl011_create(LAYOUT_PL011_BASE, LAYOUT_PL011_SPI, out_fd, NULL, NULL);
	f.rtc = pl031_create(LAYOUT_PL031_BASE, LAYOUT_PL031_SPI);
	if (!f.uart || !f.rtc)
		abort();
	f.uart->set_irq = on_irq;
	f.uart->irq_opaque = &f;
	make_bank(&f.rw, LAYOUT_FLASH_VARS_BASE, false);
	make_bank(&f.ro, LAYOUT_FLASH_CODE_BASE, true);
	f.ro_copy = malloc(BANK_SIZE);
	if (!f.ro_copy)
		abort();
	memcpy(f.ro_copy, f.ro.array, BANK_SIZE);

	while (f.input.left) {
		uint8_t op = next(&f.input);

		if ((op & 7) == 6)
			do_receive(&f);
		else if ((op & 7) == 7)
			(op & 0x80) ? do_reset(&f) : check_state(&f);
		else
			do_access(&f, op);
	}
	check_state(&f);
	check(!memcmp(f.ro.array, f.ro_copy, BANK_SIZE));

	f.uart->ops->destroy(f.uart);
	f.rtc->ops->destroy(f.rtc);
	f.rw.dev->ops->destroy(f.rw.dev);
	f.ro.dev->ops->destroy(f.ro.dev);
	free(f.rw.array);
	free(f.ro.array);
	free(f.ro_copy);
	close(out_fd);
	return 0;
}
