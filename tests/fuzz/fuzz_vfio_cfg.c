// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for what a passed-through device's guest drives without
 * the device: devices/vfio_cfg.c's build of its config space (from any 256
 * bytes a device, or a hostile one, presents, and any region sizes), then a
 * program of guest ECAM accesses and MSI-X table writes on the result, with
 * the liveness sink devices/vfio.c uses. Besides the sanitizers it checks:
 *  - a build either fails with a message or yields a capability list that
 *    ends, without loops, through kept capabilities only (PM, PCIe,
 *    vendor-specific, MSI-X, MSI), at their own offsets,
 *  - live bytes lie inside kept capabilities' bodies, never MSI-X's or MSI's,
 *  - read-only config bits never change under guest writes,
 *  - the sink hears only liveness changes, for vectors that exist,
 *  - the emulated MSI capability's state (devices/msi_cap.c), after every
 *    guest write, enables at most the vectors offered (a power of two),
 *    masks only those, has a dword-aligned address, and live vectors'
 *    data stay in their block; the pending patch touches only its bytes.
 * Then vfio_bar_pieces on spans from the input: pieces inside their areas,
 * page-aligned, clear of every hole.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "devices/msi_cap.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/vfio_cfg.h"
#include "fuzz_input.h"

#define MAX_VECTORS	2048

struct fuzz {
	struct pci_host host;
	struct pci_device pci;
	struct vfio_cfg vc;
	struct msix m;
	bool has_msix;
	bool live[MAX_VECTORS];
	uint8_t ro[PCI_CFG_SPACE_EXP_SIZE];
	struct fuzz_input input;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct fuzz *f = opaque;

	check(vec < f->vc.msix.nr_vectors);
	return (addr & 0xf) == 0xc ? -EINVAL : 0;	/* some routes refused */
}

static void sink_fire(void *opaque, unsigned int vec)
{
	struct fuzz *f = opaque;

	check(vec < f->vc.msix.nr_vectors);
}

static void sink_set_live(void *opaque, unsigned int vec, bool live)
{
	struct fuzz *f = opaque;

	check(vec < f->vc.msix.nr_vectors);
	check(f->live[vec] != live);
	f->live[vec] = live;
}

static const struct msi_sink_ops sink = {
	.route = sink_route, .fire = sink_fire, .set_live = sink_set_live,
};

static bool kept(uint8_t id)
{
	return id == PCI_CAP_ID_PM || id == PCI_CAP_ID_EXP || id == PCI_CAP_ID_VNDR ||
	       id == PCI_CAP_ID_MSIX || id == PCI_CAP_ID_MSI;
}

static void check_caps(const struct fuzz *f)
{
	bool in_cap[PCI_CFG_SPACE_SIZE] = { false };
	unsigned int off = f->pci.cfg[PCI_CAPABILITY_LIST], hops = 0;

	while (off) {
		check(off >= PCI_STD_HEADER_SIZEOF && off < PCI_CFG_SPACE_SIZE && hops++ < 48);
		check(kept(f->pci.cfg[off]));
		for (unsigned int i = off + 2; i < PCI_CFG_SPACE_SIZE && i < off + 0x100; i++) {
			if (!f->vc.live[i])
				break;
			in_cap[i] = f->pci.cfg[off] != PCI_CAP_ID_MSIX &&
				    f->pci.cfg[off] != PCI_CAP_ID_MSI;
		}
		off = f->pci.cfg[off + PCI_CAP_LIST_NEXT];
	}
	for (unsigned int i = 0; i < PCI_CFG_SPACE_SIZE; i++)
		check(!f->vc.live[i] || in_cap[i]);
}

static void check_msi(struct fuzz *f, uint32_t reg, unsigned int len)
{
	const struct msi_cap *c = &f->vc.msi;
	struct msi_cap_state s;
	uint32_t pending = (uint32_t)next_le(&f->input, 4);
	uint8_t buf[4] = { 0x5a, 0x5a, 0x5a, 0x5a };
	unsigned int low;

	msi_cap_state(c, &f->pci, &s);
	check(s.nr_vectors >= 1 && s.nr_vectors <= c->max_vectors && c->max_vectors <= 32);
	check(!(s.nr_vectors & (s.nr_vectors - 1)));
	check(c->max_vectors == 32 || !(s.mask >> c->max_vectors));
	check(c->pvm || !s.mask);
	check(!(s.addr & 3) && (c->is64 || !(s.addr >> 32)));
	low = s.nr_vectors - 1;
	for (unsigned int v = 0; v < MSI_CAP_MAX_VECTORS + 1; v++) {
		check(!msi_cap_vector_live(&s, v) || (s.enabled && v < s.nr_vectors));
		check((msi_cap_vector_data(&s, v) & ~low) == (s.data & ~low));
	}
	msi_cap_read_pending(c, reg, buf, len, pending);
	for (unsigned int i = 0; i < len; i++)
		check(buf[i] == 0x5a || (c->pvm && reg + i >= c->pending && reg + i < c->pending + 4u));
}

