// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO-PCI passthrough: a host PCI function as a function of tern's PCI host
 * bridge (README, "Passing a host PCI device through").
 *
 * - DMA: all guest RAM is mapped at IOVA = guest physical address before
 *   any vCPU runs (vfio_host_map_dma), so the device's bus addresses are the
 *   guest's physical addresses.
 * - BARs: each mmappable area of a BAR (VFIO's sparse mmap areas, or the
 *   whole BAR) is mmapped from the VFIO device fd and, less the pages that
 *   hold the MSI-X table and PBA, registered as KVM memslots at the BAR's
 *   guest address while the guest decodes it: guest accesses to them never
 *   leave KVM, and since Linux 6.9 KVM honours the guest's own memory type
 *   there (vfio-pci's VMAs are VM_ALLOW_ANY_UNCACHED). The rest (the MSI-X
 *   pages, a BAR VFIO does not let us mmap, or a piece KVM refused because
 *   the guest placed BARs over each other) traps, through devices/pci.c's
 *   window: MSI-X table and PBA emulated (devices/msix.c), anything else
 *   read and written through the device fd. Each trapped access is counted
 *   and the counts are logged at exit.
 * - Config space: devices/vfio_cfg.c builds what the guest sees; the live
 *   capability bytes go to the device, the command register's Memory and
 *   Bus Master bits follow the guest's.
 * - Interrupts: vector i's VFIO trigger is eventfd i, which is also the
 *   irqfd of vector i's GSI route (an MSI carrying the requester ID as ITS
 *   DeviceID; devices/vfio_irq.c): no hop through tern per interrupt. A
 *   masked vector's irqfd is unbound from KVM, so its interrupts wait in the
 *   eventfd and arrive at the unmask. The device's MSI-X is switched on
 *   (VFIO_DEVICE_SET_IRQS) when the guest enables it and off when it
 *   disables it or resets; the same for MSI, with the emulated MSI
 *   capability (devices/vfio_msi.c). While both are off, INTx is on
 *   (devices/vfio_intx.c: VFIO's trigger is a KVM irqfd with a resample
 *   eventfd on the slot's SPI): VFIO lets a device have one kind on at a
 *   time.
 * - Reset (the guest's, and at creation and exit): MSI-X, MSI and INTx off
 *   at the device, vectors' irqfds unbound, BAR memslots gone with decoding
 *   (devices/pci.c), VFIO_DEVICE_RESET, then INTx on again; guest RAM
 *   stays mapped for DMA.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/pci_regs.h>

#include "msix.h"
#include "pci.h"
#include "vfio.h"
#include "vfio_cfg.h"
#include "vfio_host.h"
#include "vfio_intx.h"
#include "vfio_irq.h"
#include "vfio_msi.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/msi.h"
#include "vmm/vm.h"

struct vfio_mapped_area {
	void *hva;			/* MAP_FAILED: not mapped */
	struct vfio_span span;
};

struct vfio_piece {
	struct vfio_span span;		/* in the BAR */
	void *hva;
	uint32_t slot;			/* KVM memslot id, reserved at creation */
	uint64_t gpa;			/* registered there; 0: not registered */
};

struct vfio_bar {
	struct vfio_mapped_area areas[VFIO_MAX_AREAS];
	unsigned int nr_areas;
	struct vfio_piece pieces[VFIO_MAX_PIECES];
	unsigned int nr_pieces;
};

struct vfio_dev {
	struct pci_device pci;
	struct msix msix;
	struct vfio_cfg cfg;
	struct vfio_host host;
	struct vm *vm;
	char model[40];			/* "vfio 0000:00:02.0" */
	struct vfio_bar bars[PCI_NUM_BARS];
	struct vfio_vectors msix_vec;	/* per MSI-X vector: VFIO trigger = irqfd */
	bool irqs_on;			/* the device's MSI-X triggers are set */
	struct vfio_msi msi;		/* MSI, when the device has the capability */
	struct vfio_intx intx;		/* on while MSI-X and MSI are off */
	_Atomic uint64_t trapped_msix;	/* guest BAR accesses that came to tern */
	_Atomic uint64_t trapped_other;
	struct ratelimit slot_log;	/* KVM refused a BAR memslot (guest-placed) */
	struct ratelimit io_log;	/* a trapped access the device refused */
};

/* ---- interrupts ----------------------------------------------------------- */

static int vfio_msix_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct vfio_dev *d = opaque;

	return vfio_vectors_route(&d->msix_vec, d->vm, pci_requester_id(&d->pci), vec, addr, data);
}

/* Only for an interrupt msix.c held pending: the device's come by themselves. */
static void vfio_msix_fire(void *opaque, unsigned int vec)
{
	struct vfio_dev *d = opaque;
	int ret = vfio_vectors_fire(&d->msix_vec, vec);

	if (ret < 0)
		pr_warn_ratelimited(&d->io_log, "%s: vector %u: %s", d->pci.name, vec, strerror(-ret));
}

static void vfio_msix_set_live(void *opaque, unsigned int vec, bool live)
{
	struct vfio_dev *d = opaque;
	int ret;

	if (vec >= d->msix_vec.nr || d->msix_vec.route[vec] < 0)
		return;
	ret = vfio_vectors_attach(&d->msix_vec, d->vm, vec, live);
	vm_trace(d->vm, "%s: vector %u %s (GSI route %d): %s", d->pci.name, vec,
		 live ? "live, irqfd bound" : "masked, irqfd unbound", d->msix_vec.route[vec],
		 ret < 0 ? strerror(-ret) : "ok");
	if (ret < 0)
		pr_warn_ratelimited(&d->io_log, "%s: vector %u: cannot %s its irqfd: %s", d->pci.name,
				    vec, live ? "bind" : "unbind", strerror(-ret));
}

static const struct msi_sink_ops vfio_msix_sink = {
	.route = vfio_msix_route,
	.fire = vfio_msix_fire,
	.set_live = vfio_msix_set_live,
};

static void set_intx(struct vfio_dev *d, bool on)
{
	int ret;

	if (d->intx.trigger < 0 || d->intx.on == on)
		return;
	ret = vfio_intx_set(&d->intx, d->vm, &d->host, on);
	vm_trace(d->vm, "%s: INTx %s (SPI %u, resample eventfd unmasks through VFIO): %s",
		 d->pci.name, on ? "on" : "off", d->intx.spi, ret < 0 ? strerror(-ret) : "ok");
	if (ret < 0)
		pr_warn_ratelimited(&d->io_log, "%s: cannot switch the device's INTx %s (VFIO_DEVICE_SET_IRQS, KVM_IRQFD): %s",
				    d->pci.name, on ? "on" : "off", strerror(-ret));
}

/* INTx is on exactly while neither MSI-X nor MSI is on at the device (the
 * PCI rule: a function that signals by message does not assert INTx). */
static void sync_intx(struct vfio_dev *d)
{
	set_intx(d, !d->irqs_on && !d->msi.on);
}

/* MSI-X on at the device means INTx off, and the other way round. */
static void set_device_msix(struct vfio_dev *d, bool on)
{
	int ret;

	if (d->irqs_on == on)
		return;
	if (on)
		set_intx(d, false);
	ret = vfio_host_set_vectors(&d->host, VFIO_PCI_MSIX_IRQ_INDEX, d->msix_vec.efd,
				    on ? d->msix_vec.nr : 0);
	vm_trace(d->vm, "%s: device MSI-X %s (%u vectors): %s", d->pci.name, on ? "on" : "off",
		 d->msix_vec.nr, ret < 0 ? strerror(-ret) : "ok");
	if (ret < 0)
		pr_warn_ratelimited(&d->io_log, "%s: cannot switch the device's MSI-X %s (VFIO_DEVICE_SET_IRQS): %s",
				    d->pci.name, on ? "on" : "off", strerror(-ret));
	else
		d->irqs_on = on;
	sync_intx(d);
}

/* The guest wrote its MSI capability: INTx off before the device's MSI
 * goes on, back on after it went off. */
static void msi_config_written(struct vfio_dev *d)
{
	struct msi_cap_state s;

	msi_cap_state(&d->cfg.msi, &d->pci, &s);
	if (s.enabled && !d->irqs_on)
		set_intx(d, false);
	vfio_msi_apply(&d->msi, d->vm, &d->host, pci_requester_id(&d->pci), &s, d->irqs_on,
		       d->pci.name);
	sync_intx(d);
}

/* ---- BARs ----------------------------------------------------------------- */

static int set_slot(struct vfio_dev *d, struct vfio_piece *p, uint64_t gpa)
{
	struct kvm_userspace_memory_region region = {
		.slot = p->slot,
		.guest_phys_addr = gpa,
		.memory_size = gpa ? p->span.size : 0,
		.userspace_addr = gpa ? (uint64_t)(uintptr_t)p->hva : 0,
	};

	/* Not checked-and-reported: the guest places BARs where it likes. */
	return (int)kvm_ioctl(d->vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

/* BAR @bar now decodes at @addr (0: nowhere): its memslots follow. */
static void vfio_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t addr)
{
	struct vfio_dev *d = pdev->priv;
	struct vfio_bar *b = &d->bars[bar];

	for (unsigned int i = 0; i < b->nr_pieces; i++) {
		struct vfio_piece *p = &b->pieces[i];
		int ret;

		if (p->gpa)
			set_slot(d, p, 0);
		p->gpa = 0;
		if (!addr)
			continue;
		ret = set_slot(d, p, addr + p->span.off);
		if (ret < 0) {
			pr_warn_ratelimited(&d->slot_log, "%s: BAR %d at %#llx: KVM refused the memslot for [%#llx, +%#llx): %s; those accesses trap instead",
					    pdev->name, bar, (unsigned long long)addr,
					    (unsigned long long)p->span.off,
					    (unsigned long long)p->span.size, strerror(-ret));
			continue;
		}
		p->gpa = addr + p->span.off;
	}
}

static bool in_span(uint64_t off, unsigned int len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

/* A trapped access; @read: @data is filled. */
static void bar_access(struct vfio_dev *d, int bar, uint64_t off, void *data, unsigned int len,
		       bool read)
{
	const struct vfio_msix_info *mx = &d->cfg.msix;
	uint64_t tsize = (uint64_t)mx->nr_vectors * MSIX_ENTRY_SIZE;
	uint64_t psize = (mx->nr_vectors + 63) / 64 * 8ULL;
	int ret;

	if (mx->cap && bar == mx->bar && in_span(off, len, mx->table_off, tsize)) {
		atomic_fetch_add(&d->trapped_msix, 1);
		if (read)
			msix_table_read(&d->msix, off - mx->table_off, data, len);
		else
			msix_table_write(&d->msix, off - mx->table_off, data, len);
		return;
	}
	if (mx->cap && bar == mx->bar && in_span(off, len, mx->pba_off, psize)) {
		atomic_fetch_add(&d->trapped_msix, 1);
		if (read)
			msix_pba_read(&d->msix, off - mx->pba_off, data, len);
		return;
	}
	atomic_fetch_add(&d->trapped_other, 1);
	ret = read ? vfio_host_region_read(&d->host, &d->host.bars[bar], off, data, len)
		   : vfio_host_region_write(&d->host, &d->host.bars[bar], off, data, len);
	if (ret < 0)
		pr_warn_ratelimited(&d->io_log, "%s: BAR %d: %s of %u bytes at %#llx refused: %s",
				    d->pci.name, bar, read ? "read" : "write", len,
				    (unsigned long long)off, strerror(-ret));
}

static void vfio_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			  unsigned int len)
{
	memset(data, 0xff, len);
	bar_access(pdev->priv, bar, off, data, len, true);
}

static void vfio_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			   unsigned int len)
{
	uint8_t buf[8];

	memcpy(buf, data, len > sizeof(buf) ? sizeof(buf) : len);
	bar_access(pdev->priv, bar, off, buf, len, false);
}

/* ---- config space --------------------------------------------------------- */

static bool any_live(const struct vfio_dev *d, uint32_t off, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		if (off + i < PCI_CFG_SPACE_SIZE && d->cfg.live[off + i])
			return true;
	return false;
}

/* Live bytes from the device, the rest from the emulated config space. */
static bool vfio_config_read(struct pci_device *pdev, uint32_t off, uint8_t *data, unsigned int len)
{
	struct vfio_dev *d = pdev->priv;
	uint8_t dev[4];

	if (d->cfg.msi.pvm && msi_cap_touches(&d->cfg.msi, off, len)) {
		struct msi_cap_state s;

		msi_cap_state(&d->cfg.msi, pdev, &s);
		memcpy(data, pdev->cfg + off, len);
		msi_cap_read_pending(&d->cfg.msi, off, data, len, vfio_msi_pending(&d->msi, &s));
		return true;
	}
	if (!any_live(d, off, len))
		return false;
	if (vfio_host_region_read(&d->host, &d->host.config, off, dev, len) < 0)
		memset(dev, 0xff, len);
	for (unsigned int i = 0; i < len; i++)
		data[i] = d->cfg.live[off + i] ? dev[i] : pdev->cfg[off + i];
	return true;
}

/* Live bytes to the device; the rest goes on to devices/pci.c's write mask. */
static bool vfio_config_write(struct pci_device *pdev, uint32_t off, const uint8_t *data,
			      unsigned int len)
{
	struct vfio_dev *d = pdev->priv;

	for (unsigned int i = 0; i < len; i++)
		if (off + i < PCI_CFG_SPACE_SIZE && d->cfg.live[off + i])
			vfio_host_region_write(&d->host, &d->host.config, off + i, data + i, 1);
	return false;
}

/* The guest's Memory Space, Bus Master and INTx Disable bits, on the device
 * (vfio-pci virtualises INTx Disable: it masks the line it signals). */
static void sync_command(struct vfio_dev *d)
{
	const uint16_t bits = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE;
	uint16_t cmd, want = pci_cfg_read(&d->pci, PCI_COMMAND, 2) & bits;

	if (vfio_host_region_read(&d->host, &d->host.config, PCI_COMMAND, &cmd, 2) < 0)
		return;
	cmd = (uint16_t)((cmd & ~bits) | want);
	if (vfio_host_region_write(&d->host, &d->host.config, PCI_COMMAND, &cmd, 2) < 0)
		pr_warn_ratelimited(&d->io_log, "%s: cannot write the device's command register",
				    d->pci.name);
}

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t size)
{
	return off < start + size && start < off + len;
}

