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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYSPCI "/sys/bus/pci/devices"
#define VIRTIO_VENDOR 0x1af4

/* Device status bits and feature bits (virtio 1.x). */
#define S_ACKNOWLEDGE 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80
#define F_INDIRECT_DESC 28
#define F_VERSION_1 32

/* virtio_pci_common_cfg offsets */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_MSIX 0x10
#define C_NUMQ 0x12
#define C_STATUS 0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESCLO 0x20
#define C_Q_DESCHI 0x24
#define C_Q_AVAILLO 0x28
#define C_Q_AVAILHI 0x2c
#define C_Q_USEDLO 0x30
#define C_Q_USEDHI 0x34

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4
#define AVAIL_F_NO_INTERRUPT 1
#define NO_VECTOR 0xffff
#define QSIZE_MAX 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct used_elem {
	uint32_t id;
	uint32_t len;
};

/* One page per ring part, plus a data page and an indirect table page. */
struct page {
	void *va;
	uint64_t pa;
};

static char bdf[256];
static volatile uint8_t *common, *notify_base;
static uint32_t notify_mult;
static struct page desc_pg, avail_pg, used_pg, data_pg, ind_pg;
static uint16_t qsize;
static uint64_t features;

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

/*
 * MMIO accessors. Single loads/stores without writeback, so that a hypervisor
 * trapping them gets a valid syndrome (the compiler could otherwise pick
 * addressing modes KVM cannot decode for emulated MMIO).
 */
