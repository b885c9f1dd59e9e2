// SPDX-License-Identifier: GPL-2.0-only
/*
 * Config space and BAR geometry of a passed-through PCI function: pure
 * logic (devices/vfio_cfg.h says what the guest sees and why).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "migration/le.h"
#include "msi_cap.h"
#include "vfio_cfg.h"

#define VFIO_MIN_BAR	4096u

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Bytes of capability @id's body (after its ID and next pointer) that are
 * live; 0 for capabilities tern does not show. */
static unsigned int live_body_len(const uint8_t *cfg, uint8_t off, uint8_t id)
{
	unsigned int len;

	switch (id) {
	case PCI_CAP_ID_PM:
		len = PCI_PM_SIZEOF;
		break;
	case PCI_CAP_ID_EXP:
		len = PCI_CAP_EXP_ENDPOINT_SIZEOF_V2;
		break;
	case PCI_CAP_ID_VNDR:
		/* Byte 2 is the capability's length (PCI 3.0, 6.8.3). */
		len = cfg[off + PCI_CAP_FLAGS];
		break;
	default:
		return 0;
	}
	if (len < 2 || off + len > PCI_CFG_SPACE_SIZE)
		return 0;
	return len - 2;
}

static bool cap_kept(uint8_t id)
{
	return id == PCI_CAP_ID_PM || id == PCI_CAP_ID_EXP || id == PCI_CAP_ID_VNDR ||
	       id == PCI_CAP_ID_MSIX || id == PCI_CAP_ID_MSI;
}

static int fail(char *err, unsigned int errlen, const char *msg, unsigned int a)
{
	snprintf(err, errlen, msg, a);
	return -EINVAL;
}

/* MSI-X geometry from the device's capability at @off; checked against
 * the BARs. */
static int read_msix(const uint8_t *cfg, uint8_t off, const struct vfio_bar_info *bars,
		     struct vfio_msix_info *m, char *err, unsigned int errlen)
{
	uint32_t table, pba;
	uint64_t tsize, psize, bsize;