static void vfio_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct vfio_dev *d = pdev->priv;
	uint8_t cap = d->cfg.msix.cap;
	bool enable;

	if (overlaps(off, len, PCI_COMMAND, 2))
		sync_command(d);
	if (msi_cap_touches(&d->cfg.msi, off, len))
		msi_config_written(d);
	if (!cap || !overlaps(off, len, cap + PCI_MSIX_FLAGS, 2))
		return;
	/* On at the device before the vectors go live; off after. */
	enable = pdev->cfg[cap + PCI_MSIX_FLAGS + 1] & (PCI_MSIX_FLAGS_ENABLE >> 8);
	if (enable)
		set_device_msix(d, true);
	msix_config_written(&d->msix);
	if (!enable)
		set_device_msix(d, false);
}

/* Guest reset (config space already back to power-on, BARs undecoded). */
static void vfio_function_reset(struct pci_device *pdev)
{
	struct vfio_dev *d = pdev->priv;
	int ret;

	if (d->cfg.msix.cap)
		msix_reset(&d->msix);
	set_device_msix(d, false);
	vfio_msi_off(&d->msi, d->vm, &d->host, pdev->name);
	set_intx(d, false);
	ret = vfio_host_reset(&d->host);
	if (ret < 0)
		pr_warn("%s: VFIO_DEVICE_RESET: %s", pdev->name, strerror(-ret));
	sync_command(d);
	set_intx(d, true);
}

