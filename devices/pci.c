// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCIe host bridge (ECAM, bus 0) and type 0 endpoint config space.
 *
 * Config space is a byte array with a per-byte write mask: a guest write
 * changes only the masked bits, so every read-only field (IDs, class, header
 * type, capability pointers, BAR type bits and the BAR bits below its size)
 * stays what the device model made it. BAR sizing falls out of the mask: after
 * an all-ones write the register reads ~(size - 1) plus its type bits.
 *
 * BARs: memory BARs, and I/O BARs (ports in the I/O window, which the device
 * tree's "ranges" maps at LAYOUT_PCI_IO_BASE: the function answers there at
 * LAYOUT_PCI_IO_BASE + port, and the host serves that window only when a
 * function has an I/O BAR or the firmware needs one).
 * The registers are what the guest reads; what the function decodes is
 * bar->addr, taken from the registers once every byte of the BAR (8 for a
 * 64-bit one) has been written since the last time, so a half-written 64-bit
 * BAR never answers at a mix of old and new halves. The function answers at
 * bar->decoded: bar->addr while Memory Space Enable is set and the address is
 * a real one (not 0, not the all-ones sizing pattern, below 4 GiB for a 32-bit
 * BAR), else nowhere; for an I/O BAR, while I/O Space Enable is set and the
 * ports lie inside the window (port 0 included). Every change of bar->decoded
 * is reported through ops->bar_remap(old, new).
 *
 * ECAM: only bus 0, function 0 of each slot exists. Accesses of 1, 2 or 4
 * naturally aligned bytes are served; anything else (8-byte or unaligned
 * accesses, other buses and functions, empty slots) reads all-ones and writes
 * are ignored, as an Unsupported Request would on real hardware. Linux never
 * issues 8-byte config accesses, so they are not split.
 *
 * Locking: host->lock covers config space, the BAR state and the slot table.
 * ops->bar_remap, ops->config_written and ops->reset run with it held (BAR
 * moves must reach the device in the order the guest made them, and config
 * space is stable for them to read): they must not call back into the host's
 * ECAM or window handlers, nor take a lock held around a call into them. ops->bar_read and
 * ops->bar_write run without it, so device handlers may take their own locks
 * and block.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>
#include <linux/pci.h>		/* PCI_DEVFN; includes pci_regs.h */

#include "migration/le.h"
#include "migration/state.h"
#include "vmm/exit_path.h"
#include "vmm/fdt.h"
#include "vmm/layout.h"
#include "vmm/log.h"
#include "pci.h"

#define PCI_CAP_START		0x40
#define PCI_MAX_CAPS		((PCI_CFG_SPACE_SIZE - PCI_CAP_START) / 4)
#define PCI_MIN_BAR_SIZE	(4 * KiB)
/* I/O BARs: 4 to 256 ports (PCI Local Bus 3.0, 6.2.5.1); tern hands them
 * out above the legacy ISA range, where Linux starts (PCIBIOS_MIN_IO). */
#define PCI_MIN_IO_BAR_SIZE	4
#define PCI_MAX_IO_BAR_SIZE	256
#define PCI_IO_FIRST_PORT	0x1000

/* ECAM offset: bus << 20 | device << 15 | function << 12 | register. */
#define ECAM_BUS(off)		((off) >> 20)
#define ECAM_DEVFN(off)		(((off) >> 12) & 0xff)
#define ECAM_REG(off)		((off) & (PCI_CFG_SPACE_EXP_SIZE - 1))

/* Device tree: phys.hi of a PCI address (IEEE 1275 PCI binding, npt000ss). */
#define FDT_PCI_MEM32		0x02000000u
#define FDT_PCI_MEM64_PREF	0x43000000u
#define FDT_PCI_IO		0x01000000u

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* ---------------------------------------------------------------- functions */

