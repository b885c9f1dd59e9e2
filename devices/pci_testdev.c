// SPDX-License-Identifier: GPL-2.0-only
/*
 * pci-testdev (--pci-testdev): the PCI test function QEMU offers as
 * "pci-testdev" (vendor 1b36, device 0005), which kvm-unit-tests' pci-test
 * drives to check a VMM's PCI memory and I/O BARs and KVM's ioeventfds.
 *
 * BAR 0 (memory, 4 KiB) and BAR 1 (I/O, 256 ports) each hold three tests. The
 * guest starts one by writing its number (0-2) to byte 0 of the BAR, reads
 * the test's header from the start of the BAR, then writes the header's data
 * byte at the header's offset:
 *   0  no-eventfd         each write exits to tern, which counts it;
 *   1  wildcard-eventfd   a KVM ioeventfd takes every 1-byte write there;
 *   2  datamatch-eventfd  a KVM ioeventfd takes 1-byte writes of the data
 *                         byte only (KVM_IOEVENTFD_FLAG_DATAMATCH).
 * Writes KVM takes never reach tern, so their count stays 0: the guest sees
 * either 0 (KVM took them) or every write (tern did), anything else is a bug.
 *
 * Header, little-endian: test (u8), width (u8, 1), 2 pad bytes, offset
 * (u32), data (u8), 3 pad bytes, count (u32), name (NUL-terminated,
 * "mmio-no-eventfd" ... "portio-datamatch-eventfd"). The offsets and data
 * bytes are QEMU's, so a guest sees the same device under either VMM: the
 * test's index over both BARs (0-5) past the middle of its BAR; data 0xfa
 * for the datamatch test and the no-eventfd one, 0xce for the wildcard one.
 * Every access is taken a byte at a time, as QEMU's model does: a byte of the
 * header reads as such (the last one, and anything past it, as 0), a byte
 * written at offset 0 selects a test (anything else than 0-2: none), one at
 * the test's offset counts if it is the data byte (any byte, for the
 * wildcard test).
 *
 * Everything here is guest-driven: any offset, width or value is accepted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "migration/le.h"
#include "migration/state.h"
#include "pci.h"
#include "pci_testdev.h"
#include "vmm/log.h"
#include "vmm/msi.h"

#define TESTDEV_VENDOR		0x1b36	/* Red Hat, Inc. (QEMU's devices) */
#define TESTDEV_DEVICE		0x0005
#define TESTDEV_CLASS		0xff0000	/* unclassified */
#define TESTDEV_MEM_BAR		0
#define TESTDEV_IO_BAR		1
#define TESTDEV_MEM_SIZE	4096
#define TESTDEV_IO_SIZE		256
#define TESTS_PER_BAR		3
#define NR_TESTS		(2 * TESTS_PER_BAR)
#define DATA_MATCH		0xfa
#define DATA_NOMATCH		0xce

/* Header layout (see above). */
#define HDR_TEST		0
#define HDR_WIDTH		1
#define HDR_OFFSET		4
#define HDR_DATA		8
#define HDR_COUNT		12
#define HDR_NAME		16
#define HDR_MAX			48

enum test_kind { NO_EVENTFD, WILDCARD_EVENTFD, DATAMATCH_EVENTFD };

struct pci_testdev {
	struct pci_device pci;
	struct vm *vm;
	int efd;			/* KVM signals it; nothing reads it */
	pthread_mutex_t lock;		/* the fields below */
	int current;			/* test 0-5 running, -1: none */
	uint32_t count;			/* its writes that reached tern */
	uint64_t bar_addr[2];		/* where each BAR decodes (bar_remap) */
	uint64_t armed;			/* address of the ioeventfd placed, 0: none */
	struct ratelimit ioeventfd_log;
};

static enum test_kind test_kind(int t)
{
	return (enum test_kind)(t % TESTS_PER_BAR);
}