static const struct pci_device_ops vfio_pci_ops = {
	.reset = vfio_function_reset,
	.bar_read = vfio_bar_read,
	.bar_write = vfio_bar_write,
	.bar_remap = vfio_bar_remap,
	.config_written = vfio_config_written,
	.config_read = vfio_config_read,
	.config_write = vfio_config_write,
};

/* ---- creation ------------------------------------------------------------- */

static void unmap_bar(struct vfio_bar *b)
{
	for (unsigned int i = 0; i < b->nr_areas; i++)
		if (b->areas[i].hva != MAP_FAILED)
			munmap(b->areas[i].hva, b->areas[i].span.size);
	b->nr_areas = 0;
	b->nr_pieces = 0;
}

/* The mappable pieces of BAR @i: its areas less the MSI-X pages. */
static int plan_pieces(struct vfio_dev *d, int i, struct vfio_span *pieces)
{
	const struct vfio_region *r = &d->host.bars[i];
	const struct vfio_msix_info *mx = &d->cfg.msix;
	struct vfio_span holes[2];
	unsigned int nr_holes = 0;

	if (mx->cap && mx->bar == i) {
		holes[nr_holes++] = (struct vfio_span){ mx->table_off, mx->nr_vectors * 16ULL };
		holes[nr_holes++] = (struct vfio_span){ mx->pba_off, (mx->nr_vectors + 63) / 64 * 8ULL };
	}
	return vfio_bar_pieces(r->areas, r->nr_areas, holes, nr_holes,
			       (uint64_t)sysconf(_SC_PAGESIZE), pieces, VFIO_MAX_PIECES);
}

