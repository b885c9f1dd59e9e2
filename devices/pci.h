/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_PCI_H
#define TERN_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/pci_regs.h>	/* PCI_CFG_SPACE_SIZE (256), PCI_CFG_SPACE_EXP_SIZE (4096) */

#include "device.h"

/*
 * A PCIe host bridge with ECAM ("pci-host-ecam-generic"), bus 0 only, and
 * type 0 endpoint functions (function 0 of each slot). Config space is what
 * the guest reads through ECAM; writes go through a per-byte write mask, so
 * read-only fields stay read-only whatever the guest writes. BARs are 32 or
 * 64-bit memory BARs or I/O BARs, sized by the usual all-ones protocol,
 * assigned by tern at creation (in the 32-bit window, the 64-bit
 * prefetchable one or the I/O window) and movable by the guest.
 * Everything reachable from the guest (ECAM offsets, BAR addresses) is
 * untrusted input: any value is accepted without crashing.
 */
#define PCI_MAX_SLOTS		32
#define PCI_NUM_BARS		6

struct pci_device;
struct state_writer;
struct state_reader;

struct pci_device_ops {
	/* Guest reset (pci_host_reset), after config space is back to its
	 * power-on state. */
	void (*reset)(struct pci_device *pdev);
	/* Access at @off inside BAR @bar (memory decoding on, @off+@len inside). */
	void (*bar_read)(struct pci_device *pdev, int bar, uint64_t off, void *data,
			 unsigned int len);
	void (*bar_write)(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			  unsigned int len);
	/* BAR @bar now answers at @new_addr instead of @old_addr (0: not decoded),
	 * after a BAR write or a Memory Space Enable change: move ioeventfds. */
	void (*bar_remap)(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t new_addr);
	/* A guest config write changed [off, off+len) (after the write mask). */
	void (*config_written)(struct pci_device *pdev, uint32_t off, uint32_t len);
	/*
	 * Optional, both: a guest config read or write of @len bytes at @off (valid: 1, 2 or
	 * 4 naturally aligned bytes) that the model serves itself instead of
	 * the config array, e.g. a passed-through device's live registers.
	 * Returns true when it did; false leaves it to the array and write
	 * mask. Called with the host's lock held (same rules as bar_remap).
	 */
	bool (*config_read)(struct pci_device *pdev, uint32_t off, uint8_t *data,
			    unsigned int len);
	bool (*config_write)(struct pci_device *pdev, uint32_t off, const uint8_t *data,
			     unsigned int len);
	/*
	 * Snapshot state of the whole function, model included (see
	 * devices/device.h for the rules); called with the host's lock held,
	 * the vCPUs parked and the I/O thread paused. NULL: nothing to save.
	 */
	int (*save)(struct pci_device *pdev, struct state_writer *w);
	int (*load)(struct pci_device *pdev, struct state_reader *r);
	/* Finish (not drop) whatever the model has in flight, with the I/O
	 * thread paused, so that save sees a settled device. -errno. */
	int (*quiesce)(struct pci_device *pdev);
};

struct pci_bar {
	uint64_t size;			/* power of two, >= 4 KiB (I/O: 4..256); 0: no BAR */
	bool is64;			/* takes this BAR's register and the next */
	bool io;			/* I/O BAR: addr is a port, decoded its CPU address */
	bool prefetch;			/* prefetchable: 64-bit window (64-bit BARs only) */
	/* Kept by pci.c, under host->lock: */
	uint64_t assigned;		/* tern's address, restored at reset */
	uint64_t addr;			/* address as last fully written */
	uint64_t decoded;		/* where it answers now; 0: nowhere */
	uint8_t written;		/* register bytes written since @addr was taken */
};

#define PCI_NAME_MAX		48

struct pci_device {
	const struct pci_device_ops *ops;
	void *priv;
	const char *model;		/* "virtio-blk"; set by the model before pci_host_add */
	char name[PCI_NAME_MAX];	/* "pci 00:02.0 virtio-blk", set by pci_host_add */
	uint8_t devfn;			/* slot << 3, function 0 */
	uint8_t cfg[PCI_CFG_SPACE_EXP_SIZE];	/* per function, ECAM */
	uint8_t wmask[PCI_CFG_SPACE_EXP_SIZE];	/* guest-writable bits */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t last_cap;		/* end of the capability list (builder) */
	/* A function whose state lives outside tern (a passed-through host
	 * device): snapshots and migrations are refused, naming it. */
	bool no_migration;
};

/* Header type 0 with the IDs; capability list empty; command register's
 * Memory Space Enable and Bus Master Enable writable. */
void pci_device_init(struct pci_device *pdev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id);