static int test_bar(int t)
{
	return t < TESTS_PER_BAR ? TESTDEV_MEM_BAR : TESTDEV_IO_BAR;
}

static uint32_t test_offset(int t)
{
	return (test_bar(t) == TESTDEV_MEM_BAR ? TESTDEV_MEM_SIZE : TESTDEV_IO_SIZE) / 2 +
	       (uint32_t)t;
}

static uint8_t test_data(int t)
{
	return test_kind(t) == WILDCARD_EVENTFD ? DATA_NOMATCH : DATA_MATCH;
}

/* Test @t's header as the guest reads it; returns its length. */
static unsigned int test_header(const struct pci_testdev *d, int t, uint8_t *hdr)
{
	static const char *const kinds[] = { "no-eventfd", "wildcard-eventfd",
					     "datamatch-eventfd" };
	size_t name_len;

	memset(hdr, 0, HDR_MAX);
	hdr[HDR_TEST] = (uint8_t)t;
	hdr[HDR_WIDTH] = 1;
	put_le(hdr + HDR_OFFSET, test_offset(t), 4);
	hdr[HDR_DATA] = test_data(t);
	put_le(hdr + HDR_COUNT, d->count, 4);
	strcpy((char *)hdr + HDR_NAME, test_bar(t) == TESTDEV_MEM_BAR ? "mmio-" : "portio-");
	strcat((char *)hdr + HDR_NAME, kinds[test_kind(t)]);
	name_len = strlen((char *)hdr + HDR_NAME);
	return HDR_NAME + (unsigned int)name_len + 1;
}

/* Places (@on) or removes the running test's ioeventfd. Caller holds d->lock. */
static void test_arm(struct pci_testdev *d, bool on)
{
	uint64_t addr;
	int ret;

	if (d->current < 0 || test_kind(d->current) == NO_EVENTFD)
		return;
	if (!on) {
		if (!d->armed)
			return;
		addr = d->armed;
		d->armed = 0;
	} else {
		if (d->armed || !d->bar_addr[test_bar(d->current)])
			return;
		addr = d->bar_addr[test_bar(d->current)] + test_offset(d->current);
	}
	if (test_kind(d->current) == DATAMATCH_EVENTFD)
		ret = vm_ioeventfd_match(d->vm, addr, 1, d->efd, on, test_data(d->current));
	else
		ret = vm_ioeventfd(d->vm, addr, 1, d->efd, on);
	if (ret < 0) {
		/* E.g. another ioeventfd there (BARs the guest overlapped): the
		 * writes then reach tern and are counted, as in no-eventfd. */
		pr_warn_ratelimited(&d->ioeventfd_log, "%s: cannot %s the ioeventfd at %#llx: %s",
				    d->pci.name, on ? "place" : "remove",
				    (unsigned long long)addr, strerror(-ret));
		return;
	}
	if (on)
		d->armed = addr;
}

/* Ends the running test, if any, and starts test @t (-1: none). */
static void test_start(struct pci_testdev *d, int t)
{
	test_arm(d, false);
	d->current = t;
	d->count = 0;
	test_arm(d, true);
}

static void testdev_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			     unsigned int len)
{
	struct pci_testdev *d = pdev->priv;
	uint8_t hdr[HDR_MAX], *out = data;
	unsigned int hdr_len = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (d->current >= 0)
		hdr_len = test_header(d, d->current, hdr);
	pthread_mutex_unlock(&d->lock);
	(void)bar;
	/* The header's last byte reads as 0 like everything past it. */
	for (unsigned int i = 0; i < len; i++)
		if (off + i + 1 < hdr_len)
			out[i] = hdr[off + i];
}