static void *piece_hva(const struct vfio_bar *b, const struct vfio_span *piece)
{
	for (unsigned int a = 0; a < b->nr_areas; a++) {
		const struct vfio_mapped_area *m = &b->areas[a];

		if (m->hva != MAP_FAILED && piece->off >= m->span.off &&
		    piece->off + piece->size <= m->span.off + m->span.size)
			return (char *)m->hva + (piece->off - m->span.off);
	}
	return NULL;
}

/* mmaps BAR @i's areas and reserves a memslot per piece. */
static int map_bar(struct vfio_dev *d, int i)
{
	const struct vfio_region *r = &d->host.bars[i];
	struct vfio_bar *b = &d->bars[i];
	struct vfio_span pieces[VFIO_MAX_PIECES];
	int n;

	if (!d->cfg.bars[i].size || !r->nr_areas)
		return 0;
	for (unsigned int a = 0; a < r->nr_areas; a++) {
		b->areas[a].span = r->areas[a];
		b->areas[a].hva = mmap(NULL, r->areas[a].size, PROT_READ | PROT_WRITE, MAP_SHARED,
				       d->host.fd, (off_t)(r->offset + r->areas[a].off));
		b->nr_areas = a + 1;
		if (b->areas[a].hva == MAP_FAILED)
			pr_warn("%s: BAR %d: cannot mmap [%#llx, +%#llx) from the VFIO device: %m; it traps instead",
				d->pci.name, i, (unsigned long long)r->areas[a].off,
				(unsigned long long)r->areas[a].size);
	}
	n = plan_pieces(d, i, pieces);
	if (n < 0) {
		pr_err("%s: BAR %d has more than %d mappable pieces", d->pci.name, i, VFIO_MAX_PIECES);
		return n;
	}
	for (int p = 0; p < n; p++) {
		void *hva = piece_hva(b, &pieces[p]);

		if (!hva)
			continue;
		b->pieces[b->nr_pieces++] = (struct vfio_piece){
			.span = pieces[p], .hva = hva, .slot = vm_reserve_memslot(d->vm),
		};
	}
	return 0;
}