void pci_device_init(struct pci_device *pdev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id)
{
	/* ops, priv and model are the caller's: left as they are. */
	pdev->name[0] = '\0';
	pdev->devfn = 0;
	pdev->last_cap = 0;
	memset(pdev->cfg, 0, sizeof(pdev->cfg));
	memset(pdev->wmask, 0, sizeof(pdev->wmask));
	memset(pdev->bars, 0, sizeof(pdev->bars));

	put_le(pdev->cfg + PCI_VENDOR_ID, vendor, 2);
	put_le(pdev->cfg + PCI_DEVICE_ID, device, 2);
	pdev->cfg[PCI_REVISION_ID] = revision;
	put_le(pdev->cfg + PCI_CLASS_PROG, class_code & 0xffffff, 3);
	pdev->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put_le(pdev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	put_le(pdev->cfg + PCI_SUBSYSTEM_ID, subsys_id, 2);

	put_le(pdev->wmask + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	/* Plain read-write registers with no effect here. */
	pdev->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	pdev->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static bool bar_index_ok(int bar)
{
	return bar >= 0 && bar < PCI_NUM_BARS;
}

/* Whether register @bar is in use, as a BAR or as a 64-bit BAR's upper half. */
static bool bar_reg_used(const struct pci_device *pdev, int bar)
{
	return pdev->bars[bar].size || (bar > 0 && pdev->bars[bar - 1].is64);
}

static unsigned int bar_reg(int bar)
{
	return PCI_BASE_ADDRESS_0 + 4 * bar;
}

int pci_device_add_bar(struct pci_device *pdev, int bar, uint64_t size, bool is64)
{
	uint64_t mask = ~(size - 1);
	unsigned int reg = bar_reg(bar);

	if (!bar_index_ok(bar) || (is64 && bar + 1 >= PCI_NUM_BARS))
		return -EINVAL;
	if (!is_pow2(size) || size < PCI_MIN_BAR_SIZE || (!is64 && size > (1ULL << 31)) ||
	    size > (1ULL << 63))
		return -EINVAL;
	if (bar_reg_used(pdev, bar) || (is64 && bar_reg_used(pdev, bar + 1)))
		return -EINVAL;

	pdev->bars[bar] = (struct pci_bar){ .size = size, .is64 = is64 };
	put_le(pdev->cfg + reg, is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0, 4);
	put_le(pdev->wmask + reg, (uint32_t)mask & PCI_BASE_ADDRESS_MEM_MASK, 4);
	if (is64) {
		put_le(pdev->cfg + reg + 4, 0, 4);
		put_le(pdev->wmask + reg + 4, mask >> 32, 4);
	}
	return 0;
}

int pci_device_add_io_bar(struct pci_device *pdev, int bar, uint32_t size)
{
	unsigned int reg = bar_reg(bar);

	if (!bar_index_ok(bar) || bar_reg_used(pdev, bar) || !is_pow2(size) ||
	    size < PCI_MIN_IO_BAR_SIZE || size > PCI_MAX_IO_BAR_SIZE)
		return -EINVAL;
	pdev->bars[bar] = (struct pci_bar){ .size = size, .io = true };
	put_le(pdev->cfg + reg, PCI_BASE_ADDRESS_SPACE_IO, 4);
	put_le(pdev->wmask + reg, ~(size - 1) & PCI_BASE_ADDRESS_IO_MASK, 4);
	pdev->wmask[PCI_COMMAND] |= PCI_COMMAND_IO;
	return 0;
}

/* The capability whose next pointer is 0 (0: none yet). The pointers are
 * read-only to the guest; the bound only guards against a device model
 * that wrote a loop into cfg itself. */
static unsigned int last_cap_offset(const struct pci_device *pdev)
{
	unsigned int off = pdev->cfg[PCI_CAPABILITY_LIST], n;

	if (!off)
		return 0;
	for (n = 0; n < PCI_MAX_CAPS && pdev->cfg[off + PCI_CAP_LIST_NEXT]; n++)
		off = pdev->cfg[off + PCI_CAP_LIST_NEXT];
	return off;
}

/*
 * pdev->last_cap is the end of the list: the first byte after the last
 * capability (0 before the first one). Capabilities ending past 0xff store
 * 0xff, which rounds up to 0x100: full.
 */
int pci_device_set_prefetchable(struct pci_device *pdev, int bar)
{
	if (!bar_index_ok(bar) || !pdev->bars[bar].size || !pdev->bars[bar].is64)
		return -EINVAL;
	pdev->bars[bar].prefetch = true;
	pdev->cfg[bar_reg(bar)] |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	return 0;
}

int pci_device_add_cap(struct pci_device *pdev, uint8_t cap_id, const void *body, uint8_t len)
{
	unsigned int free = pdev->last_cap ? pdev->last_cap : PCI_CAP_START;
	unsigned int off = align_up(free, 4), end = off + 2 + len, prev;

	if (end > PCI_CFG_SPACE_SIZE)
		return -ENOSPC;

	prev = last_cap_offset(pdev);
	if (prev)
		pdev->cfg[prev + PCI_CAP_LIST_NEXT] = off;
	else
		pdev->cfg[PCI_CAPABILITY_LIST] = off;
	pdev->cfg[off + PCI_CAP_LIST_ID] = cap_id;
	pdev->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (body)
		memcpy(pdev->cfg + off + 2, body, len);
	else
		memset(pdev->cfg + off + 2, 0, len);
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	pdev->last_cap = end > 0xff ? 0xff : end;
	return off;
}

uint64_t pci_bar_addr(const struct pci_device *pdev, int bar)
{
	return bar_index_ok(bar) ? pdev->bars[bar].decoded : 0;
}

static bool cfg_access_ok(uint32_t off, unsigned int len)
{
	return (len == 1 || len == 2 || len == 4) && off < PCI_CFG_SPACE_EXP_SIZE &&
	       off % len == 0;
}

uint32_t pci_cfg_read(const struct pci_device *pdev, uint32_t off, unsigned int len)
{
	return cfg_access_ok(off, len) ? get_le(pdev->cfg + off, len) : 0;
}

void pci_cfg_write_wmask(struct pci_device *pdev, uint32_t off, uint32_t mask, unsigned int len)
{
	if (cfg_access_ok(off, len))
		put_le(pdev->wmask + off, mask, len);
}

/* ---------------------------------------------------------------- BARs */

/* The address bits of a BAR register (the rest are its type). */
static uint32_t bar_addr_mask(const struct pci_bar *b)
{
	return (uint32_t)(b->io ? PCI_BASE_ADDRESS_IO_MASK : PCI_BASE_ADDRESS_MEM_MASK);
}

static uint64_t bar_regs_addr(const struct pci_device *pdev, int bar)
{
	unsigned int reg = bar_reg(bar);
	uint64_t addr = get_le(pdev->cfg + reg, 4) & bar_addr_mask(&pdev->bars[bar]);

	if (pdev->bars[bar].is64)
		addr |= (uint64_t)get_le(pdev->cfg + reg + 4, 4) << 32;
	return addr;
}

static void bar_regs_set(struct pci_device *pdev, int bar, uint64_t addr)
{
	unsigned int reg = bar_reg(bar);
	uint32_t mask = bar_addr_mask(&pdev->bars[bar]);
	uint32_t type = get_le(pdev->cfg + reg, 4) & ~mask;

	put_le(pdev->cfg + reg, ((uint32_t)addr & mask) | type, 4);
	if (pdev->bars[bar].is64)
		put_le(pdev->cfg + reg + 4, addr >> 32, 4);
}

/* Where I/O BAR @b answers: the CPU address of its ports, 0 for none. */
static uint64_t io_bar_decode(const struct pci_device *pdev, const struct pci_bar *b)
{
	if (!(pdev->cfg[PCI_COMMAND] & PCI_COMMAND_IO) || b->addr >= LAYOUT_PCI_IO_SIZE ||
	    b->size > LAYOUT_PCI_IO_SIZE - b->addr)
		return 0;
	return LAYOUT_PCI_IO_BASE + b->addr;
}

/* Where BAR @bar answers given its address and the command register. */
static uint64_t bar_decode(const struct pci_device *pdev, int bar)
{
	const struct pci_bar *b = &pdev->bars[bar];
	uint64_t last = b->addr + (b->size - 1);
	uint64_t limit = b->is64 ? UINT64_MAX : UINT32_MAX;

	if (b->size && b->io)
		return io_bar_decode(pdev, b);
	if (!b->size || !(pdev->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY))
		return 0;
	/* 0 is "unassigned"; a BAR reaching the top of its address space is
	 * the sizing pattern left in place, not an address. */
	if (!b->addr || last < b->addr || last >= limit)
		return 0;
	return b->addr;
}

static void bars_update_decode(struct pci_device *pdev)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &pdev->bars[i];
		uint64_t old = b->decoded, new = bar_decode(pdev, i);

		if (old == new)
			continue;
		b->decoded = new;
		if (pdev->ops && pdev->ops->bar_remap)
			pdev->ops->bar_remap(pdev, i, old, new);
	}
}

/* Config byte @reg was written: a BAR fully written takes its new address. */
static void bar_byte_written(struct pci_device *pdev, unsigned int reg)
{
	int bar = (reg - PCI_BASE_ADDRESS_0) / 4;
	unsigned int byte = (reg - PCI_BASE_ADDRESS_0) % 4;
	struct pci_bar *b;
	uint8_t all;

	if (bar > 0 && pdev->bars[bar - 1].is64) {
		bar--;
		byte += 4;
	}
	b = &pdev->bars[bar];
	if (!b->size)
		return;
	all = b->is64 ? 0xff : 0x0f;
	b->written |= 1u << byte;
	if (b->written == all) {
		b->written = 0;
		b->addr = bar_regs_addr(pdev, bar);
	}
}

/* A guest write of @len bytes of @val at config offset @reg (valid access). */
static void cfg_guest_write(struct pci_device *pdev, unsigned int reg, uint32_t val,
			    unsigned int len)
{
	for (unsigned int i = 0; i < len; i++, val >>= 8) {
		unsigned int r = reg + i;
		uint8_t m = pdev->wmask[r];

		pdev->cfg[r] = (pdev->cfg[r] & ~m) | (val & m);
		if (r >= PCI_BASE_ADDRESS_0 && r <= PCI_BASE_ADDRESS_5 + 3)
			bar_byte_written(pdev, r);
	}
	bars_update_decode(pdev);
	if (pdev->ops && pdev->ops->config_written)
		pdev->ops->config_written(pdev, reg, len);
}

/* ---------------------------------------------------------------- snapshot */

/*
 * Config space goes whole (4 KiB: simpler than a list of fields, and the
 * read-only part doubles as the identity check); of the BARs, what the
 * registers alone do not say: the address taken, the bytes written since,
 * and where the BAR answered. bar->assigned is tern's and comes from the
 * configuration.
 */
int pci_device_save(const struct pci_device *pdev, struct state_writer *w)
{
	sw_u8(w, pdev->devfn);
	sw_bytes(w, pdev->cfg, sizeof(pdev->cfg));
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		sw_u64(w, pdev->bars[i].addr);
		sw_u64(w, pdev->bars[i].decoded);
		sw_u8(w, pdev->bars[i].written);
	}
	return w->err;
}

