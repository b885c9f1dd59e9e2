// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for the PCI host bridge and MSI-X. One host with two fake
 * functions (BARs of both widths, an MSI-X table and PBA in a BAR, a vendor
 * capability); the input is a program of ECAM and BAR-window accesses (any
 * offset, width and value, with a bias towards the interesting ones: BAR
 * registers, sizing patterns, the MSI-X capability and table), msix_notify
 * calls, resets, and a couple of whole driver steps (enable MSI-X, program a
 * vector) that the fuzzer would take long to assemble from single accesses.
 * Besides the sanitizers, it checks that:
 *  - read-only config bits (everything outside the write mask) never change,
 *  - missing functions and bad ECAM accesses read all-ones,
 *  - bar_remap reports each BAR's move from where it really was, to where
 *    pci_bar_addr now says, and only at naturally aligned addresses with
 *    Memory Space Enable set,
 *  - window accesses reach a function only whole inside one of its decoded
 *    BARs, with the right BAR and offset,
 *  - the sink is asked to route only a changed message, and fires a vector
 *    only when it is live and its route is current,
 *  - no PBA bit exists past the last vector.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "vmm/layout.h"
#include "fuzz_input.h"

#define NR_FNS		2
#define MAX_VECTORS	8

struct fn {
	struct pci_device pci;
	struct msix msix;
	int msix_bar;
	uint32_t table_off, pba_off;
	unsigned int nr_vectors;
	uint64_t where[PCI_NUM_BARS];		/* what bar_remap last said */
	uint8_t scratch[4096];			/* BAR memory outside the MSI-X structures */
	uint8_t ro[PCI_CFG_SPACE_EXP_SIZE];	/* cfg & ~wmask at creation */
	bool routed[MAX_VECTORS];
	uint64_t route_addr[MAX_VECTORS];
	uint32_t route_data[MAX_VECTORS];
};

struct fuzz {
	struct pci_host host;
	struct fn fns[NR_FNS];
	struct fuzz_input input;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fn *to_fn(struct pci_device *pdev)
{
	return (struct fn *)((char *)pdev - offsetof(struct fn, pci));
}

/* ---------------------------------------------------------------- the functions */

static bool in_range(uint64_t off, unsigned int len, uint64_t start, uint64_t size)
{
	return off >= start && off - start < size;
}

static uint64_t table_size(const struct fn *fn)
{
	return (uint64_t)fn->nr_vectors * MSIX_ENTRY_SIZE;
}

static void check_bar_access(struct fn *fn, int bar, uint64_t off, unsigned int len)
{
	const struct pci_bar *b;

	check(bar >= 0 && bar < PCI_NUM_BARS);
	b = &fn->pci.bars[bar];
	check(b->size && b->decoded && fn->where[bar] == b->decoded);
	check(len >= 1 && len <= 8 && len <= b->size && off <= b->size - len);
}

static void fn_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			unsigned int len)
{
	struct fn *fn = to_fn(pdev);

	check_bar_access(fn, bar, off, len);
	if (bar == fn->msix_bar && in_range(off, len, fn->table_off, table_size(fn)))
		msix_table_read(&fn->msix, off - fn->table_off, data, len);
	else if (bar == fn->msix_bar && in_range(off, len, fn->pba_off, 8))
		msix_pba_read(&fn->msix, off - fn->pba_off, data, len);
	else
		memcpy(data, fn->scratch + (off % (sizeof(fn->scratch) - 8)), len);
}

static void fn_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			 unsigned int len)
{
	struct fn *fn = to_fn(pdev);

	check_bar_access(fn, bar, off, len);
	if (bar == fn->msix_bar && in_range(off, len, fn->table_off, table_size(fn)))
		msix_table_write(&fn->msix, off - fn->table_off, data, len);
	else if (!(bar == fn->msix_bar && in_range(off, len, fn->pba_off, 8)))
		memcpy(fn->scratch + (off % (sizeof(fn->scratch) - 8)), data, len);
}

static void fn_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fn *fn = to_fn(pdev);
	const struct pci_bar *b;

	check(bar >= 0 && bar < PCI_NUM_BARS);
	b = &pdev->bars[bar];
	check(b->size);
	check(old_addr != new_addr);
	check(fn->where[bar] == old_addr);
	check(pci_bar_addr(pdev, bar) == new_addr);
	check(new_addr % b->size == 0);
	check(!new_addr || (pdev->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY));
	check(b->is64 || new_addr + b->size - 1 < UINT32_MAX);
	fn->where[bar] = new_addr;
}