static void guest_step(struct fuzz *f)
{
	uint8_t op = next(&f->input), buf[4];
	unsigned int len = 1u << (op >> 6 & 3);
	uint32_t reg = (uint32_t)next_le(&f->input, 2) & (PCI_CFG_SPACE_EXP_SIZE - 1);
	uint64_t ecam = (uint64_t)f->pci.devfn << 12;

	if (len > 4)
		len = 4;
	switch (op & 3) {
	case 0:
		f->host.ecam.ops->mmio_read(&f->host.ecam, ecam | reg, buf, len);
		break;
	case 1: {
		uint32_t v = (uint32_t)next_le(&f->input, 4);

		memcpy(buf, &v, sizeof(buf));
		f->host.ecam.ops->mmio_write(&f->host.ecam, ecam | reg, buf, len);
		if (f->has_msix)
			msix_config_written(&f->m);
		if (msi_cap_touches(&f->vc.msi, reg, len))
			check_msi(f, reg, len);
		break;
	}
	case 2:
		if (f->has_msix) {
			unsigned int wlen = (op & 4) ? 8 : 4;
			uint64_t v = next_le(&f->input, wlen);	/* as wide as the widest write */

			msix_table_write(&f->m, next_le(&f->input, 2), &v, wlen);
		}
		break;
	case 3:
		if (f->has_msix && (op & 8))
			msix_reset(&f->m);
		break;
	}
}

static void check_readonly(const struct fuzz *f)
{
	for (unsigned int i = 0; i < PCI_CFG_SPACE_EXP_SIZE; i++)
		check((f->pci.cfg[i] & ~f->pci.wmask[i]) == f->ro[i] || (i >= PCI_BASE_ADDRESS_0 &&
		      i < PCI_BASE_ADDRESS_5 + 4));
}

static void pieces(struct fuzz *f)
{
	struct fuzz_input *in = &f->input;
	struct vfio_span areas[4], holes[3], out[VFIO_MAX_PIECES];
	uint64_t page = 1ULL << (12 + next(in) % 5);
	unsigned int na = 1 + next(in) % 4, nh = next(in) % 4;
	int n;

	for (unsigned int i = 0; i < na; i++)
		areas[i] = (struct vfio_span){ next_le(in, 3) << 8, next_le(in, 3) << 8 };
	for (unsigned int i = 0; i < nh && i < 3; i++)
		holes[i] = (struct vfio_span){ next_le(in, 3), next_le(in, 2) };
	n = vfio_bar_pieces(areas, na, holes, nh < 3 ? nh : 3, page, out, VFIO_MAX_PIECES);
	for (int p = 0; p < n; p++) {
		bool inside = false;

		check(out[p].size && !(out[p].off % page) && !(out[p].size % page));
		for (unsigned int a = 0; a < na; a++)
			inside |= out[p].off >= areas[a].off &&
				  out[p].off + out[p].size <= areas[a].off + areas[a].size;
		check(inside);
		for (unsigned int h = 0; h < (nh < 3 ? nh : 3); h++)
			check(!holes[h].size || holes[h].off + holes[h].size <= out[p].off ||
			      holes[h].off >= out[p].off + out[p].size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz f;
	uint8_t dev_cfg[PCI_CFG_SPACE_SIZE] = { 0 };
	uint64_t sizes[PCI_NUM_BARS];
	char err[160];

	memset(&f, 0, sizeof(f));
	f.input = (struct fuzz_input){ data, size };
	for (unsigned int i = 0; i < sizeof(dev_cfg); i++)
		dev_cfg[i] = next(&f.input);
	for (int i = 0; i < PCI_NUM_BARS; i++)
		sizes[i] = next(&f.input) % 3 ? 1ULL << (next(&f.input) % 40) :
						next_le(&f.input, 2);
	if (pci_host_init(&f.host, NULL))
		return 0;
	if (vfio_cfg_build(&f.pci, dev_cfg, sizes, &f.vc, err, sizeof(err)) == 0) {
		check_caps(&f);
		if (f.vc.msix.cap)
			f.has_msix = !msix_init_at(&f.m, &f.pci, f.vc.msix.cap, f.vc.msix.nr_vectors,
						   f.vc.msix.bar, f.vc.msix.table_off,
						   f.vc.msix.pba_off, &sink, &f);
		if (!pci_host_add(&f.host, &f.pci)) {
			for (unsigned int i = 0; i < PCI_CFG_SPACE_EXP_SIZE; i++)
				f.ro[i] = f.pci.cfg[i] & ~f.pci.wmask[i];
			for (int steps = 0; steps < 64 && f.input.left; steps++)
				guest_step(&f);
			check_readonly(&f);
		}
		if (f.has_msix)
			msix_destroy(&f.m);
	} else {
		check(err[0] != '\0');
	}
	pthread_mutex_destroy(&f.host.lock);
	pieces(&f);
	return 0;
}