/* The first config byte whose read-only bits differ, or -1. */
static int cfg_readonly_mismatch(const struct pci_device *pdev, const uint8_t *cfg)
{
	for (int off = 0; off < PCI_CFG_SPACE_EXP_SIZE; off++)
		if ((cfg[off] ^ pdev->cfg[off]) & ~pdev->wmask[off])
			return off;
	return -1;
}

/* Byte mask (of the 8 address bytes) of a BAR's register bytes in @written. */
static uint64_t written_bytes_mask(uint8_t written)
{
	uint64_t mask = 0;

	for (unsigned int i = 0; i < 8; i++)
		if (written & (1u << i))
			mask |= 0xffULL << (8 * i);
	return mask;
}

/*
 * Whether BAR @bar's saved @addr and @written fit the (already loaded)
 * registers: the address is one the registers could have held, and the
 * register bytes not written since it was taken still hold it.
 */
static int bar_state_check(const struct pci_device *pdev, int bar, uint64_t addr,
			   uint8_t written, struct state_reader *r)
{
	const struct pci_bar *b = &pdev->bars[bar];
	uint8_t all = b->is64 ? 0xff : 0x0f;
	uint64_t regs = bar_regs_addr(pdev, bar);

	if (!b->size)
		return addr || written ? sr_fail(r, "BAR %d does not exist but has state", bar) : 0;
	if (written & ~all)
		return sr_fail(r, "BAR %d: written-bytes mask 0x%x has bytes a %d-bit BAR lacks",
			       bar, written, b->is64 ? 64 : 32);
	if ((addr & (b->size - 1)) || (!b->is64 && addr > UINT32_MAX))
		return sr_fail(r, "BAR %d: address 0x%llx does not fit a %s BAR of 0x%llx bytes",
			       bar, (unsigned long long)addr, b->is64 ? "64-bit" : "32-bit",
			       (unsigned long long)b->size);
	if ((regs ^ addr) & ~written_bytes_mask(written))
		return sr_fail(r, "BAR %d: address 0x%llx but the registers say 0x%llx", bar,
			       (unsigned long long)addr, (unsigned long long)regs);
	return 0;
}

