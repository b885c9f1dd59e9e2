// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for pci-testdev (devices/pci_testdev.c) behind the PCI
 * host: the input is a program of ECAM accesses (biased to the command
 * register and the two BARs), accesses through the memory and I/O windows
 * (biased to the header and the tests' offsets), guest resets, snapshot
 * round trips, loads of patched snapshots, and KVM refusing ioeventfds.
 * KVM_IOEVENTFD is a stub that keeps the ioeventfd placed. Besides the
 * sanitizers it checks that:
 *  - at most one ioeventfd is placed at a time, and what is removed is
 *    exactly what was placed;
 *  - a placed ioeventfd is always at a test's offset inside a BAR that
 *    decodes now (never left behind by a BAR move, decode off or a reset);
 *  - a snapshot loads back, and a state loaded (patched or not) saves again
 *    byte for byte;
 *  - a refused load says why.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "devices/pci_testdev.h"
#include "migration/state.h"
#include "vmm/layout.h"
#include "vmm/msi.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	bool placed;
	uint64_t addr;
	bool match;
	uint64_t data;
	bool refuse;		/* the next calls fail, as KVM's can */
} kvm;

static int ioeventfd_stub(uint64_t addr, unsigned int len, bool assign, bool match,
			  uint64_t data)
{
	check(len == 1);
	if (!assign) {
		check(kvm.placed && kvm.addr == addr && kvm.match == match &&
		      (!match || kvm.data == data));
		kvm.placed = false;
		return 0;
	}
	check(!kvm.placed);
	if (kvm.refuse)
		return -EEXIST;
	kvm = (typeof(kvm)){ true, addr, match, data, false };
	return 0;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign)
{
	return ioeventfd_stub(addr, len, assign, false, 0);
}

int vm_ioeventfd_match(struct vm *vm, uint64_t addr, unsigned int len, int efd, bool assign,
		       uint64_t datamatch)
{
	return ioeventfd_stub(addr, len, assign, true, datamatch);
}

struct fuzz {
	struct pci_host host;
	struct pci_device *dev;
	struct fuzz_input in;
};

static unsigned int pick_len(struct fuzz *f)
{
	static const unsigned int lens[] = { 1, 2, 4, 8 };

	return lens[next(&f->in) % 4];
}

static void ecam_access(struct fuzz *f, bool write)
{
	static const unsigned int regs[] = { PCI_COMMAND, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_1,
					     PCI_BASE_ADDRESS_1 + 1, PCI_BASE_ADDRESS_2 };
	uint8_t sel = next(&f->in);
	unsigned int reg = sel < 200 ? regs[sel % 5] : (unsigned int)next_be(&f->in, 2) & 0xfff;
	unsigned int len = pick_len(f);
	uint64_t v = next_le(&f->in, 4);

	if (sel % 3 == 0)
		v = sel & 1 ? 0xffffffff : PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
	if (write)
		f->host.ecam.ops->mmio_write(&f->host.ecam, reg, (const uint8_t *)&v, len);
	else
		f->host.ecam.ops->mmio_read(&f->host.ecam, reg, (uint8_t *)&v, len);
}

/* An access near BAR @bar (where it decodes, else where tern put it). */
static void window_access(struct fuzz *f, int bar, bool write)
{
	static const uint64_t offs[] = { 0, 1, 4, 8, 12, 16, 20, 131, 132, 133, 255, 256,
					 2048, 2049, 2050, 4095 };
	struct device *w = bar ? &f->host.io : &f->host.mmio;
	uint64_t base = pci_bar_addr(f->dev, bar) ?: f->dev->bars[bar].assigned +
						    (bar ? LAYOUT_PCI_IO_BASE : 0);
	uint8_t sel = next(&f->in);
	uint64_t addr = base + (sel < 224 ? offs[sel % 16] : next_be(&f->in, 2));
	unsigned int len = pick_len(f);
	uint64_t v = sel & 1 ? next(&f->in) : next_le(&f->in, 8);

	if (addr < w->mmio_base || addr - w->mmio_base > w->mmio_size - len)
		return;
	if (write)
		w->ops->mmio_write(w, addr - w->mmio_base, (const uint8_t *)&v, len);
	else
		w->ops->mmio_read(w, addr - w->mmio_base, (uint8_t *)&v, len);
}

static void save(struct fuzz *f, struct state_writer *w)
{
	sw_init(w);
	pthread_mutex_lock(&f->host.lock);
	check(f->dev->ops->save(f->dev, w) == 0);
	pthread_mutex_unlock(&f->host.lock);
}

static int load(struct fuzz *f, const uint8_t *buf, size_t len, struct state_reader *r)
{
	int ret;

	sr_init(r, buf, len);
	pthread_mutex_lock(&f->host.lock);
	ret = f->dev->ops->load(f->dev, r);
	pthread_mutex_unlock(&f->host.lock);
	return ret ? ret : sr_finish(r);
}

/* Save, reset, load, save again: the same bytes. With @patches, the saved
 * state is patched (xor at offsets from the input) first: accepted or
 * refused with a reason. */
static void round_trip(struct fuzz *f, unsigned int patches)
{
	struct state_writer a, b;
	struct state_reader r;

	save(f, &a);
	for (unsigned int i = 0; i < patches && a.len; i++) {
		size_t at = a.len - 1 - next_be(&f->in, 2) % (a.len < 64 ? a.len : 64);

		a.buf[at] ^= next(&f->in);
	}
	f->host.ecam.ops->reset(&f->host.ecam);
	if (load(f, a.buf, a.len, &r)) {
		check(patches && r.msg[0]);
		f->host.ecam.ops->reset(&f->host.ecam);
	} else {
		/* Accepted: exactly what it saves right after. */
		save(f, &b);
		check(b.len == a.len && !memcmp(a.buf, b.buf, a.len));
		sw_free(&b);
	}
	sw_free(&a);
}

/* Where a placed ioeventfd may be: a test's offset in a decoding BAR. */
static void check_placed(struct fuzz *f)
{
	uint64_t mem = pci_bar_addr(f->dev, 0), io = pci_bar_addr(f->dev, 1);

	if (!kvm.placed)
		return;
	check((mem && (kvm.addr == mem + 2049 || kvm.addr == mem + 2050)) ||
	      (io && (kvm.addr == io + 132 || kvm.addr == io + 133)));
	check(kvm.match == (kvm.addr == mem + 2050 || kvm.addr == io + 133));
	check(!kvm.match || kvm.data == 0xfa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz f = { .in = { data, size } };

	memset(&kvm, 0, sizeof(kvm));
	if (pci_host_init(&f.host, NULL))
		return 0;
	f.dev = pci_testdev_create(NULL);
	check(f.dev && pci_host_add(&f.host, f.dev) == 0);
	for (unsigned int steps = 0; f.in.left && steps < 256; steps++) {
		switch (next(&f.in) % 10) {
		case 0: ecam_access(&f, true); break;
		case 1: ecam_access(&f, false); break;
		case 2: case 3: window_access(&f, 0, next(&f.in) & 1); break;
		case 4: case 5: window_access(&f, 1, next(&f.in) & 1); break;
		case 6: f.host.ecam.ops->reset(&f.host.ecam); break;
		case 7: round_trip(&f, 0); break;
		case 8: round_trip(&f, 1 + next(&f.in) % 4); break;
		case 9: kvm.refuse = !kvm.refuse; break;
		}
		check_placed(&f);
	}
	f.host.ecam.ops->reset(&f.host.ecam);
	check(!kvm.placed);
	pci_testdev_destroy(f.dev);
	f.host.ecam.ops->destroy(&f.host.ecam);
	return 0;
}
