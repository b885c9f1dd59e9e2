/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DEVICE_H
#define TERN_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A device model is this small interface. Adding one means one new file in
 * devices/ and one line in devices_create() (devices/devices.c).
 *
 * MMIO handlers run on vCPU threads, possibly several at once: a device with
 * state takes its own lock. Accesses are 1, 2, 4 or 8 bytes; @data is in
 * guest (little-endian) byte order; @offset is relative to mmio_base and is
 * always inside [0, mmio_size). Handlers must accept any offset and length a
 * guest can produce: a guest is not trusted.
 */
struct device;
struct state_writer;
struct state_reader;

struct device_ops {
	const char *name;
	void (*mmio_read)(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len);
	void (*mmio_write)(struct device *dev, uint64_t offset, const uint8_t *data,
			   unsigned int len);
	/* Adds the device's node under the root of @fdt (libfdt read-write tree).
	 * Returns the node offset, or a negative errno. */
	int (*fdt_node)(struct device *dev, void *fdt, uint32_t gic_phandle);
	/* Back to power-on state (guest reset). */
	void (*reset)(struct device *dev);
	/*
	 * Snapshot state (migration/state.h). save runs with the vCPUs parked
	 * and the I/O thread paused, so nothing changes under it; load runs on
	 * a freshly created device of the same configuration before any vCPU
	 * runs, and must refuse (sr_fail) any value the device could not have
	 * produced itself: the stream is untrusted. NULL: no state to save.
	 */
	int (*save)(struct device *dev, struct state_writer *w);
	int (*load)(struct device *dev, struct state_reader *r);
	void (*destroy)(struct device *dev);
};

/* How a device drives its interrupt line; wired by the VM (KVM_IRQ_LINE) or
 * by a test. Level semantics: called with the line's new level. */
typedef void (*device_irq_fn)(void *opaque, unsigned int spi, bool level);

struct device {
	const struct device_ops *ops;
	uint64_t mmio_base;
	uint64_t mmio_size;
	unsigned int spi;		/* GIC SPI number: INTID = 32 + spi */
	device_irq_fn set_irq;
	void *irq_opaque;
};

static inline void device_set_irq(struct device *dev, bool level)
{
	if (dev->set_irq)
		dev->set_irq(dev->irq_opaque, dev->spi, level);
}

static inline bool device_contains(const struct device *dev, uint64_t addr, unsigned int len)
{
	return addr >= dev->mmio_base && len <= dev->mmio_size &&
	       addr - dev->mmio_base <= dev->mmio_size - len;
}

#endif