int pci_device_load(struct pci_device *pdev, struct state_reader *r)
{
	uint64_t addr[PCI_NUM_BARS], decoded[PCI_NUM_BARS];
	uint8_t cfg[PCI_CFG_SPACE_EXP_SIZE], written[PCI_NUM_BARS];
	uint8_t devfn = sr_u8(r);
	int off;

	sr_bytes(r, cfg, sizeof(cfg));
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		addr[i] = sr_u64(r);
		decoded[i] = sr_u64(r);
		written[i] = sr_u8(r);
	}
	if (!sr_ok(r))
		return r->err;
	if (devfn != pdev->devfn)
		return sr_fail(r, "saved in slot %u, this function is in slot %u", PCI_SLOT(devfn),
			       PCI_SLOT(pdev->devfn));
	off = cfg_readonly_mismatch(pdev, cfg);
	if (off >= 0)
		return sr_fail(r, "read-only config byte 0x%03x is 0x%02x, this function has 0x%02x: a different device",
			       off, cfg[off], pdev->cfg[off]);

	/* Only writable bits can differ: the copy is a guest's writes. */
	memcpy(pdev->cfg, cfg, sizeof(cfg));
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (bar_state_check(pdev, i, addr[i], written[i], r))
			return r->err;
		pdev->bars[i].addr = addr[i];
		pdev->bars[i].written = written[i];
		if (bar_decode(pdev, i) != decoded[i])
			return sr_fail(r, "BAR %d: answered at 0x%llx, but its registers say 0x%llx",
				       i, (unsigned long long)decoded[i],
				       (unsigned long long)bar_decode(pdev, i));
	}
	/* As after a guest's config write: the model hears of every move. */
	bars_update_decode(pdev);
	return 0;
}

/* ---------------------------------------------------------------- ECAM */

static struct pci_host *ecam_to_host(struct device *dev)
{
	return (struct pci_host *)((char *)dev - offsetof(struct pci_host, ecam));
}

static struct pci_host *mmio_to_host(struct device *dev)
{
	return (struct pci_host *)((char *)dev - offsetof(struct pci_host, mmio));
}