static void fn_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct fn *fn = to_fn(pdev);

	check(len == 1 || len == 2 || len == 4);
	check(off < PCI_CFG_SPACE_EXP_SIZE && off % len == 0);
	if (off < fn->msix.cap + PCI_CAP_MSIX_SIZEOF + 0u && off + len > fn->msix.cap)
		msix_config_written(&fn->msix);
}

/* After pci_host_reset put config space back: decoding is off. */
static void fn_reset(struct pci_device *pdev)
{
	struct fn *fn = to_fn(pdev);

	for (int b = 0; b < PCI_NUM_BARS; b++)
		check(!fn->where[b] && !pci_bar_addr(pdev, b));
	msix_reset(&fn->msix);
}

static const struct pci_device_ops fn_ops = {
	.reset = fn_reset,
	.bar_read = fn_bar_read,
	.bar_write = fn_bar_write,
	.bar_remap = fn_bar_remap,
	.config_written = fn_config_written,
};

/* ---------------------------------------------------------------- the sink */

static bool vector_live(const struct msix *m, unsigned int vec)
{
	return m->enabled && !m->masked && !(m->vectors[vec].ctrl & 1);
}

/* Called with the msix lock held: its state is stable here. */
static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct fn *fn = opaque;
	const struct msix_vector *v;

	check(vec < fn->nr_vectors);
	v = &fn->msix.vectors[vec];
	check(addr == v->addr && data == v->data);
	check(vector_live(&fn->msix, vec));
	check(!fn->routed[vec] || fn->route_addr[vec] != addr || fn->route_data[vec] != data);
	fn->routed[vec] = true;
	fn->route_addr[vec] = addr;
	fn->route_data[vec] = data;
	return 0;
}

static void sink_fire(void *opaque, unsigned int vec)
{
	struct fn *fn = opaque;
	const struct msix_vector *v;

	check(vec < fn->nr_vectors);
	v = &fn->msix.vectors[vec];
	check(vector_live(&fn->msix, vec));
	check(fn->routed[vec] && fn->route_addr[vec] == v->addr && fn->route_data[vec] == v->data);
	check(!(fn->msix.pba[0] & (1ULL << vec)));
}

static const struct msi_sink_ops sink = {
	.route = sink_route,
	.fire = sink_fire,
};

/* ---------------------------------------------------------------- set-up */

static void fn_create(struct fuzz *f, int i)
{
	struct fn *fn = &f->fns[i];
	const uint8_t vendor_cap[6] = { 6, 1, 2, 3, 4, 5 };

	fn->pci.ops = &fn_ops;
	pci_device_init(&fn->pci, 0x1af4, 0x1040 + i, 0xff0000, i, 0x1af4, 0x10 + i);
	if (i == 0) {
		check(!pci_device_add_bar(&fn->pci, 0, 16 * KiB, false));
		check(!pci_device_add_bar(&fn->pci, 2, 64 * KiB, true));
		fn->msix_bar = 0;
		fn->table_off = 0;
		fn->pba_off = 0x1000;
		fn->nr_vectors = 8;
	} else {
		check(!pci_device_add_bar(&fn->pci, 0, 4 * KiB, true));
		check(!pci_device_add_bar(&fn->pci, 5, 1 * MiB, false));
		check(pci_device_add_cap(&fn->pci, PCI_CAP_ID_VNDR, vendor_cap, 6) == 0x40);
		fn->msix_bar = 5;
		fn->table_off = 0x8000;
		fn->pba_off = 0x800;
		fn->nr_vectors = 3;
	}
	check(!msix_init(&fn->msix, &fn->pci, fn->nr_vectors, fn->msix_bar, fn->table_off,
			 fn->pba_off, &sink, fn));
	check(!pci_host_add(&f->host, &fn->pci));
	for (unsigned int r = 0; r < PCI_CFG_SPACE_EXP_SIZE; r += 8) {
		uint64_t cfg, wmask, ro;

		memcpy(&cfg, fn->pci.cfg + r, 8);
		memcpy(&wmask, fn->pci.wmask + r, 8);
		ro = cfg & ~wmask;
		memcpy(fn->ro + r, &ro, 8);
	}
}

/* Whether the read-only bits of the first @len bytes are as created. By
 * words here and above: instrumented per-byte loops were most of the run. */
