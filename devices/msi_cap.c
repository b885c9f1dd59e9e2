// SPDX-License-Identifier: GPL-2.0-only
/*
 * The emulated MSI capability of a passed-through function
 * (devices/msi_cap.h): its layout from the device's, its write mask, and
 * what the guest's values mean. Register layout from PCI Local Bus 3.0,
 * 6.8.1 (include/uapi/linux/pci_regs.h names the offsets).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "migration/le.h"
#include "msi_cap.h"
#include "pci.h"

/* Message Control bits the device declares (read-only to the guest). */
#define MSI_FLAGS_DEVICE	(PCI_MSI_FLAGS_QMASK | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT)
#define MSI_FLAGS_GUEST		(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE)

static void set_wmask(struct pci_device *pdev, unsigned int off, uint32_t mask, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++, mask >>= 8)
		pdev->wmask[off + i] = mask & 0xff;
}

/* 1 << @log2, clamped to 32 (encodings 6 and 7 are reserved). */
static unsigned int vectors_of(unsigned int log2)
{
	return 1u << (log2 > 5 ? 5 : log2);
}

int msi_cap_parse(const uint8_t *dev_cfg, uint8_t off, struct msi_cap *c, char *err,
		  unsigned int errlen)
{
	uint16_t flags;

	memset(c, 0, sizeof(*c));
	/* Message Control must be readable before anything else is. */
	if (off > PCI_CFG_SPACE_SIZE - 4) {
		snprintf(err, errlen, "MSI capability at 0x%x runs past config space", off);
		return -EINVAL;
	}
	flags = (uint16_t)get_le(dev_cfg + off + PCI_MSI_FLAGS, 2);
	c->is64 = flags & PCI_MSI_FLAGS_64BIT;
	c->pvm = flags & PCI_MSI_FLAGS_MASKBIT;
	c->max_vectors = vectors_of((flags & PCI_MSI_FLAGS_QMASK) >> 1);
	c->data = off + (c->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32);
	c->size = (uint8_t)(c->data - off + 2);
	if (c->pvm) {
		c->mask = off + (c->is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
		c->pending = off + (c->is64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
		c->size = (uint8_t)(c->pending - off + 4);
	}
	if (off + c->size > PCI_CFG_SPACE_SIZE) {
		snprintf(err, errlen, "MSI capability at 0x%x (%u bytes) runs past config space", off,
			 c->size);
		memset(c, 0, sizeof(*c));
		return -EINVAL;
	}
	c->cap = off;
	return 0;
}

void msi_cap_install(const struct msi_cap *c, struct pci_device *pdev, const uint8_t *dev_cfg)
{
	uint16_t flags = (uint16_t)get_le(dev_cfg + c->cap + PCI_MSI_FLAGS, 2) & MSI_FLAGS_DEVICE;
	uint32_t masks = c->max_vectors == 32 ? ~0u : (1u << c->max_vectors) - 1;

	memset(pdev->cfg + c->cap, 0, c->size);
	memset(pdev->wmask + c->cap, 0, c->size);
	pdev->cfg[c->cap + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
	pdev->cfg[c->cap + PCI_MSI_FLAGS] = flags & 0xff;
	pdev->cfg[c->cap + PCI_MSI_FLAGS + 1] = flags >> 8;
	set_wmask(pdev, c->cap + PCI_MSI_FLAGS, MSI_FLAGS_GUEST, 2);
	set_wmask(pdev, c->cap + PCI_MSI_ADDRESS_LO, 0xfffffffc, 4);
	if (c->is64)
		set_wmask(pdev, c->cap + PCI_MSI_ADDRESS_HI, 0xffffffff, 4);
	set_wmask(pdev, c->data, 0xffff, 2);
	if (c->pvm)
		set_wmask(pdev, c->mask, masks, 4);
}

void msi_cap_state(const struct msi_cap *c, const struct pci_device *pdev,
		   struct msi_cap_state *s)
{
	const uint8_t *cfg = pdev->cfg;
	uint16_t flags = (uint16_t)get_le(cfg + c->cap + PCI_MSI_FLAGS, 2);
	unsigned int nr = vectors_of((flags & PCI_MSI_FLAGS_QSIZE) >> 4);

	memset(s, 0, sizeof(*s));
	s->enabled = flags & PCI_MSI_FLAGS_ENABLE;
	s->nr_vectors = nr > c->max_vectors ? c->max_vectors : nr;
	s->addr = get_le(cfg + c->cap + PCI_MSI_ADDRESS_LO, 4);
	if (c->is64)
		s->addr |= (uint64_t)get_le(cfg + c->cap + PCI_MSI_ADDRESS_HI, 4) << 32;
	s->data = (uint16_t)get_le(cfg + c->data, 2);
	if (c->pvm)
		s->mask = (uint32_t)get_le(cfg + c->mask, 4);
}

bool msi_cap_touches(const struct msi_cap *c, uint32_t off, unsigned int len)
{
	return c->cap && off < (uint32_t)c->cap + c->size && c->cap < off + len;
}

uint32_t msi_cap_vector_data(const struct msi_cap_state *s, unsigned int vec)
{
	uint32_t low = s->nr_vectors - 1;	/* nr_vectors is a power of two */

	return (s->data & ~low) | (vec & low);
}

bool msi_cap_vector_live(const struct msi_cap_state *s, unsigned int vec)
{
	return s->enabled && vec < s->nr_vectors && !(s->mask & (1u << vec));
}

void msi_cap_read_pending(const struct msi_cap *c, uint32_t off, uint8_t *data,
			  unsigned int len, uint32_t pending)
{
	if (!c->cap || !c->pvm)
		return;
	for (unsigned int i = 0; i < len; i++)
		if (off + i >= c->pending && off + i < c->pending + 4u)
			data[i] = (uint8_t)(pending >> (8 * (off + i - c->pending)));
}