static struct pci_host *mmio64_to_host(struct device *dev)
{
	return (struct pci_host *)((char *)dev - offsetof(struct pci_host, mmio64));
}

static struct pci_host *io_to_host(struct device *dev)
{
	return (struct pci_host *)((char *)dev - offsetof(struct pci_host, io));
}

/* The function at ECAM offset @off, or NULL. Caller holds host->lock. */
static struct pci_device *ecam_function(struct pci_host *host, uint64_t off)
{
	unsigned int devfn = ECAM_DEVFN(off);

	if (ECAM_BUS(off) != 0 || PCI_FUNC(devfn) != 0)
		return NULL;
	return host->slots[PCI_SLOT(devfn)];
}

static EXIT_PATH void ecam_read(struct device *dev, uint64_t offset, uint8_t *data,
				unsigned int len)
{
	struct pci_host *host = ecam_to_host(dev);
	unsigned int reg = ECAM_REG(offset);
	struct pci_device *pdev;

	mmio_fill(data, 0xff, len);
	if (!cfg_access_ok(reg, len))
		return;
	pthread_mutex_lock(&host->lock);
	pdev = ecam_function(host, offset);
	if (pdev && !(pdev->ops && pdev->ops->config_read &&
		      pdev->ops->config_read(pdev, reg, data, len)))
		mmio_copy(data, pdev->cfg + reg, len);
	pthread_mutex_unlock(&host->lock);
}

static EXIT_PATH void ecam_write(struct device *dev, uint64_t offset, const uint8_t *data,
				 unsigned int len)
{
	struct pci_host *host = ecam_to_host(dev);
	unsigned int reg = ECAM_REG(offset);
	struct pci_device *pdev;

	if (!cfg_access_ok(reg, len))
		return;
	pthread_mutex_lock(&host->lock);
	pdev = ecam_function(host, offset);
	if (pdev && !(pdev->ops && pdev->ops->config_write &&
		      pdev->ops->config_write(pdev, reg, data, len)))
		cfg_guest_write(pdev, reg, get_le(data, len), len);
	pthread_mutex_unlock(&host->lock);
}

static int fdt_errno(int err, const char *what)
{
	pr_err("pci: device tree: %s: %s", what, fdt_strerror(err));
	return err == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
}

/* One "ranges" entry: identity-mapped PCI memory of type @space. */
static void fdt_range(fdt32_t *r, uint32_t space, uint64_t base, uint64_t size)
{
	r[0] = cpu_to_fdt32(space);
	r[1] = cpu_to_fdt32(base >> 32);
	r[2] = cpu_to_fdt32((uint32_t)base);
	r[3] = cpu_to_fdt32(base >> 32);
	r[4] = cpu_to_fdt32((uint32_t)base);
	r[5] = cpu_to_fdt32(size >> 32);
	r[6] = cpu_to_fdt32((uint32_t)size);
}

/*
 * The 64-bit window is described prefetchable: Linux puts 64-bit
 * prefetchable BARs there (a passed-through device's, pci_device_set_
 * prefetchable), decoded by host->mmio64, and keeps every non-prefetchable
 * BAR (all of tern's own) in the 32-bit window, the one host->mmio decodes.
 * A non-prefetchable 64-bit window (0x03000000) would draw every 64-bit BAR
 * there (and Linux warns that a non-prefetchable window over 4 GiB exceeds
 * what a bridge can forward).
 */
unsigned int pci_intx_spi(uint8_t devfn, unsigned int pin)
{
	return LAYOUT_PCI_INTX_SPI + (PCI_SLOT(devfn) + pin - 1) % LAYOUT_PCI_INTX_LINES;
}

/*
 * Legacy interrupts (Documentation/devicetree/bindings/pci/pci.txt and the
 * IEEE 1275 interrupt mapping): the mask keeps the slot's low two bits and
 * the pin, so 4 slots x 4 pins map every slot. Each entry: child unit
 * address (3 cells) and pin, the GIC's phandle, its unit address (its
 * #address-cells is 2), then its 3 interrupt cells (SPI, level-high).
 */
static int intx_map(void *fdt, int node, uint32_t gic_phandle)
{
	const uint32_t mask[] = { PCI_DEVFN(3, 0) << 8, 0, 0, 7 };
	fdt32_t map[LAYOUT_PCI_INTX_LINES * 4 * 10], cells[4];
	unsigned int n = 0;
	int err;

	for (unsigned int slot = 0; slot < LAYOUT_PCI_INTX_LINES; slot++)
		for (unsigned int pin = 1; pin <= 4; pin++) {
			const uint32_t e[10] = {
				PCI_DEVFN(slot, 0) << 8, 0, 0, pin, gic_phandle, 0, 0,
				FDT_GIC_SPI, pci_intx_spi(PCI_DEVFN(slot, 0), pin),
				FDT_IRQ_LEVEL_HIGH,
			};

			for (unsigned int i = 0; i < 10; i++)
				map[n++] = cpu_to_fdt32(e[i]);
		}
	for (unsigned int i = 0; i < 4; i++)
		cells[i] = cpu_to_fdt32(mask[i]);
	err = fdt_setprop_u32(fdt, node, "#interrupt-cells", 1);
	if (!err)
		err = fdt_setprop(fdt, node, "interrupt-map-mask", cells, sizeof(cells));
	if (!err)
		err = fdt_setprop(fdt, node, "interrupt-map", map, n * sizeof(map[0]));
	return err;
}