static int setup_vectors(struct vfio_dev *d)
{
	unsigned int nr = d->cfg.msix.nr_vectors;
	int ret = vfio_vectors_init(&d->msix_vec, nr);

	if (ret < 0)
		return ret;
	return msix_init_at(&d->msix, &d->pci, d->cfg.msix.cap, nr, d->cfg.msix.bar,
			    d->cfg.msix.table_off, d->cfg.msix.pba_off, &vfio_msix_sink, d);
}

/* Config space and BARs as the guest will see them. */
static int build_function(struct vfio_dev *d)
{
	uint8_t dev_cfg[PCI_CFG_SPACE_SIZE];
	uint64_t sizes[PCI_NUM_BARS];
	char why[160];
	int ret;

	ret = vfio_host_read_regions(&d->host);
	if (ret < 0)
		return ret;
	ret = vfio_host_region_read(&d->host, &d->host.config, 0, dev_cfg, sizeof(dev_cfg));
	if (ret < 0) {
		pr_err("vfio %s: cannot read its config space: %s", d->host.name, strerror(-ret));
		return ret;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++)
		sizes[i] = d->host.bars[i].size;
	ret = vfio_cfg_build(&d->pci, dev_cfg, sizes, &d->cfg, why, sizeof(why));
	if (ret < 0) {
		pr_err("vfio %s: cannot be passed through: %s", d->host.name, why);
		return ret;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++)
		if (d->cfg.bars[i].io)
			pr_warn("vfio %s: BAR %d is an I/O BAR; the guest does not get it", d->host.name, i);
	ret = vfio_msi_init(&d->msi, &d->cfg.msi);
	if (ret < 0)
		return ret;
	return d->cfg.msix.cap ? setup_vectors(d) : 0;
}

static void vfio_dev_free(struct vfio_dev *d)
{
	vfio_vectors_destroy(&d->msix_vec);
	vfio_msi_destroy(&d->msi);
	if (d->msix.vectors)
		msix_destroy(&d->msix);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		unmap_bar(&d->bars[i]);
	vfio_intx_destroy(&d->intx);
	vfio_host_close(&d->host);
	free(d);
}