static bool ro_intact(const struct fn *fn, unsigned int len)
{
	for (unsigned int r = 0; r < len; r += 8) {
		uint64_t cfg, wmask, ro;

		memcpy(&cfg, fn->pci.cfg + r, 8);
		memcpy(&wmask, fn->pci.wmask + r, 8);
		memcpy(&ro, fn->ro + r, 8);
		if ((cfg & ~wmask) != ro)
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- ECAM */

static unsigned int access_len(uint8_t op)
{
	return 1u << ((op >> 3) & 3);
}

/* Mostly the header and the capabilities of function 0 of slots 0-3. */
static uint64_t ecam_offset(struct fuzz *f, uint8_t op)
{
	struct fuzz_input *in = &f->input;
	uint8_t sel = next(in);
	uint64_t off;

	if (sel & 0x80)
		return ((uint64_t)next(in) << 16 | next(in) << 8 | next(in)) % LAYOUT_PCI_ECAM_SIZE;
	off = (uint64_t)(sel & 3) << 15;
	if (sel & 0x40)
		off |= (next(in) << 8 | next(in)) & 0xfff;
	else
		off |= next(in) & 0x7f;
	return off;
}

static uint32_t write_value(struct fuzz *f, uint8_t op)
{
	switch (next(&f->input) & 3) {
	case 0:
		return 0xffffffff;	/* sizing */
	case 1:
		return PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_MSIX_FLAGS_ENABLE;
	case 2:
		return (uint32_t)LAYOUT_PCI_MMIO32_BASE + ((uint32_t)next(&f->input) << 16);
	default:
		return (uint32_t)next_be(&f->input, 4);
	}
}

static struct fn *ecam_fn(struct fuzz *f, uint64_t off)
{
	unsigned int slot = (off >> 15) & 0x1f;

	if (off >> 20 || (off >> 12) & 7 || slot >= NR_FNS)
		return NULL;
	return &f->fns[slot];
}

static void do_ecam_read(struct fuzz *f, uint8_t op)
{
	unsigned int len = access_len(op), reg;
	uint64_t off = ecam_offset(f, op);
	struct fn *fn = ecam_fn(f, off);
	uint8_t v[8];

	memset(v, 0xa5, sizeof(v));
	f->host.ecam.ops->mmio_read(&f->host.ecam, off, v, len);
	reg = off & 0xfff;
	if (!fn || len == 8 || reg % len) {
		for (unsigned int i = 0; i < len; i++)
			check(v[i] == 0xff);
		return;
	}
	check(!memcmp(v, fn->pci.cfg + reg, len));
}

static void do_ecam_write(struct fuzz *f, uint8_t op)
{
	unsigned int len = access_len(op);
	uint64_t off = ecam_offset(f, op);
	uint32_t val = write_value(f, op);
	uint8_t v[8];

	memcpy(v, &val, 4);
	memcpy(v + 4, &val, 4);
	f->host.ecam.ops->mmio_write(&f->host.ecam, off, v, len);
}

/* ---------------------------------------------------------------- window */

/* Mostly inside a decoded BAR (near its MSI-X table), else anywhere. */
static uint64_t window_addr(struct fuzz *f, unsigned int len)
{
	uint8_t sel = next(&f->input);
	struct fn *fn = &f->fns[sel & 1];
	int bar = (sel >> 1) % PCI_NUM_BARS;
	uint64_t base = f->host.mmio.mmio_base, size = f->host.mmio.mmio_size;
	uint64_t off = (uint64_t)next(&f->input) << 8 | next(&f->input);

	if (!(sel & 0x80) && fn->pci.bars[bar].decoded) {
		if (sel & 0x40)
			off = (bar == fn->msix_bar ? fn->table_off : 0) + (off & 0x7f);
		return fn->pci.bars[bar].decoded + off;
	}
	off = off << 16 | next(&f->input) << 8 | next(&f->input);
	return base + off % (size - len + 1);
}

/* The function and BAR a window access must reach, if any. */
static struct fn *expected_target(struct fuzz *f, uint64_t addr, unsigned int len)
{
	for (int i = 0; i < NR_FNS; i++)
		for (int b = 0; b < PCI_NUM_BARS; b++) {
			const struct pci_bar *bar = &f->fns[i].pci.bars[b];

			if (bar->decoded && addr >= bar->decoded && len <= bar->size &&
			    addr - bar->decoded <= bar->size - len)
				return &f->fns[i];
		}
	return NULL;
}

static void do_window(struct fuzz *f, uint8_t op, bool write)
{
	unsigned int len = access_len(op);
	uint64_t addr = window_addr(f, len);
	uint64_t end = f->host.mmio.mmio_base + f->host.mmio.mmio_size;
	uint8_t v[8] = { 0 };

	if (addr < f->host.mmio.mmio_base || addr > end - len)
		return;		/* the VM never routes such an access here */
	if (write) {
		uint32_t val = (uint32_t)next_be(&f->input, 4);

		memcpy(v, &val, 4);
		v[4] = next(&f->input) & 1;	/* often a vector control: mask or unmask */
		f->host.mmio.ops->mmio_write(&f->host.mmio, addr - f->host.mmio.mmio_base, v,
					     len);
		return;
	}
	memset(v, 0xa5, sizeof(v));
	f->host.mmio.ops->mmio_read(&f->host.mmio, addr - f->host.mmio.mmio_base, v, len);
	if (!expected_target(f, addr, len))
		for (unsigned int i = 0; i < len; i++)
			check(v[i] == 0);
}

/* ---------------------------------------------------------------- the rest */

static void do_notify(struct fuzz *f, uint8_t op)
{
	struct fn *fn = &f->fns[(op >> 3) & 1];
	uint8_t sel = next(&f->input);
	unsigned int vec = sel & 0x80 ? 0xffff : sel % 12;

	msix_notify(&fn->msix, vec);
	if (vec < fn->nr_vectors && !vector_live(&fn->msix, vec))
		check(fn->msix.pba[0] & (1ULL << vec));
}

/* What a driver does to get interrupts, in one step each, so the fuzzer
 * reaches delivery sooner: decoding and MSI-X on (function mask from the
 * input), or a vector's message and mask bit written through the BAR. */
static void do_driver_step(struct fuzz *f, uint8_t op)
{
	struct fn *fn = &f->fns[(op >> 3) & 1];
	unsigned int cap = fn->msix.cap, slot = (op >> 3) & 1;
	uint64_t ecam = (uint64_t)slot << 15, bar, v;
	uint8_t sel = next(&f->input);

	if (op & 0x40) {
		v = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
		f->host.ecam.ops->mmio_write(&f->host.ecam, ecam + PCI_COMMAND, (uint8_t *)&v, 2);
		v = PCI_MSIX_FLAGS_ENABLE | (sel & 1 ? PCI_MSIX_FLAGS_MASKALL : 0);
		f->host.ecam.ops->mmio_write(&f->host.ecam, ecam + cap + PCI_MSIX_FLAGS,
					     (uint8_t *)&v, 2);
		return;
	}
	bar = fn->pci.bars[fn->msix_bar].decoded;
	if (!bar || bar < f->host.mmio.mmio_base)
		return;
	bar += fn->table_off + (sel % fn->nr_vectors) * MSIX_ENTRY_SIZE -
	       f->host.mmio.mmio_base;
	v = 0x08090040ULL | (uint64_t)(next(&f->input) & 3) << 32;
	f->host.mmio.ops->mmio_write(&f->host.mmio, bar, (uint8_t *)&v, 8);
	v = next(&f->input) | (uint64_t)(sel >> 7) << 32;
	f->host.mmio.ops->mmio_write(&f->host.mmio, bar + 8, (uint8_t *)&v, 8);
}

static void do_reset(struct fuzz *f)
{
	f->host.ecam.ops->reset(&f->host.ecam);
	for (int i = 0; i < NR_FNS; i++) {
		struct fn *fn = &f->fns[i];

		check(!msix_enabled(&fn->msix));
		check(!fn->msix.pba[0]);
		check(!(fn->pci.cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY));
	}
}

/* After each step the first 256 bytes of config space (where every writable
 * bit is), at the end all 4096. */
static void check_invariants(struct fuzz *f, unsigned int cfg_bytes)
{
	for (int i = 0; i < NR_FNS; i++) {
		struct fn *fn = &f->fns[i];

		check(ro_intact(fn, cfg_bytes));
		for (int b = 0; b < PCI_NUM_BARS; b++)
			check(fn->where[b] == pci_bar_addr(&fn->pci, b));
		check(!(fn->msix.pba[0] >> fn->nr_vectors));
		check(f->host.slots[i] == &fn->pci);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz *f = calloc(1, sizeof(*f));

	if (!f || pci_host_init(&f->host, NULL))
		abort();
	f->input = (struct fuzz_input){ data, size };
	for (int i = 0; i < NR_FNS; i++)
		fn_create(f, i);

	while (f->input.left) {
		uint8_t op = next(&f->input);

		switch (op & 7) {
		case 0: case 1:
			do_ecam_read(f, op);
			break;
		case 2: case 3:
			do_ecam_write(f, op);
			break;
		case 4:
			do_window(f, op, false);
			break;
		case 5:
			do_window(f, op, true);
			break;
		case 6:
			do_notify(f, op);
			break;
		default:
			if ((op & 0xc0) == 0xc0)
				do_reset(f);
			else if (op & 0xc0)
				do_driver_step(f, op);
			break;
		}
		check_invariants(f, PCI_CFG_SPACE_SIZE);
	}
	check_invariants(f, PCI_CFG_SPACE_EXP_SIZE);

	for (int i = 0; i < NR_FNS; i++)
		msix_destroy(&f->fns[i].msix);
	f->host.ecam.ops->destroy(&f->host.ecam);
	free(f);
	return 0;
}
