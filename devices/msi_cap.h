/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MSI_CAP_H
#define TERN_MSI_CAP_H

#include <stdbool.h>
#include <stdint.h>

struct pci_device;

/*
 * The MSI capability (PCI Local Bus 3.0, 6.8.1) of a passed-through
 * function, emulated in tern's config space: vfio-pci virtualises the
 * device's own (the host kernel programs the real one when
 * VFIO_DEVICE_SET_IRQS enables MSI), so what the guest writes there only
 * tells tern which messages to route. Pure logic, no system calls:
 * unit-tested and fuzzed; devices/vfio_msi.c acts on it.
 *
 * The guest may write: Enable and Multiple Message Enable in Message
 * Control, the address (low dword's bits 31:2; the high dword of a 64-bit
 * capability), the 16-bit data, and, when the capability has per-vector
 * masking, the mask bits of the vectors it offers. Everything else (the
 * capability's own flags, the pending bits) is read-only; nothing is
 * refused, whatever the guest writes.
 */
#define MSI_CAP_MAX_VECTORS	32

struct msi_cap {
	uint8_t cap;			/* offset in config space; 0: none */
	bool is64;			/* 64-bit address */
	bool pvm;			/* per-vector masking: mask and pending bits */
	unsigned int max_vectors;	/* Multiple Message Capable: 1, 2, 4 .. 32 */
	uint8_t data;			/* register offsets in config space */
	uint8_t mask, pending;		/* 0 without per-vector masking */
	uint8_t size;			/* bytes of the capability */
};

/* What the guest's writes say, as the device would take it. */
struct msi_cap_state {
	bool enabled;
	/* Vectors allocated: Multiple Message Enable, clamped to what the
	 * capability offers (a guest asking more gets max_vectors, as the
	 * encodings past 32 are reserved). */
	unsigned int nr_vectors;
	uint64_t addr;
	uint16_t data;
	uint32_t mask;			/* per-vector mask bits; 0 without them */
};

/*
 * The capability at @off of the device's config space @dev_cfg (256 bytes).
 * -EINVAL with a message in @err when it does not fit in config space.
 */
int msi_cap_parse(const uint8_t *dev_cfg, uint8_t off, struct msi_cap *c, char *err,
		  unsigned int errlen);

/*
 * Puts @c into @pdev's config space at its offset (header and Message
 * Control's capability bits from the device, every guest-writable field
 * 0: disabled, one vector, no message, unmasked) and opens the writable
 * bits in @pdev's write mask. The caller links the header into the list.
 */
void msi_cap_install(const struct msi_cap *c, struct pci_device *pdev, const uint8_t *dev_cfg);

/* The state @pdev's emulated capability holds now. */
void msi_cap_state(const struct msi_cap *c, const struct pci_device *pdev,
		   struct msi_cap_state *s);

/* Whether a config access [@off, +@len) touches the capability. */
bool msi_cap_touches(const struct msi_cap *c, uint32_t off, unsigned int len);

/* Vector @vec's message data: with several vectors enabled, the device
 * puts the vector number in the data's low log2(nr_vectors) bits. */
uint32_t msi_cap_vector_data(const struct msi_cap_state *s, unsigned int vec);

/* Whether vector @vec may signal: MSI enabled, @vec allocated, not masked. */
bool msi_cap_vector_live(const struct msi_cap_state *s, unsigned int vec);

/*
 * A guest read [@off, +@len) of config space overlaps the pending
 * register: patches those bytes of @data with @pending (bit i: vector i
 * has a message waiting). No-op without per-vector masking.
 */
void msi_cap_read_pending(const struct msi_cap *c, uint32_t off, uint8_t *data,
			  unsigned int len, uint32_t pending);

#endif