static int ecam_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	struct pci_host *host = ecam_to_host(dev);
	const uint32_t bus_range[] = { 0, 0 };
	const uint32_t msi_map[] = { 0, FDT_ITS_PHANDLE, 0, 0x10000 };
	fdt32_t ranges[3 * 7], cells[4];
	unsigned int nr_ranges = 1, i;
	char name[32];
	int node, err;

	snprintf(name, sizeof(name), "pcie@%" PRIx64, dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0)
		return fdt_errno(node, name);

	fdt_range(ranges, FDT_PCI_MEM32, host->mmio.mmio_base, host->mmio.mmio_size);
	if (host->mmio64_size)
		fdt_range(ranges + 7 * nr_ranges++, FDT_PCI_MEM64_PREF, host->mmio64_base,
			  host->mmio64_size);
	if (host->io_window) {
		/* PCI I/O ports 0.. at LAYOUT_PCI_IO_BASE: not identity-mapped. */
		fdt_range(ranges + 7 * nr_ranges, FDT_PCI_IO, 0, LAYOUT_PCI_IO_SIZE);
		ranges[7 * nr_ranges + 3] = cpu_to_fdt32(LAYOUT_PCI_IO_BASE >> 32);
		ranges[7 * nr_ranges + 4] = cpu_to_fdt32((uint32_t)LAYOUT_PCI_IO_BASE);
		nr_ranges++;
	}

	err = fdt_setprop_string(fdt, node, "compatible", "pci-host-ecam-generic");
	if (!err)
		err = fdt_setprop_string(fdt, node, "device_type", "pci");
	if (!err)
		err = fdt_setprop_u32(fdt, node, "#address-cells", 3);
	if (!err)
		err = fdt_setprop_u32(fdt, node, "#size-cells", 2);
	if (err)
		return fdt_errno(err, name);
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	if (err)
		return err;

	for (i = 0; i < 2; i++)
		cells[i] = cpu_to_fdt32(bus_range[i]);
	err = fdt_setprop(fdt, node, "bus-range", cells, 2 * sizeof(fdt32_t));
	if (!err)
		err = fdt_setprop_u32(fdt, node, "linux,pci-domain", 0);
	if (!err)
		err = fdt_setprop(fdt, node, "ranges", ranges, nr_ranges * 7 * sizeof(fdt32_t));
	for (i = 0; i < 4; i++)
		cells[i] = cpu_to_fdt32(msi_map[i]);
	/* Requester ID n is ITS DeviceID n: devfn on bus 0. */
	if (!err)
		err = fdt_setprop(fdt, node, "msi-map", cells, sizeof(cells));
	if (!err)
		err = fdt_setprop(fdt, node, "dma-coherent", NULL, 0);
	if (!err)
		err = intx_map(fdt, node, gic_phandle);
	if (err)
		return fdt_errno(err, name);
	return node;
}

/* ---------------------------------------------------------------- window */

/* Whether @b, of the window's kind (I/O or memory), decodes [addr, addr+len):
 * a memory BAR the guest put over the I/O window's addresses is not an
 * I/O BAR for it. */
static bool bar_holds(const struct pci_bar *b, bool io, uint64_t addr, unsigned int len)
{
	return b->decoded && b->io == io && addr >= b->decoded && len <= b->size &&
	       addr - b->decoded <= b->size - len;
}

/*
 * Finds the function and BAR decoding [addr, addr+len). Caller holds the
 * lock. A driver's accesses come in runs on one BAR, so the BAR of the last
 * hit is tried first; it is checked against the live decode like any other,
 * so a BAR moved or switched off since is never used.
 */
static EXIT_PATH struct pci_device *bar_lookup(struct pci_host *host, bool io, uint64_t addr,
					       unsigned int len, int *bar, uint64_t *off)
{
	struct pci_device *pdev = host->last_pdev;

	if (pdev && bar_holds(&pdev->bars[host->last_bar], io, addr, len)) {
		*bar = host->last_bar;
		*off = addr - pdev->bars[*bar].decoded;
		return pdev;
	}
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		pdev = host->slots[s];
		if (!pdev)
			continue;
		for (int i = 0; i < PCI_NUM_BARS; i++) {
			if (!bar_holds(&pdev->bars[i], io, addr, len))
				continue;
			host->last_pdev = pdev;
			host->last_bar = i;
			*bar = i;
			*off = addr - pdev->bars[i].decoded;
			return pdev;
		}
	}
	return NULL;
}

