/*
 * virtio-bad: a hostile guest driver for tern's test "a guest that programs a
 * bad descriptor does not crash tern". Run as root in the test guest.
 *
 *   virtio-bad [DEVICE_ID ...]   default: 0x1044 (virtio-rng, modern) then
 *                                0x1005 (its transitional id, e.g. QEMU's)
 *
 * It takes the first virtio-pci device (vendor 0x1af4) with one of those ids
 * away from its kernel driver (sysfs unbind), turns on memory decoding and bus
 * mastering, maps the BAR holding the virtio common and notify structures (found
 * by walking the PCI capability list in sysfs config space), and drives queue 0
 * itself with rings in mlock'ed pages whose physical addresses come from
 * /proc/self/pagemap. For each case it resets the device, negotiates
 * VIRTIO_F_VERSION_1 (+ INDIRECT_DESC when offered), sets the queue up, posts
 * the case's descriptor(s), notifies and waits up to 2 s (no interrupts: it
 * polls the used ring and the device status). Cases:
 *   good       a valid 64-byte device-writable buffer (checks the set-up works)
 *   a          a descriptor whose address is far outside RAM (0xfff0000000)
 *   b          a chain that loops (next points to itself)
 *   c          an indirect descriptor with a bogus table length (0xfffffff8)
 *   d          an avail ring entry naming a descriptor beyond the queue size
 *   good-again a valid buffer again, after the reset: the device recovered
 * One line per case:
 *   virtio-bad: case X: status=0x.. used_idx=N used_len=L verdict=V
 * where V is "ok" (for a bad case: the device set DEVICE_NEEDS_RESET, or
 * returned nothing, or returned the buffer with no data; for a good case: data
 * came back), "suspicious" (a bad case the device claims to have filled with
 * data) or "no-data" (a good case that got nothing back). Then "virtio-bad: done".
 *
 *   virtio-bad --poisoned-ring GOFILE [DEVICE_ID ...]
 *
 * instead runs "good", then sets queue 0 up with one request made available
 * but not notified, prints
 *   virtio-bad: poisoned-ring: avail_pa=0x... desc_pa=0x... used_pa=0x... data_pa=0x...
 * and waits (up to 10 min) for GOFILE to exist: the test poisons the host page
 * behind avail_pa meanwhile, and nothing here touches that page until the
 * device has. Then it notifies, prints "case poisoned-ring" as above (with
 * verdict "needs-reset", "failed" or "data": what the device did; or
 * "served-early": the device had served the request before the notify, so
 * before the poison, and the case proves nothing), resets the
 * device and runs "good-after-poison": set-up writes the replaced ring page
 * again, so a guest that touched it without the VMM replacing it first would
 * take the memory error itself.
 *
 *   virtio-bad --poisoned-buffer GOFILE [DEVICE_ID ...]
 *
 * the same, but the test poisons the page of the request's buffer (data_pa
 * on the line above, printed after "poisoned-buffer:"), and after the
 * outcome this program reads that page whole ("case poisoned-buffer: the
 * buffer page reads back"): the VMM must have replaced it, or the read kills
 * this program with SIGBUS.
 *
 * Exit status: 0 all cases ran (whatever the device answered), 2 the set-up
 * failed (the reason is printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpci_user.h"

static void setup_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("virtio-bad: setup failed: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(2);
}

struct outcome {
	uint8_t status;
	uint16_t used_idx;
	uint32_t used_len;
};

/* Polls the used ring and the status for up to 2 s (no interrupts). */
static struct outcome wait_outcome(struct vpci_dev *dev)
{
	volatile uint16_t *used = dev->used_pg.va;
	volatile struct used_elem *ue = (volatile struct used_elem *)((char *)dev->used_pg.va + 4);
	struct outcome o = { 0, 0, 0 };

	for (int i = 0; i < 200; i++) {
		o.status = rd8(dev->common + C_STATUS);
		mb();
		o.used_idx = used[1];
		if (o.used_idx || (o.status & (S_NEEDS_RESET | S_FAILED)))
			break;
		vpci_msleep(10);
	}
	if (o.used_idx)
		o.used_len = ue[0].len;
	return o;
}

