/*
 * logflood: a guest that tries to flood tern's log, for the lab's log-flood
 * scenario. Run as root in the test guest.
 *
 *   logflood mmio SECONDS     unclaimed MMIO reads and writes (0x07000000)
 *   logflood strict SECONDS   the same reads in forked children, for a tern
 *                             with --strict-mmio: each one gets an external
 *                             abort (the child dies of SIGBUS)
 *   logflood virtio SECONDS   the virtio-rng device (taken from its driver,
 *                             as virtio-bad does) in a loop: a queue enabled
 *                             with ring addresses outside RAM, a ring with an
 *                             out-of-range head (DEVICE_NEEDS_RESET), a device
 *                             reset, and its BAR 0 moved onto the BAR 0 of a
 *                             second virtio device (1af4:1043, the virtio
 *                             console, also taken from its driver) and back,
 *                             so that KVM refuses the overlapping ioeventfds
 *   logflood all SECONDS      mmio and virtio interleaved
 *
 * Ends with one line:
 *   logflood: done seconds=S mmio=N strict=N bad_addr=N bad_ring=N resets=N bar_moves=N
 * counting what it made tern see. Exit status 0, or 2 if the set-up failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vpci_user.h"

static void setup_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("logflood: setup failed: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(2);
}

#define UNCLAIMED_PA	0x07000000ul
#define ID_RNG		0x1044
#define ID_CONSOLE	0x1043

struct counts {
	unsigned long mmio, strict, bad_addr, bad_ring, resets, bar_moves;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile uint8_t *map_unclaimed(void)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	void *p;

	if (fd < 0)
		setup_fail("open /dev/mem: %s", strerror(errno));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, UNCLAIMED_PA);
	if (p == MAP_FAILED)
		setup_fail("mmap /dev/mem at %#lx: %s", UNCLAIMED_PA, strerror(errno));
	close(fd);
	return p;
}

static void flood_mmio(volatile uint8_t *p, struct counts *c)
{
	for (int i = 0; i < 64; i++) {
		(void)rd32(p + (i & 63) * 4);
		wr32(p + 0x100, (uint32_t)i);
		c->mmio += 2;
	}
}

/* One unclaimed read per child: under --strict-mmio it dies of SIGBUS. */
static void flood_strict(volatile uint8_t *p, struct counts *c)
{
	for (int i = 0; i < 8; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			(void)rd32(p);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0)
			setup_fail("fork/wait: %s", strerror(errno));
		c->strict++;
	}
}

/* Config space through sysfs (the device's driver is gone). */
static int config_fd(const char *dev)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), SYSPCI "/%s/config", dev);
	fd = open(path, O_RDWR);
	if (fd < 0)
		setup_fail("open %s: %s", path, strerror(errno));
	return fd;
}

static uint64_t bar0(int fd)
{
	uint32_t lo, hi;

	if (pread(fd, &lo, 4, 0x10) != 4 || pread(fd, &hi, 4, 0x14) != 4)
		setup_fail("reading BAR 0: %s", strerror(errno));
	return ((uint64_t)hi << 32) | (lo & ~0xfu);
}

static void set_bar0(int fd, uint64_t addr, uint32_t flags)
{
	uint32_t lo = (uint32_t)addr | flags, hi = (uint32_t)(addr >> 32);

	if (pwrite(fd, &lo, 4, 0x10) != 4 || pwrite(fd, &hi, 4, 0x14) != 4)
		setup_fail("writing BAR 0: %s", strerror(errno));
}

struct virtio_target {
	struct vpci_dev rng;
	int rng_cfg;
	uint64_t rng_bar, other_bar;
	uint32_t bar_flags;
};

/* A queue enabled with rings outside RAM: tern refuses to enable it. */
static void bad_addr(struct virtio_target *t, struct counts *c)
{
	volatile uint8_t *common = t->rng.common;

	if (vpci_reset(&t->rng))
		return;
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);
	wr16(common + C_Q_SELECT, 0);
	wr64(common + C_Q_DESCLO, 0xfff0000000ull);
	wr64(common + C_Q_AVAILLO, 0xfff0001000ull);
	wr64(common + C_Q_USEDLO, 0xfff0002000ull);
	wr16(common + C_Q_ENABLE, 1);
	c->bad_addr++;
	c->resets++;
}