static EXIT_PATH void host_window_read(struct pci_host *host, struct device *dev, uint64_t offset,
				       uint8_t *data, unsigned int len)
{
	struct pci_device *pdev;
	uint64_t off = 0;
	int bar = 0;

	mmio_fill(data, 0, len);
	pthread_mutex_lock(&host->lock);
	pdev = bar_lookup(host, dev == &host->io, dev->mmio_base + offset, len, &bar, &off);
	pthread_mutex_unlock(&host->lock);
	if (pdev && pdev->ops && pdev->ops->bar_read)
		pdev->ops->bar_read(pdev, bar, off, data, len);
}

static EXIT_PATH void host_window_write(struct pci_host *host, struct device *dev, uint64_t offset,
					const uint8_t *data, unsigned int len)
{
	struct pci_device *pdev;
	uint64_t off = 0;
	int bar = 0;

	pthread_mutex_lock(&host->lock);
	pdev = bar_lookup(host, dev == &host->io, dev->mmio_base + offset, len, &bar, &off);
	pthread_mutex_unlock(&host->lock);
	if (pdev && pdev->ops && pdev->ops->bar_write)
		pdev->ops->bar_write(pdev, bar, off, data, len);
}

static EXIT_PATH void window_read(struct device *dev, uint64_t offset, uint8_t *data,
				  unsigned int len)
{
	host_window_read(mmio_to_host(dev), dev, offset, data, len);
}

static EXIT_PATH void window_write(struct device *dev, uint64_t offset, const uint8_t *data,
				   unsigned int len)
{
	host_window_write(mmio_to_host(dev), dev, offset, data, len);
}

static EXIT_PATH void window64_read(struct device *dev, uint64_t offset, uint8_t *data,
				    unsigned int len)
{
	host_window_read(mmio64_to_host(dev), dev, offset, data, len);
}

static EXIT_PATH void window64_write(struct device *dev, uint64_t offset, const uint8_t *data,
				     unsigned int len)
{
	host_window_write(mmio64_to_host(dev), dev, offset, data, len);
}

static EXIT_PATH void io_window_read(struct device *dev, uint64_t offset, uint8_t *data,
				     unsigned int len)
{
	host_window_read(io_to_host(dev), dev, offset, data, len);
}

static EXIT_PATH void io_window_write(struct device *dev, uint64_t offset, const uint8_t *data,
				      unsigned int len)
{
	host_window_write(io_to_host(dev), dev, offset, data, len);
}

/* ---------------------------------------------------------------- host */

/* The ECAM device owns the lock; host->mmio's destroy is a no-op, so the
 * two may be destroyed in any order. The functions belong to their models. */
static void ecam_destroy(struct device *dev)
{
	pthread_mutex_destroy(&ecam_to_host(dev)->lock);
}

static void window_destroy(struct device *dev)
{
}

static void ecam_reset(struct device *dev)
{
	pci_host_reset(ecam_to_host(dev));
}

static const struct device_ops pci_ecam_ops = {
	.name = "pci-ecam",
	.mmio_read = ecam_read,
	.mmio_write = ecam_write,
	.fdt_node = ecam_fdt_node,
	.reset = ecam_reset,
	.destroy = ecam_destroy,
};

static const struct device_ops pci_window_ops = {
	.name = "pci-mmio",
	.mmio_read = window_read,
	.mmio_write = window_write,
	.destroy = window_destroy,
};

static const struct device_ops pci_window64_ops = {
	.name = "pci-mmio64",
	.mmio_read = window64_read,
	.mmio_write = window64_write,
	.destroy = window_destroy,
};

static const struct device_ops pci_io_window_ops = {
	.name = "pci-io",
	.mmio_read = io_window_read,
	.mmio_write = io_window_write,
	.destroy = window_destroy,
};

int pci_host_init(struct pci_host *host, const struct mem_layout *layout)
{
	int err;

	memset(host, 0, sizeof(*host));
	err = pthread_mutex_init(&host->lock, NULL);
	if (err)
		return -err;
	host->ecam.ops = &pci_ecam_ops;
	host->ecam.mmio_base = LAYOUT_PCI_ECAM_BASE;
	host->ecam.mmio_size = LAYOUT_PCI_ECAM_SIZE;
	/* Its highest INTx SPI: the vGIC must have that many (devices_max_spi). */
	host->ecam.spi = LAYOUT_PCI_INTX_SPI + LAYOUT_PCI_INTX_LINES - 1;
	host->mmio.ops = &pci_window_ops;
	host->mmio.mmio_base = LAYOUT_PCI_MMIO32_BASE;
	host->mmio.mmio_size = LAYOUT_PCI_MMIO32_SIZE;
	host->mmio_next = LAYOUT_PCI_MMIO32_BASE;
	if (layout) {
		host->mmio64_base = layout->pci64_base;
		host->mmio64_size = layout->pci64_size;
	}
	host->mmio64.ops = &pci_window64_ops;
	host->mmio64.mmio_base = host->mmio64_base;
	host->mmio64.mmio_size = host->mmio64_size;
	host->mmio64_next = host->mmio64_base;
	host->io.ops = &pci_io_window_ops;
	host->io.mmio_base = LAYOUT_PCI_IO_BASE;
	host->io.mmio_size = LAYOUT_PCI_IO_SIZE;
	host->io_next = PCI_IO_FIRST_PORT;
	return 0;
}