#if defined(__aarch64__)
static uint8_t rd8(volatile uint8_t *p) { uint8_t v; __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static uint16_t rd16(volatile uint8_t *p) { uint16_t v; __asm__ volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static uint32_t rd32(volatile uint8_t *p) { uint32_t v; __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static void wr8(volatile uint8_t *p, uint8_t v) { __asm__ volatile("strb %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
static void wr16(volatile uint8_t *p, uint16_t v) { __asm__ volatile("strh %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
static void wr32(volatile uint8_t *p, uint32_t v) { __asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
#define mb() __asm__ volatile("dmb sy" : : : "memory")
#else
static uint8_t rd8(volatile uint8_t *p) { return *p; }
static uint16_t rd16(volatile uint8_t *p) { return *(volatile uint16_t *)p; }
static uint32_t rd32(volatile uint8_t *p) { return *(volatile uint32_t *)p; }
static void wr8(volatile uint8_t *p, uint8_t v) { *p = v; }
static void wr16(volatile uint8_t *p, uint16_t v) { *(volatile uint16_t *)p = v; }
static void wr32(volatile uint8_t *p, uint32_t v) { *(volatile uint32_t *)p = v; }
#define mb() __sync_synchronize()
#endif

static void wr64(volatile uint8_t *lo, uint64_t v)
{
	wr32(lo, (uint32_t)v);
	wr32(lo + 4, (uint32_t)(v >> 32));
}

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = write(fd, s, strlen(s));
	close(fd);
	return r == (ssize_t)strlen(s) ? 0 : -1;
}

static unsigned long sys_hex(const char *dev, const char *attr)
{
	char path[512], buf[64];

	snprintf(path, sizeof(path), SYSPCI "/%s/%s", dev, attr);
	if (read_file(path, buf, sizeof(buf)))
		return ~0ul;
	return strtoul(buf, NULL, 16);
}

static int find_device(unsigned long *ids, int nids)
{
	for (int i = 0; i < nids; i++) {
		DIR *d = opendir(SYSPCI);
		struct dirent *e;

		if (!d)
			setup_fail("cannot open " SYSPCI ": %s", strerror(errno));
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (sys_hex(e->d_name, "vendor") == VIRTIO_VENDOR && sys_hex(e->d_name, "device") == ids[i]) {
				snprintf(bdf, sizeof(bdf), "%s", e->d_name);
				closedir(d);
				
				return 0;
			}
		}
		closedir(d);
	}
	return -1;
}

static void unbind(void)
{
	char path[512], link[512];
	ssize_t n;

	snprintf(path, sizeof(path), SYSPCI "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return; /* not bound */
	link[n] = 0;
	snprintf(path, sizeof(path), SYSPCI "/%s/driver/unbind", bdf);
	if (write_file(path, bdf))
		setup_fail("unbinding %s from %s: %s", bdf, strrchr(link, '/') + 1, strerror(errno));
	
}

struct cap {
	int found;
	unsigned bar;
	uint32_t offset, length, mult;
};

/* Config space through sysfs: command register on, then the capability walk. */
static void read_config(struct cap *common_cap, struct cap *notify_cap)
{
	char path[512];
	uint8_t cfg[256];
	uint16_t cmd;
	unsigned pos, guard = 0;
	int fd;

	snprintf(path, sizeof(path), SYSPCI "/%s/config", bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		setup_fail("open %s: %s", path, strerror(errno));
	if (pread(fd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg))
		setup_fail("reading 256 bytes of %s: %s", path, strerror(errno));
	/* Memory space + bus master (the device must be allowed to DMA). */
	cmd = (uint16_t)(cfg[4] | cfg[5] << 8) | 0x6;
	if (pwrite(fd, &cmd, 2, 4) != 2)
		setup_fail("writing the command register: %s", strerror(errno));
	close(fd);
	if (!(cfg[6] & 0x10))
		setup_fail("%s has no capability list", bdf);
	for (pos = cfg[0x34] & 0xfc; pos && guard < 48; pos = cfg[pos + 1] & 0xfc, guard++) {
		struct cap *c = NULL;

		if (pos > 256 - 16)
			setup_fail("capability at 0x%x runs past config space", pos);
		if (cfg[pos] != 0x09) /* vendor specific: virtio structures */
			continue;
		if (cfg[pos + 3] == 1)
			c = common_cap;
		else if (cfg[pos + 3] == 2)
			c = notify_cap;
		if (!c || c->found)
			continue;
		c->found = 1;
		c->bar = cfg[pos + 4];
		memcpy(&c->offset, cfg + pos + 8, 4);
		memcpy(&c->length, cfg + pos + 12, 4);
		if (c == notify_cap && pos <= 256 - 20)
			memcpy(&c->mult, cfg + pos + 16, 4);
	}
	if (!common_cap->found || !notify_cap->found)
		setup_fail("%s lacks a virtio %s capability", bdf, common_cap->found ? "notify" : "common");
}

static volatile uint8_t *map_bar(unsigned bar)
{
	char path[512];
	struct stat st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), SYSPCI "/%s/resource%u", bdf, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st) < 0)
		setup_fail("open %s: %s", path, strerror(errno));
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		setup_fail("mmap %s (%lld bytes): %s", path, (long long)st.st_size, strerror(errno));
	close(fd);
	return p;
}

static void alloc_page(struct page *pg)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t entry;
	int fd;

	pg->va = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pg->va == MAP_FAILED || mlock(pg->va, (size_t)psz))
		setup_fail("a locked page: %s", strerror(errno));
	memset(pg->va, 0, (size_t)psz);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, 8, (off_t)((uintptr_t)pg->va / (uintptr_t)psz * 8)) != 8)
		setup_fail("reading /proc/self/pagemap: %s", strerror(errno));
	close(fd);
	if (!(entry >> 63) || !(entry & ((1ull << 55) - 1)))
		setup_fail("pagemap gives no physical address (present=%d; not root?)", (int)(entry >> 63));
	pg->pa = (entry & ((1ull << 55) - 1)) * (uint64_t)psz;
}

static int reset_device(void)
{
	wr8(common + C_STATUS, 0);
	for (int i = 0; i < 1000; i++) {
		if (rd8(common + C_STATUS) == 0)
			return 0;
		msleep(2);
	}
	return -1;
}

/* Reset, negotiate, set queue 0 up with empty rings. Returns -1 with a reason. */
static int init_device(const char **why)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t offered;
	uint16_t max;

	if (reset_device()) {
		*why = "the device did not reset (status stays non-zero)";
		return -1;
	}
	memset(desc_pg.va, 0, (size_t)psz);
	memset(avail_pg.va, 0, (size_t)psz);
	memset(used_pg.va, 0, (size_t)psz);
	memset(data_pg.va, 0, (size_t)psz);
	wr8(common + C_STATUS, S_ACKNOWLEDGE);
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);
	wr32(common + C_DFSELECT, 0);
	offered = rd32(common + C_DF);
	wr32(common + C_DFSELECT, 1);
	offered |= (uint64_t)rd32(common + C_DF) << 32;
	if (!(offered & (1ull << F_VERSION_1))) {
		*why = "the device does not offer VIRTIO_F_VERSION_1";
		return -1;
	}
	features = (1ull << F_VERSION_1) | (offered & (1ull << F_INDIRECT_DESC));
	wr32(common + C_GFSELECT, 0);
	wr32(common + C_GF, (uint32_t)features);
	wr32(common + C_GFSELECT, 1);
	wr32(common + C_GF, (uint32_t)(features >> 32));
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(rd8(common + C_STATUS) & S_FEATURES_OK)) {
		*why = "the device refused FEATURES_OK";
		return -1;
	}
	wr16(common + C_MSIX, NO_VECTOR);
	if (rd16(common + C_NUMQ) < 1) {
		*why = "the device has no queues";
		return -1;
	}
	wr16(common + C_Q_SELECT, 0);
	max = rd16(common + C_Q_SIZE);
	if (max == 0) {
		*why = "queue 0 has size 0";
		return -1;
	}
	/* Largest power of two <= both the device's maximum and QSIZE_MAX. */
	for (qsize = QSIZE_MAX; qsize > max; qsize /= 2)
		;
	wr16(common + C_Q_SIZE, qsize);
	wr16(common + C_Q_MSIX, NO_VECTOR);
	wr64(common + C_Q_DESCLO, desc_pg.pa);
	wr64(common + C_Q_AVAILLO, avail_pg.pa);
	wr64(common + C_Q_USEDLO, used_pg.pa);
	((volatile uint16_t *)avail_pg.va)[0] = AVAIL_F_NO_INTERRUPT;
	mb();
	wr16(common + C_Q_ENABLE, 1);
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
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
	int rng_cfg;
	uint64_t rng_bar, other_bar;
	uint32_t bar_flags;
};