/* A head beyond the queue: the device needs a reset. */
static void bad_ring(struct virtio_target *t, struct counts *c)
{
	struct vpci_dev *rng = &t->rng;

	if (vpci_init_queue0(rng))
		return;
	c->resets++;
	vpci_post(rng, (uint16_t)(rng->qsize + 5));
	for (int i = 0; i < 100 && !(rd8(rng->common + C_STATUS) & S_NEEDS_RESET); i++)
		vpci_msleep(1);
	c->bad_ring++;
}

/* BAR 0 onto the other device's and back: the notify ioeventfds collide. */
static void bar_overlap(struct virtio_target *t, struct counts *c)
{
	set_bar0(t->rng_cfg, t->other_bar, t->bar_flags);
	set_bar0(t->rng_cfg, t->rng_bar, t->bar_flags);
	c->bar_moves += 2;
}

static void take_device(struct vpci_dev *d, unsigned long id, const char *what)
{
	char driver[256];
	int r = vpci_find(d, &id, 1);

	if (r == -ENODEV)
		setup_fail("no %s (1af4:%04lx)", what, id);
	if (r < 0 || vpci_unbind(d, driver, sizeof(driver)))
		setup_fail("%s", d->err);
}

static void setup_virtio(struct virtio_target *t)
{
	struct vpci_dev console = { 0 };
	uint32_t lo;
	int fd;

	take_device(&console, ID_CONSOLE, "virtio console (start tern with --vconsole pty)");
	fd = config_fd(console.bdf);
	t->other_bar = bar0(fd);
	close(fd);
	take_device(&t->rng, ID_RNG, "virtio-rng");
	if (vpci_map(&t->rng))
		setup_fail("%s", t->rng.err);
	t->rng_cfg = config_fd(t->rng.bdf);
	t->rng_bar = bar0(t->rng_cfg);
	if (pread(t->rng_cfg, &lo, 4, 0x10) != 4)
		setup_fail("reading BAR 0: %s", strerror(errno));
	t->bar_flags = lo & 0xf;
	if (vpci_alloc_pages(&t->rng))
		setup_fail("%s", t->rng.err);
	printf("logflood: virtio-rng %s BAR 0 %#llx, console %s BAR 0 %#llx\n", t->rng.bdf,
	       (unsigned long long)t->rng_bar, console.bdf, (unsigned long long)t->other_bar);
}

int main(int argc, char **argv)
{
	struct virtio_target t = { .rng_cfg = -1 };
	struct counts c = { 0 };
	volatile uint8_t *mmio = NULL;
	int do_mmio, do_strict, do_virtio;
	double seconds, t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3 || (seconds = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: logflood mmio|strict|virtio|all SECONDS\n");
		return 2;
	}
	do_mmio = !strcmp(argv[1], "mmio") || !strcmp(argv[1], "all");
	do_strict = !strcmp(argv[1], "strict");
	do_virtio = !strcmp(argv[1], "virtio") || !strcmp(argv[1], "all");
	if (!do_mmio && !do_strict && !do_virtio)
		setup_fail("unknown mode %s (mmio, strict, virtio, all)", argv[1]);
	if (geteuid() != 0)
		setup_fail("must run as root (/dev/mem, sysfs, pagemap)");
	if (do_mmio || do_strict)
		mmio = map_unclaimed();
	if (do_virtio)
		setup_virtio(&t);
	t0 = now_s();
	while (now_s() - t0 < seconds) {
		if (do_mmio)
			flood_mmio(mmio, &c);
		if (do_strict)
			flood_strict(mmio, &c);
		if (do_virtio) {
			bad_addr(&t, &c);
			bad_ring(&t, &c);
			bar_overlap(&t, &c);
		}
	}
	if (do_virtio)
		vpci_reset(&t.rng);
	printf("logflood: done seconds=%.1f mmio=%lu strict=%lu bad_addr=%lu bad_ring=%lu resets=%lu bar_moves=%lu\n",
	       now_s() - t0, c.mmio, c.strict, c.bad_addr, c.bad_ring, c.resets, c.bar_moves);
	return 0;
}