static void run_case(struct vpci_dev *dev, const char *name, int good)
{
	volatile struct desc *d = dev->desc_pg.va;
	volatile struct desc *ind = dev->ind_pg.va;
	uint64_t data_pa = dev->data_pg.pa, ind_pa = dev->ind_pg.pa;
	const char *verdict;
	struct outcome o;
	uint16_t head = 0;

	if (vpci_init_queue0(dev)) {
		printf("virtio-bad: case %s: could not set the device up: %s\n", name, dev->err);
		return;
	}
	if (good) {
		d[0] = (struct desc){ data_pa, 64, DESC_F_WRITE, 0 };
	} else if (!strcmp(name, "a")) {
		d[0] = (struct desc){ 0xfff0000000ull, 4096, DESC_F_WRITE, 0 };
	} else if (!strcmp(name, "b")) {
		d[0] = (struct desc){ data_pa, 64, DESC_F_WRITE | DESC_F_NEXT, 0 };
	} else if (!strcmp(name, "c")) {
		/* A table that points at itself too, in case the length is believed. */
		for (int i = 0; i < 256; i++)
			ind[i] = (struct desc){ ind_pa, 64, DESC_F_WRITE | DESC_F_NEXT, (uint16_t)i };
		d[0] = (struct desc){ ind_pa, 0xfffffff8u, DESC_F_INDIRECT, 0 };
	} else { /* d */
		d[0] = (struct desc){ data_pa, 64, DESC_F_WRITE, 0 };
		head = (uint16_t)(dev->qsize + 5);
	}
	vpci_post(dev, head);
	o = wait_outcome(dev);
	if (good)
		verdict = o.used_idx && o.used_len > 0 && o.used_len <= 64 ? "ok" : "no-data";
	else
		verdict = o.used_idx && o.used_len > 0 && !(o.status & S_NEEDS_RESET) ? "suspicious" : "ok";
	printf("virtio-bad: case %s: status=0x%02x used_idx=%u used_len=%u verdict=%s\n",
	       name, o.status, o.used_idx, o.used_len, verdict);
	fflush(stdout);
	if (vpci_reset(dev))
		printf("virtio-bad: case %s: the device did not reset afterwards\n", name);
}

/* The device taken from its driver, mapped, queue 0 set up once. */
static void setup(struct vpci_dev *dev, const unsigned long *ids, int nids)
{
	char driver[256];
	int i;

	i = vpci_find(dev, ids, nids);
	if (i == -ENODEV)
		setup_fail("no virtio-pci device 1af4:%04lx in " SYSPCI, ids[0]);
	if (i < 0)
		setup_fail("%s", dev->err);
	printf("virtio-bad: device %s (1af4:%04lx)\n", dev->bdf, ids[i]);
	if (vpci_unbind(dev, driver, sizeof(driver)))
		setup_fail("%s", dev->err);
	if (driver[0])
		printf("virtio-bad: unbound %s from %s\n", dev->bdf, driver);
	if (vpci_map(dev))
		setup_fail("%s", dev->err);
	printf("virtio-bad: common cfg BAR%u+0x%x, notify BAR%u+0x%x (multiplier %u)\n",
	       dev->common_cap.bar, dev->common_cap.offset, dev->notify_cap.bar,
	       dev->notify_cap.offset, dev->notify_cap.mult);
	if (vpci_alloc_pages(dev) || vpci_init_queue0(dev))
		setup_fail("%s", dev->err);
	printf("virtio-bad: queue 0 size %u, features 0x%" PRIx64 "\n", dev->qsize, dev->features);
}

/* Waits up to 10 min for @path to exist; 0 or -ETIMEDOUT. */
static int wait_file(const char *path)
{
	struct stat st;

	for (int i = 0; i < 6000; i++) {
		if (!stat(path, &st))
			return 0;
		vpci_msleep(100);
	}
	return -ETIMEDOUT;
}