/* Takes @size bytes, naturally aligned, at or after *@next in [@base, @end). */
static int window_take(uint64_t base, uint64_t end, uint64_t *next, uint64_t size,
		       uint64_t *addr)
{
	if (size > end - base)
		return -ENOSPC;
	*addr = align_up(*next, size);
	if (*addr < base || *addr > end - size)
		return -ENOSPC;
	*next = *addr + size;
	return 0;
}

/* Assigns every BAR of @pdev from host->mmio_next on (a 64-bit prefetchable
 * one from host->mmio64_next, when there is that window; an I/O one from
 * host->io_next), or none (-ENOSPC). */
static int assign_bars(struct pci_host *host, struct pci_device *pdev)
{
	const uint64_t end = host->mmio.mmio_base + host->mmio.mmio_size;
	const uint64_t end64 = host->mmio64_base + host->mmio64_size;
	uint64_t next = host->mmio_next, next64 = host->mmio64_next, next_io = host->io_next;
	uint64_t addr[PCI_NUM_BARS] = { 0 };

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t size = pdev->bars[i].size;
		int err;

		if (!size)
			continue;
		if (pdev->bars[i].io)
			err = window_take(0, LAYOUT_PCI_IO_SIZE, &next_io, size, &addr[i]);
		else if (pdev->bars[i].prefetch && host->mmio64_size)
			err = window_take(host->mmio64_base, end64, &next64, size, &addr[i]);
		else
			err = window_take(host->mmio.mmio_base, end, &next, size, &addr[i]);
		if (err)
			return err;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &pdev->bars[i];

		if (!b->size)
			continue;
		b->assigned = b->addr = addr[i];
		b->decoded = 0;
		b->written = 0;
		bar_regs_set(pdev, i, addr[i]);
	}
	host->mmio_next = next;
	host->mmio64_next = next64;
	if (next_io != host->io_next)
		host->io_window = true;
	host->io_next = next_io;
	return 0;
}

int pci_host_add(struct pci_host *host, struct pci_device *pdev)
{
	int slot, err = -ENOSPC;

	pthread_mutex_lock(&host->lock);
	for (slot = 0; slot < PCI_MAX_SLOTS; slot++)
		if (!host->slots[slot])
			break;
	if (slot < PCI_MAX_SLOTS)
		err = assign_bars(host, pdev);
	if (!err) {
		pdev->devfn = PCI_DEVFN(slot, 0);
		host->slots[slot] = pdev;
		snprintf(pdev->name, sizeof(pdev->name), "pci 00:%02x.0 %s", slot,
			 pdev->model ? pdev->model : "function");
	}
	pthread_mutex_unlock(&host->lock);
	return err;
}

/* Config space &= ~wmask, a word at a time (fuzzing runs this a lot). */
static void clear_writable(struct pci_device *pdev)
{
	for (unsigned int r = 0; r < PCI_CFG_SPACE_EXP_SIZE; r += 8) {
		uint64_t cfg, wmask;

		memcpy(&cfg, pdev->cfg + r, 8);
		memcpy(&wmask, pdev->wmask + r, 8);
		cfg &= ~wmask;
		memcpy(pdev->cfg + r, &cfg, 8);
	}
}

/*
 * Every guest-writable config bit goes back to 0 (the power-on value of all
 * the standard ones: decoding off, MSI-X disabled, ...), except the BARs,
 * which go back to tern's addresses. Then each function's ops->reset resets
 * the model's own state (msix_reset and the like).
 */
void pci_host_reset(struct pci_host *host)
{
	pthread_mutex_lock(&host->lock);
	for (int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *pdev = host->slots[s];

		if (!pdev)
			continue;
		clear_writable(pdev);
		for (int i = 0; i < PCI_NUM_BARS; i++) {
			struct pci_bar *b = &pdev->bars[i];

			if (!b->size)
				continue;
			b->addr = b->assigned;
			b->written = 0;
			bar_regs_set(pdev, i, b->assigned);
		}
		bars_update_decode(pdev);
		if (pdev->ops && pdev->ops->reset)
			pdev->ops->reset(pdev);
	}
	pthread_mutex_unlock(&host->lock);
}