/* A queue enabled with rings outside RAM: tern refuses to enable it. */
static void bad_addr(struct counts *c)
{
	if (reset_device())
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
static void bad_ring(struct counts *c)
{
	volatile uint16_t *avail = avail_pg.va;
	const char *why;
	uint16_t noff;

	if (init_device(&why))
		return;
	c->resets++;
	noff = rd16(common + C_Q_NOFF);
	avail[2 + avail[1] % qsize] = (uint16_t)(qsize + 5);
	mb();
	avail[1] = avail[1] + 1;
	mb();
	wr16(notify_base + (uint32_t)noff * notify_mult, 0);
	for (int i = 0; i < 100 && !(rd8(common + C_STATUS) & S_NEEDS_RESET); i++)
		msleep(1);
	c->bad_ring++;
}

/* BAR 0 onto the other device's and back: the notify ioeventfds collide. */
static void bar_overlap(struct virtio_target *t, struct counts *c)
{
	set_bar0(t->rng_cfg, t->other_bar, t->bar_flags);
	set_bar0(t->rng_cfg, t->rng_bar, t->bar_flags);
	c->bar_moves += 2;
}

static void take_device(unsigned long id, const char *what)
{
	if (find_device(&id, 1))
		setup_fail("no %s (1af4:%04lx)", what, id);
	unbind();
}

static void setup_virtio(struct virtio_target *t)
{
	struct cap cc = { 0 }, nc = { 0 };
	char other[256];
	uint32_t lo;
	int fd;

	take_device(ID_CONSOLE, "virtio console (start tern with --vconsole pty)");
	snprintf(other, sizeof(other), "%s", bdf);
	fd = config_fd(other);
	t->other_bar = bar0(fd);
	close(fd);
	take_device(ID_RNG, "virtio-rng");
	read_config(&cc, &nc);
	common = map_bar(cc.bar) + cc.offset;
	notify_base = (cc.bar == nc.bar ? common - cc.offset : map_bar(nc.bar)) + nc.offset;
	notify_mult = nc.mult;
	t->rng_cfg = config_fd(bdf);
	t->rng_bar = bar0(t->rng_cfg);
	if (pread(t->rng_cfg, &lo, 4, 0x10) != 4)
		setup_fail("reading BAR 0: %s", strerror(errno));
	t->bar_flags = lo & 0xf;
	alloc_page(&desc_pg);
	alloc_page(&avail_pg);
	alloc_page(&used_pg);
	alloc_page(&data_pg);
	alloc_page(&ind_pg);
	printf("logflood: virtio-rng %s BAR 0 %#llx, console %s BAR 0 %#llx\n", bdf,
	       (unsigned long long)t->rng_bar, other, (unsigned long long)t->other_bar);
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
			bad_addr(&c);
			bad_ring(&c);
			bar_overlap(&t, &c);
		}
	}
	if (do_virtio)
		reset_device();
	printf("logflood: done seconds=%.1f mmio=%lu strict=%lu bad_addr=%lu bad_ring=%lu resets=%lu bar_moves=%lu\n",
	       now_s() - t0, c.mmio, c.strict, c.bad_addr, c.bad_ring, c.resets, c.bar_moves);
	return 0;
}