/*
 * One request made available on a queue; before the notify the test poisons
 * the page behind either the avail ring (@buffer false) or the request's
 * buffer (@buffer true).
 *  - ring: the device reads a ring the driver did not write (the VMM's
 *    replacement page), so it must fail the request or report NEEDS_RESET;
 *  - buffer: the device cannot write the buffer; it must fail the request
 *    (no data) and leave a replaced page, which this program then reads: a
 *    page left poisoned would kill it with SIGBUS there.
 * Either way the device must stay usable after a reset.
 */
static void poisoned(struct vpci_dev *dev, const char *gofile, bool buffer)
{
	volatile struct desc *d = dev->desc_pg.va;
	volatile uint16_t *avail = dev->avail_pg.va;
	const char *name = buffer ? "poisoned-buffer" : "poisoned-ring";
	volatile uint8_t *data = dev->data_pg.va;
	unsigned int sum = 0;
	uint16_t noff, early;
	struct outcome o;
	const char *verdict;

	run_case(dev, "good", 1);
	if (vpci_init_queue0(dev))
		setup_fail("%s", dev->err);
	d[0] = (struct desc){ dev->data_pg.pa, 64, DESC_F_WRITE, 0 };
	avail[2] = 0;
	mb();
	avail[1] = 1;
	mb();
	noff = rd16(dev->common + C_Q_NOFF);
	printf("virtio-bad: %s: avail_pa=0x%" PRIx64 " desc_pa=0x%" PRIx64 " used_pa=0x%" PRIx64
	       " data_pa=0x%" PRIx64 "\n", name, dev->avail_pg.pa, dev->desc_pg.pa, dev->used_pg.pa,
	       dev->data_pg.pa);
	fflush(stdout);
	if (wait_file(gofile))
		setup_fail("%s did not appear within 10 minutes", gofile);
	/* The used ring is not the poisoned page: the device may poll the
	 * queue, and a request it served before the poison proves nothing. */
	early = ((volatile uint16_t *)dev->used_pg.va)[1];
	wr16(dev->notify_base + (uint32_t)noff * dev->notify_mult, 0);
	o = wait_outcome(dev);
	verdict = early ? "served-early" : o.status & S_NEEDS_RESET ? "needs-reset" :
		  o.used_idx && o.used_len ? "data" : "failed";
	printf("virtio-bad: case %s: status=0x%02x used_idx=%u used_len=%u verdict=%s\n",
	       name, o.status, o.used_idx, o.used_len, verdict);
	fflush(stdout);
	if (buffer) {
		for (int i = 0; i < 4096; i++)
			sum += data[i];
		printf("virtio-bad: case %s: the buffer page reads back (byte sum %u)\n", name, sum);
		fflush(stdout);
	}
	if (vpci_reset(dev))
		printf("virtio-bad: case %s: the device did not reset afterwards\n", name);
	run_case(dev, "good-after-poison", 1);
	puts("virtio-bad: done");
}

int main(int argc, char **argv)
{
	unsigned long ids[8] = { 0x1044, 0x1005 };
	int nids = 2, first = 1;
	const char *gofile = NULL;
	struct vpci_dev dev = { 0 };
	bool buffer = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2 && (!strcmp(argv[1], "--poisoned-ring") || !strcmp(argv[1], "--poisoned-buffer"))) {
		buffer = !strcmp(argv[1], "--poisoned-buffer");
		gofile = argv[2];
		first = 3;
	}
	if (argc > first) {
		nids = 0;
		for (int i = first; i < argc && nids < 8; i++)
			ids[nids++] = strtoul(argv[i], NULL, 16);
	}
	if (geteuid() != 0)
		setup_fail("must run as root (sysfs unbind, pagemap)");
	setup(&dev, ids, nids);
	if (gofile) {
		poisoned(&dev, gofile, buffer);
		return 0;
	}
	run_case(&dev, "good", 1);
	run_case(&dev, "a", 0);
	run_case(&dev, "b", 0);
	run_case(&dev, "c", 0);
	run_case(&dev, "d", 0);
	run_case(&dev, "good-again", 1);
	puts("virtio-bad: done");
	return 0;
}