static void testdev_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			      unsigned int len)
{
	struct pci_testdev *d = pdev->priv;
	const uint8_t *in = data;

	pthread_mutex_lock(&d->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t at = off + i;

		if (at == HDR_TEST) {
			test_start(d, in[i] < TESTS_PER_BAR ?
					      (bar == TESTDEV_IO_BAR ? TESTS_PER_BAR : 0) + in[i] :
					      -1);
			continue;
		}
		if (d->current < 0 || at != test_offset(d->current))
			continue;
		/* As QEMU's model: every test but the wildcard one counts
		 * only its data byte. */
		if (test_kind(d->current) != WILDCARD_EVENTFD && in[i] != test_data(d->current))
			continue;
		d->count++;
	}
	pthread_mutex_unlock(&d->lock);
}

/* Host lock held: the ioeventfd follows its BAR. */
static void testdev_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr,
			      uint64_t new_addr)
{
	struct pci_testdev *d = pdev->priv;

	(void)old_addr;
	if (bar != TESTDEV_MEM_BAR && bar != TESTDEV_IO_BAR)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->current >= 0 && test_bar(d->current) == bar)
		test_arm(d, false);
	d->bar_addr[bar] = new_addr;
	if (d->current >= 0 && test_bar(d->current) == bar)
		test_arm(d, true);
	pthread_mutex_unlock(&d->lock);
}

static void testdev_reset(struct pci_device *pdev)
{
	struct pci_testdev *d = pdev->priv;

	pthread_mutex_lock(&d->lock);
	test_start(d, -1);
	pthread_mutex_unlock(&d->lock);
}

/* Config space and BARs, then the running test and its count. */
static int testdev_save(struct pci_device *pdev, struct state_writer *w)
{
	struct pci_testdev *d = pdev->priv;
	int ret = pci_device_save(pdev, w);

	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	sw_u8(w, (uint8_t)(d->current + 1));
	sw_u32(w, d->count);
	pthread_mutex_unlock(&d->lock);
	return w->err;
}

static int testdev_load(struct pci_device *pdev, struct state_reader *r)
{
	struct pci_testdev *d = pdev->priv;
	int ret = pci_device_load(pdev, r);
	uint8_t current;
	uint32_t count;

	if (ret)
		return ret;
	current = sr_u8(r);
	count = sr_u32(r);
	if (!sr_ok(r))
		return r->err;
	if (current > NR_TESTS)
		return sr_fail(r, "test %u running, but there are %d", current - 1, NR_TESTS);
	pthread_mutex_lock(&d->lock);
	test_start(d, (int)current - 1);
	d->count = count;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static const struct pci_device_ops testdev_ops = {
	.reset = testdev_reset,
	.bar_read = testdev_bar_read,
	.bar_write = testdev_bar_write,
	.bar_remap = testdev_bar_remap,
	.save = testdev_save,
	.load = testdev_load,
};

void pci_testdev_destroy(struct pci_device *pdev)
{
	struct pci_testdev *d = pdev->priv;

	close(d->efd);
	ratelimit_destroy(&d->ioeventfd_log);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

struct pci_device *pci_testdev_create(struct vm *vm)
{
	struct pci_testdev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return NULL;
	d->vm = vm;
	d->current = -1;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0 || pthread_mutex_init(&d->lock, NULL)) {
		if (d->efd >= 0)
			close(d->efd);
		free(d);
		return NULL;
	}
	ratelimit_init(&d->ioeventfd_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	pci_device_init(&d->pci, TESTDEV_VENDOR, TESTDEV_DEVICE, TESTDEV_CLASS, 0, 0, 0);
	d->pci.ops = &testdev_ops;
	d->pci.priv = d;
	d->pci.model = "pci-testdev";
	ret = pci_device_add_bar(&d->pci, TESTDEV_MEM_BAR, TESTDEV_MEM_SIZE, false);
	if (!ret)
		ret = pci_device_add_io_bar(&d->pci, TESTDEV_IO_BAR, TESTDEV_IO_SIZE);
	if (ret) {
		pci_testdev_destroy(&d->pci);
		errno = -ret;
		return NULL;
	}
	return &d->pci;
}