	/* Before any byte of the capability is read: it must fit. */
	if (off > PCI_CFG_SPACE_SIZE - PCI_CAP_MSIX_SIZEOF)
		return fail(err, errlen, "MSI-X capability at 0x%x runs past config space", off);
	table = get_le(cfg + off + PCI_MSIX_TABLE, 4);
	pba = get_le(cfg + off + PCI_MSIX_PBA, 4);
	m->cap = off;
	m->nr_vectors = (get_le(cfg + off + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
	m->bar = (int)(table & PCI_MSIX_TABLE_BIR);
	m->table_off = table & PCI_MSIX_TABLE_OFFSET;
	m->pba_off = pba & PCI_MSIX_PBA_OFFSET;
	if ((pba & PCI_MSIX_PBA_BIR) != (unsigned int)m->bar)
		return fail(err, errlen, "MSI-X table and PBA in different BARs (PBA in BAR %u): not supported",
			    pba & PCI_MSIX_PBA_BIR);
	if (m->bar >= PCI_NUM_BARS || !bars[m->bar].size || bars[m->bar].io)
		return fail(err, errlen, "MSI-X table in BAR %u, which is not a memory BAR", (unsigned int)m->bar);
	bsize = bars[m->bar].size;
	tsize = (uint64_t)m->nr_vectors * 16;
	psize = (m->nr_vectors + 63) / 64 * 8ULL;
	if (m->table_off + tsize > bsize || m->pba_off + psize > bsize)
		return fail(err, errlen, "MSI-X table or PBA past the end of BAR %u", (unsigned int)m->bar);
	return 0;
}

/* BAR sizes and types; I/O BARs are noted and left out. */
static int read_bars(const uint8_t *dev_cfg, const uint64_t *region_size,
		     struct vfio_bar_info *bars, char *err, unsigned int errlen)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t reg = get_le(dev_cfg + PCI_BASE_ADDRESS_0 + 4 * i, 4);
		struct vfio_bar_info *b = &bars[i];

		memset(b, 0, sizeof(*b));
		if (!region_size[i])
			continue;
		if (reg & PCI_BASE_ADDRESS_SPACE_IO) {
			b->io = true;
			continue;
		}
		b->size = region_size[i];
		b->is64 = (reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
		b->prefetch = reg & PCI_BASE_ADDRESS_MEM_PREFETCH;
		if (!is_pow2(b->size))
			return fail(err, errlen, "BAR %u: size is not a power of two", (unsigned int)i);
		if (b->is64 && i == PCI_NUM_BARS - 1)
			return fail(err, errlen, "BAR %u: a 64-bit BAR in the last register", (unsigned int)i);
		if (b->is64)
			i++;	/* the upper half */
	}
	return 0;
}

/* Marks in @starts where each capability of the device's list begins (a
 * broken list stops the walk; copy_caps refuses it). */
static void cap_starts(const uint8_t *dev_cfg, bool starts[PCI_CFG_SPACE_SIZE])
{
	uint8_t off = dev_cfg[PCI_CAPABILITY_LIST] & ~3u;

	while (off >= PCI_STD_HEADER_SIZEOF && !starts[off]) {
		starts[off] = true;
		off = dev_cfg[off + PCI_CAP_LIST_NEXT] & ~3u;
	}
}

/* A live body stops where the next capability begins, whatever length a
 * vendor capability claims: no byte of another capability (above all the
 * emulated MSI and MSI-X) may reach the device. */
static unsigned int clamp_body(const bool starts[PCI_CFG_SPACE_SIZE], uint8_t off,
			       unsigned int body)
{
	unsigned int end = off + 2u;

	while (end < off + 2u + body && !starts[end])
		end++;
	return end - off - 2u;
}

/* A kept capability that begins inside the emulated MSI or MSI-X one
 * would be overwritten by it, or leak into it: refused. */
static int overlaps_emulated(const bool linked[PCI_CFG_SPACE_SIZE], uint8_t cap,
			     unsigned int size, const char *what, char *err, unsigned int errlen)
{
	for (unsigned int i = cap + 1u; cap && i < cap + size && i < PCI_CFG_SPACE_SIZE; i++)
		if (linked[i])
			return fail(err, errlen, what, i);
	return 0;
}

/* The emulated capabilities over whatever another one copied there. */
static int install_emulated(struct pci_device *pdev, const uint8_t *dev_cfg,
			    const bool linked[PCI_CFG_SPACE_SIZE], struct vfio_cfg *out,
			    char *err, unsigned int errlen)
{
	if (overlaps_emulated(linked, out->msix.cap, PCI_CAP_MSIX_SIZEOF,
			      "a capability at 0x%x begins inside the MSI-X capability", err, errlen) ||
	    overlaps_emulated(linked, out->msi.cap, out->msi.size,
			      "a capability at 0x%x begins inside the MSI capability", err, errlen))
		return -EINVAL;
	if (out->msix.cap) {
		memcpy(pdev->cfg + out->msix.cap + 2, dev_cfg + out->msix.cap + 2,
		       PCI_CAP_MSIX_SIZEOF - 2);
		memset(out->live + out->msix.cap, 0, PCI_CAP_MSIX_SIZEOF);
	}
	if (out->msi.cap) {
		uint8_t next = pdev->cfg[out->msi.cap + PCI_CAP_LIST_NEXT];

		msi_cap_install(&out->msi, pdev, dev_cfg);
		pdev->cfg[out->msi.cap + PCI_CAP_LIST_NEXT] = next;
		memset(out->live + out->msi.cap, 0, out->msi.size);
	}
	return 0;
}

/* Walks the device's capability list, links the kept ones into @pdev's
 * config space (at their own offsets) and marks their live bytes. */
static int copy_caps(struct pci_device *pdev, const uint8_t *dev_cfg, struct vfio_cfg *out,
		     char *err, unsigned int errlen)
{
	uint8_t off = dev_cfg[PCI_CAPABILITY_LIST] & ~3u, *link = &pdev->cfg[PCI_CAPABILITY_LIST];
	bool seen[PCI_CFG_SPACE_SIZE] = { false }, starts[PCI_CFG_SPACE_SIZE] = { false };
	bool linked[PCI_CFG_SPACE_SIZE] = { false };

	if (!(get_le(dev_cfg + PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	cap_starts(dev_cfg, starts);
	while (off) {
		uint8_t id, next;
		unsigned int body;

		if (off < PCI_STD_HEADER_SIZEOF || seen[off])
			return fail(err, errlen, "capability list broken at 0x%x (loop or header)", off);
		seen[off] = true;
		id = dev_cfg[off + PCI_CAP_LIST_ID];
		next = dev_cfg[off + PCI_CAP_LIST_NEXT] & ~3u;
		if (!cap_kept(id)) {
			if (out->nr_hidden < VFIO_CFG_MAX_CAPS)
				out->hidden_ids[out->nr_hidden++] = id;
			off = next;
			continue;
		}
		if (id == PCI_CAP_ID_MSIX) {
			if (out->msix.cap)
				return fail(err, errlen, "a second MSI-X capability at 0x%x", off);
			if (read_msix(dev_cfg, off, out->bars, &out->msix, err, errlen))
				return -EINVAL;
			memcpy(pdev->cfg + off, dev_cfg + off, PCI_CAP_MSIX_SIZEOF);
		} else if (id == PCI_CAP_ID_MSI) {
			if (out->msi.cap)
				return fail(err, errlen, "a second MSI capability at 0x%x", off);
			if (msi_cap_parse(dev_cfg, off, &out->msi, err, errlen))
				return -EINVAL;
			msi_cap_install(&out->msi, pdev, dev_cfg);
		} else {
			body = clamp_body(starts, off, live_body_len(dev_cfg, off, id));
			memcpy(pdev->cfg + off, dev_cfg + off, 2 + body);
			for (unsigned int i = 0; i < body; i++)
				out->live[off + 2 + i] = true;
		}
		*link = off;
		linked[off] = true;
		link = &pdev->cfg[off + PCI_CAP_LIST_NEXT];
		*link = 0;
		pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
		off = next;
	}
	return install_emulated(pdev, dev_cfg, linked, out, err, errlen);
}

int vfio_cfg_build(struct pci_device *pdev, const uint8_t dev_cfg[PCI_CFG_SPACE_SIZE],
		   const uint64_t region_size[PCI_NUM_BARS], struct vfio_cfg *out, char *err,
		   unsigned int errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if ((dev_cfg[PCI_HEADER_TYPE] & 0x7f) != PCI_HEADER_TYPE_NORMAL)
		return fail(err, errlen, "header type 0x%x: only endpoints (type 0) can be passed through",
			    dev_cfg[PCI_HEADER_TYPE]);
	ret = read_bars(dev_cfg, region_size, out->bars, err, errlen);
	if (ret)
		return ret;
	pci_device_init(pdev, (uint16_t)get_le(dev_cfg + PCI_VENDOR_ID, 2),
			(uint16_t)get_le(dev_cfg + PCI_DEVICE_ID, 2), get_le(dev_cfg + PCI_CLASS_PROG, 3),
			dev_cfg[PCI_REVISION_ID], (uint16_t)get_le(dev_cfg + PCI_SUBSYSTEM_VENDOR_ID, 2),
			(uint16_t)get_le(dev_cfg + PCI_SUBSYSTEM_ID, 2));
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		const struct vfio_bar_info *b = &out->bars[i];
		uint64_t size = b->size < VFIO_MIN_BAR ? VFIO_MIN_BAR : b->size;

		if (!b->size)
			continue;
		if (pci_device_add_bar(pdev, i, size, b->is64))
			return fail(err, errlen, "BAR %u: its size does not fit the 32-bit window", (unsigned int)i);
		/* Prefetchable 64-bit BARs go to the 64-bit window (its guest
		 * driver may then map it write-combining). */
		if (b->is64 && b->prefetch)
			pci_device_set_prefetchable(pdev, i);
	}
	return copy_caps(pdev, dev_cfg, out, err, errlen);
}

/* ---------------------------------------------------------------- BAR pieces */

static uint64_t down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static uint64_t up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Appends [start, end) to @out if non-empty and page-aligned. */
static int emit(uint64_t start, uint64_t end, uint64_t page, struct vfio_span *out,
		unsigned int *n, unsigned int max)
{
	if (end <= start || start % page || end % page)
		return 0;
	if (*n == max)
		return -ENOSPC;
	out[(*n)++] = (struct vfio_span){ start, end - start };
	return 0;
}

int vfio_bar_pieces(const struct vfio_span *areas, unsigned int nr_areas,
		    const struct vfio_span *holes, unsigned int nr_holes, uint64_t page_size,
		    struct vfio_span *out, unsigned int max)
{
	unsigned int n = 0;

	if (!is_pow2(page_size))
		return -EINVAL;
	for (unsigned int a = 0; a < nr_areas; a++) {
		uint64_t start = areas[a].off, end = areas[a].off + areas[a].size;

		if (end < start)
			return -EINVAL;
		/* Cut every hole out of [start, end), left to right. */
		for (;;) {
			uint64_t cut_start = end, cut_end = end;

			for (unsigned int h = 0; h < nr_holes; h++) {
				uint64_t hs = down(holes[h].off, page_size);
				uint64_t he = up(holes[h].off + holes[h].size, page_size);

				if (!holes[h].size || he <= start || hs >= end)
					continue;
				if (hs < cut_start) {
					cut_start = hs < start ? start : hs;
					cut_end = he;
				}
			}
			if (emit(start, cut_start, page_size, out, &n, max))
				return -ENOSPC;
			if (cut_end >= end)
				break;
			start = cut_end;
		}
	}
	return (int)n;
}