int vfio_pci_add(struct vm *vm, const struct vfio_config *cfg, struct vfio_dev **out)
{
	struct vfio_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->vm = vm;
	d->intx = (struct vfio_intx){ .trigger = -1, .resample = -1, .route = -1 };
	ratelimit_init(&d->slot_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&d->io_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ret = vfio_host_open(&d->host, cfg->sysfs, cfg->iommufd);
	if (ret < 0)
		goto fail;
	if (vm->ram.backend == MEM_BACKEND_GUEST_MEMFD) {
		pr_err("vfio %s: guest RAM is guest_memfd, which VFIO cannot pin through a user address: use backend=anon, memfd or hugetlb",
		       d->host.name);
		ret = -ENOTSUP;
		goto fail;
	}
	ret = vfio_host_map_dma(&d->host, vm->ram.hva, vm->ram.gpa, vm->ram.size);
	if (!ret)
		ret = build_function(d);
	for (int i = 0; !ret && i < PCI_NUM_BARS; i++)
		ret = map_bar(d, i);
	if (!ret)
		ret = vfio_intx_init(&d->intx, &d->host);
	if (ret < 0)
		goto fail;
	if (d->intx.trigger >= 0) {
		/* INTA: the guest's swizzle and tern's interrupt-map agree. */
		d->pci.cfg[PCI_INTERRUPT_PIN] = 1;
		d->pci.wmask[PCI_COMMAND + 1] |= PCI_COMMAND_INTX_DISABLE >> 8;
	}
	snprintf(d->model, sizeof(d->model), "vfio %s", d->host.name);
	d->pci.model = d->model;
	d->pci.ops = &vfio_pci_ops;
	d->pci.priv = d;
	d->pci.no_migration = true;
	ret = vfio_host_reset(&d->host);
	if (ret < 0)
		pr_warn("vfio %s: VFIO_DEVICE_RESET: %s", d->host.name, strerror(-ret));
	ret = pci_host_add(vm->pci, &d->pci);
	if (ret < 0) {
		pr_err("vfio %s: no room on the PCI bus (slot or 32-bit window): %s", d->host.name,
		       strerror(-ret));
		goto fail;
	}
	vm_trace(vm, "%s: passed through, IOMMU group %d, %llu MiB of guest RAM mapped for DMA (%s)",
		 d->pci.name, d->host.group_id, (unsigned long long)(vm->ram.size >> 20),
		 cfg->iommufd ? "iommufd" : "type1 container");
	*out = d;
	return 0;
fail:
	vfio_dev_free(d);
	return ret;
}

int vfio_pci_start(struct vfio_dev *d)
{
	int ret = vfio_intx_route(&d->intx, d->vm, &d->host, d->pci.devfn);

	if (ret < 0)
		return ret;
	set_intx(d, true);
	if (d->intx.trigger >= 0 && !d->intx.on) {
		/* E.g. a host that wired no interrupt line to the device
		 * (vfio-pci: ENODEV): MSI-X still works; INTx is not offered. */
		pr_warn("%s: its INTx cannot be wired (above): the guest sees no interrupt pin, only MSI-X",
			d->pci.name);
		vfio_intx_destroy(&d->intx);
		d->pci.cfg[PCI_INTERRUPT_PIN] = 0;
		d->pci.wmask[PCI_COMMAND + 1] &= (uint8_t)~(PCI_COMMAND_INTX_DISABLE >> 8);
	}
	return 0;
}

void vfio_pci_destroy(struct vfio_dev *d)
{
	if (!d)
		return;
	/* Every kind off; not set_device_msix(), which would turn INTx on. */
	set_intx(d, false);
	if (d->irqs_on &&
	    vfio_host_set_vectors(&d->host, VFIO_PCI_MSIX_IRQ_INDEX, NULL, 0) == 0)
		d->irqs_on = false;
	vfio_msi_off(&d->msi, d->vm, &d->host, d->pci.name);
	vfio_host_reset(&d->host);
	pr_info("%s: guest accesses to its BARs that came to tern: %llu to the MSI-X table and PBA, %llu elsewhere",
		d->pci.name, (unsigned long long)atomic_load(&d->trapped_msix),
		(unsigned long long)atomic_load(&d->trapped_other));
	vfio_dev_free(d);
}
