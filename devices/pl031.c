// SPDX-License-Identifier: GPL-2.0-only
/*
 * ARM PrimeCell PL031 RTC (ARM DDI 0224: DR, MR, LR, CR, IMSC, RIS, MIS,
 * ICR and the ID words at 0xFE0-0xFFC). DR reads the host's wall clock in
 * seconds plus the offset the last LR write set.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libfdt.h>

#include "vmm/fdt.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "device_state.h"
#include "pl011.h"
#include "pl031.h"

#define RTCDR		0x000
#define RTCMR		0x004
#define RTCLR		0x008
#define RTCCR		0x00c
#define RTCIMSC		0x010
#define RTCRIS		0x014
#define RTCMIS		0x018
#define RTCICR		0x01c
#define RTCID_BASE	0xfe0

/* PeriphID0-3 (part 0x031, ARM, r1) and PrimeCell ID0-3. */
static const uint8_t pl031_id[8] = { 0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

struct pl031 {
	struct device dev;
	pthread_mutex_t lock;
	int64_t offset;		/* guest seconds - host seconds */
	uint32_t mr;
	uint32_t imsc;
};

static struct pl031 *to_rtc(struct device *dev)
{
	return (struct pl031 *)((char *)dev - offsetof(struct pl031, dev));
}

static int64_t host_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static uint32_t read_reg(struct pl031 *r, uint64_t off)
{
	if (off >= RTCID_BASE)
		return pl031_id[(off - RTCID_BASE) / 4];
	switch (off) {
	case RTCDR:	return (uint32_t)(host_seconds() + r->offset);
	case RTCMR:	return r->mr;
	case RTCLR:	return (uint32_t)(host_seconds() + r->offset);
	case RTCCR:	return 1;	/* always counting */
	case RTCIMSC:	return r->imsc;
	default:	return 0;	/* RIS, MIS: the match never fires */
	}
}

static void write_reg(struct pl031 *r, uint64_t off, uint32_t val)
{
	switch (off) {
	case RTCMR:
		r->mr = val;
		break;
	case RTCLR:
		r->offset = (int64_t)val - host_seconds();
		break;
	case RTCIMSC:
		r->imsc = val & 1;
		break;
	default:
		break;		/* DR and the IDs are read-only; CR cannot stop it */
	}
}

static void pl031_mmio_read(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pl031 *r = to_rtc(dev);
	uint32_t val;

	memset(data, 0, len);
	if ((offset & 3) || len > 4)
		return;
	pthread_mutex_lock(&r->lock);
	val = read_reg(r, offset);
	pthread_mutex_unlock(&r->lock);
	memcpy(data, &val, len);
}

static void pl031_mmio_write(struct device *dev, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	struct pl031 *r = to_rtc(dev);
	uint32_t val = 0;

	if ((offset & 3) || len > 4)
		return;
	memcpy(&val, data, len);
	pthread_mutex_lock(&r->lock);
	write_reg(r, offset, val);
	pthread_mutex_unlock(&r->lock);
}

static int pl031_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	static const char compat[] = "arm,pl031\0arm,primecell";
	static const char clock_names[] = "apb_pclk";
	const fdt32_t clock = cpu_to_fdt32(FDT_PL011_CLK_PHANDLE);
	char name[32];
	int node, err;

	(void)gic_phandle;
	snprintf(name, sizeof(name), "pl031@%" PRIx64, dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0) {
		err = node;
		goto fail;
	}
	err = fdt_setprop(fdt, node, "compatible", compat, sizeof(compat));
	if (!err)
		err = fdt_setprop(fdt, node, "clock-names", clock_names, sizeof(clock_names));
	if (!err)
		err = fdt_setprop(fdt, node, "clocks", &clock, sizeof(clock));
	if (err)
		goto fail;
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	if (!err)
		err = fdt_prop_spi(fdt, node, dev->spi);
	return err ? err : node;
fail:
	pr_err("pl031: device tree: %s: %s", name, fdt_strerror(err));
	return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

/* The clock keeps the time the guest set across a guest reset, as a
 * battery-backed RTC does; only the registers go back. */
static void pl031_reset(struct device *dev)
{
	struct pl031 *r = to_rtc(dev);

	pthread_mutex_lock(&r->lock);
	r->mr = 0;
	r->imsc = 0;
	pthread_mutex_unlock(&r->lock);
}

static void pl031_destroy(struct device *dev)
{
	struct pl031 *r = to_rtc(dev);

	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---------------------------------------------------------------- snapshot */

#define PL031_STATE_VERSION	1
/* The offset is an LR value (32 bits) minus a host time in seconds since
 * 1970: anything further out than these no guest could have set. */
#define OFFSET_MAX	((int64_t)UINT32_MAX)
#define OFFSET_MIN	(-((int64_t)1 << 40))

/*
 * The guest's offset from the host's wall clock, not the time it read: the
 * RTC goes on counting across a snapshot or a move, as a battery-backed
 * clock does across a power cut, and shows the restoring host's time plus
 * what the guest set. The match register and interrupt mask; the match
 * interrupt never fires (pl031.h), so there is no line state.
 */
static int pl031_save(struct device *dev, struct state_writer *w)
{
	struct pl031 *r = to_rtc(dev);

	pthread_mutex_lock(&r->lock);
	dev_state_begin(w, dev->ops->name, PL031_STATE_VERSION);
	sw_u64(w, (uint64_t)r->offset);
	sw_u32(w, r->mr);
	sw_u8(w, (uint8_t)r->imsc);
	pthread_mutex_unlock(&r->lock);
	return w->err;
}

static int pl031_load(struct device *dev, struct state_reader *sr)
{
	struct pl031 *r = to_rtc(dev);
	int64_t offset;
	uint32_t mr;
	bool imsc;

	if (dev_state_check(sr, dev->ops->name, PL031_STATE_VERSION))
		return sr->err;
	offset = (int64_t)sr_u64(sr);
	mr = sr_u32(sr);
	imsc = dev_state_bool(sr, "RTC interrupt mask");
	if (!sr_ok(sr))
		return sr->err;
	if (offset > OFFSET_MAX || offset < OFFSET_MIN)
		return sr_fail(sr, "RTC offset %" PRId64 " s from the host's clock is beyond what a 32-bit load register can set",
			       offset);
	pthread_mutex_lock(&r->lock);
	r->offset = offset;
	r->mr = mr;
	r->imsc = imsc;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static const struct device_ops pl031_ops = {
	.name = "pl031",
	.mmio_read = pl031_mmio_read,
	.mmio_write = pl031_mmio_write,
	.fdt_node = pl031_fdt_node,
	.reset = pl031_reset,
	.save = pl031_save,
	.load = pl031_load,
	.destroy = pl031_destroy,
};

struct device *pl031_create(uint64_t base, unsigned int spi)
{
	struct pl031 *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return NULL;
	err = pthread_mutex_init(&r->lock, NULL);
	if (err) {
		free(r);
		errno = err;
		return NULL;
	}
	r->dev.ops = &pl031_ops;
	r->dev.mmio_base = base;
	r->dev.mmio_size = LAYOUT_PL031_SIZE;
	r->dev.spi = spi;
	return &r->dev;
}