/* Declares memory BAR @bar of @size bytes (64-bit uses @bar and @bar+1).
 * -EINVAL for a bad index/size. */
int pci_device_add_bar(struct pci_device *pdev, int bar, uint64_t size, bool is64);

/* Declares I/O BAR @bar of @size ports (a power of two, 4 to 256), and
 * makes the command register's I/O Space Enable writable. -EINVAL for a
 * bad index or size. */
int pci_device_add_io_bar(struct pci_device *pdev, int bar, uint32_t size);

/* Marks 64-bit BAR @bar prefetchable: the type bit the guest reads, and
 * tern places it in the 64-bit window. -EINVAL for another BAR. */
int pci_device_set_prefetchable(struct pci_device *pdev, int bar);

/* Appends a capability: @body is the capability after its 2-byte header
 * (ID, next), @len bytes of it. Returns the capability's config offset, or
 * -ENOSPC when the 256-byte config space is full. */
int pci_device_add_cap(struct pci_device *pdev, uint8_t cap_id, const void *body, uint8_t len);

/* The BAR's current guest address, or 0 when memory decoding is off. */
uint64_t pci_bar_addr(const struct pci_device *pdev, int bar);

/* Config space accessors for the device model's own use. */
uint32_t pci_cfg_read(const struct pci_device *pdev, uint32_t off, unsigned int len);
void pci_cfg_write_wmask(struct pci_device *pdev, uint32_t off, uint32_t mask, unsigned int len);

/*
 * The function's own snapshot state: config space and BAR state. Loading
 * refuses a state whose read-only config bytes differ from this function's
 * (another device, or another configuration of it), then makes the BARs
 * decode where they did, through ops->bar_remap as a guest write would.
 * Called with the guest stopped (no ECAM or BAR access meanwhile).
 */
int pci_device_save(const struct pci_device *pdev, struct state_writer *w);
int pci_device_load(struct pci_device *pdev, struct state_reader *r);

/*
 * The SPI that legacy interrupt @pin (1 = INTA .. 4 = INTD) of the function
 * in @devfn's slot raises: the bridge's interrupt-map in the device tree
 * says the same (the usual swizzle over LAYOUT_PCI_INTX_LINES SPIs).
 */
unsigned int pci_intx_spi(uint8_t devfn, unsigned int pin);

static inline uint16_t pci_requester_id(const struct pci_device *pdev)
{
	return pdev->devfn;		/* bus 0 */
}

struct pci_host {
	struct device ecam;		/* ECAM window: config space of bus 0 */
	struct device mmio;		/* 32-bit MMIO window: BARs */
	struct device mmio64;		/* 64-bit prefetchable window; size 0: none */
	struct device io;		/* I/O window: registered when io_window */
	struct pci_device *slots[PCI_MAX_SLOTS];
	uint64_t mmio_next;		/* BAR allocator */
	uint64_t mmio64_base;		/* 64-bit prefetchable window; size 0: none */
	uint64_t mmio64_size;
	uint64_t mmio64_next;		/* its BAR allocator */
	/* An I/O window in "ranges" (LAYOUT_PCI_IO_BASE) and host->io serving
	 * it: set by pci_host_add for a function with I/O BARs, and for
	 * --firmware (EDK2's older FdtPciHostBridgeLib refuses a host bridge
	 * without one). */
	bool io_window;
	uint64_t io_next;		/* I/O port allocator */
	pthread_mutex_t lock;		/* config space and BAR map (vCPU threads) */
	/* Under lock: the BAR of the last window access, tried first. */
	struct pci_device *last_pdev;
	int last_bar;
};

struct mem_layout;

/* Windows from vmm/layout.h (the 64-bit one from @layout; NULL: none).
 * Register host->ecam, host->mmio and (size not 0) host->mmio64 as devices; the ECAM device's fdt_node
 * describes the bridge: device_type "pci", compatible "pci-host-ecam-generic",
 * bus-range <0 0>, #address-cells 3, #size-cells 2, ranges for the 32-bit and
 * 64-bit windows, dma-coherent, msi-map = <0 ITS 0 0x10000> (requester ID =
 * ITS DeviceID), and an interrupt-map for INTA..INTD of every slot
 * (pci_intx_spi). */
int pci_host_init(struct pci_host *host, const struct mem_layout *layout);

/* Puts @pdev in the next free slot and assigns its BARs, naturally aligned.
 * -ENOSPC when no slot or window space is left. The caller registers
 * host->io as a device once every function is in, if host->io_window. */
int pci_host_add(struct pci_host *host, struct pci_device *pdev);

void pci_host_reset(struct pci_host *host);	/* guest reset: BARs back, decode off */

#endif
