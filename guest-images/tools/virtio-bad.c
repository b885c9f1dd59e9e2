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
 * Exit status: 0 all cases ran (whatever the device answered), 2 the set-up
 * failed (the reason is printed).
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
	fputs("virtio-bad: setup failed: ", stdout);
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
				printf("virtio-bad: device %s (1af4:%04lx)\n", bdf, ids[i]);
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
	printf("virtio-bad: unbound %s from %s\n", bdf, strrchr(link, '/') + 1);
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

/* Make descriptor HEAD available, notify queue 0, wait for an answer. */
static void post(uint16_t head)
{
	volatile uint16_t *avail = avail_pg.va;
	uint16_t noff = rd16(common + C_Q_NOFF);

	avail[2 + avail[1] % qsize] = head;
	mb();
	avail[1] = avail[1] + 1;
	mb();
	wr16(notify_base + (uint32_t)noff * notify_mult, 0);
}

struct outcome {
	uint8_t status;
	uint16_t used_idx;
	uint32_t used_len;
};

static struct outcome wait_outcome(void)
{
	volatile uint16_t *used = used_pg.va;
	volatile struct used_elem *ue = (volatile struct used_elem *)((char *)used_pg.va + 4);
	struct outcome o = { 0, 0, 0 };

	for (int i = 0; i < 200; i++) {
		o.status = rd8(common + C_STATUS);
		mb();
		o.used_idx = used[1];
		if (o.used_idx || (o.status & (S_NEEDS_RESET | S_FAILED)))
			break;
		msleep(10);
	}
	if (o.used_idx)
		o.used_len = ue[0].len;
	return o;
}

static void run_case(const char *name, int good)
{
	volatile struct desc *d = desc_pg.va;
	volatile struct desc *ind = ind_pg.va;
	const char *why = NULL, *verdict;
	struct outcome o;
	uint16_t head = 0;

	if (init_device(&why)) {
		printf("virtio-bad: case %s: could not set the device up: %s\n", name, why);
		return;
	}
	if (good) {
		d[0] = (struct desc){ data_pg.pa, 64, DESC_F_WRITE, 0 };
	} else if (!strcmp(name, "a")) {
		d[0] = (struct desc){ 0xfff0000000ull, 4096, DESC_F_WRITE, 0 };
	} else if (!strcmp(name, "b")) {
		d[0] = (struct desc){ data_pg.pa, 64, DESC_F_WRITE | DESC_F_NEXT, 0 };
	} else if (!strcmp(name, "c")) {
		/* A table that points at itself too, in case the length is believed. */
		for (int i = 0; i < 256; i++)
			ind[i] = (struct desc){ ind_pg.pa, 64, DESC_F_WRITE | DESC_F_NEXT, (uint16_t)i };
		d[0] = (struct desc){ ind_pg.pa, 0xfffffff8u, DESC_F_INDIRECT, 0 };
	} else { /* d */
		d[0] = (struct desc){ data_pg.pa, 64, DESC_F_WRITE, 0 };
		head = (uint16_t)(qsize + 5);
	}
	post(head);
	o = wait_outcome();
	if (good)
		verdict = o.used_idx && o.used_len > 0 && o.used_len <= 64 ? "ok" : "no-data";
	else
		verdict = o.used_idx && o.used_len > 0 && !(o.status & S_NEEDS_RESET) ? "suspicious" : "ok";
	printf("virtio-bad: case %s: status=0x%02x used_idx=%u used_len=%u verdict=%s\n",
	       name, o.status, o.used_idx, o.used_len, verdict);
	fflush(stdout);
	if (reset_device())
		printf("virtio-bad: case %s: the device did not reset afterwards\n", name);
}

int main(int argc, char **argv)
{
	unsigned long ids[8] = { 0x1044, 0x1005 };
	int nids = 2;
	struct cap cc = { 0 }, nc = { 0 };
	volatile uint8_t *nbar;
	const char *why = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1) {
		nids = 0;
		for (int i = 1; i < argc && nids < 8; i++)
			ids[nids++] = strtoul(argv[i], NULL, 16);
	}
	if (geteuid() != 0)
		setup_fail("must run as root (sysfs unbind, pagemap)");
	if (find_device(ids, nids))
		setup_fail("no virtio-pci device 1af4:%04lx in " SYSPCI, ids[0]);
	unbind();
	read_config(&cc, &nc);
	common = map_bar(cc.bar) + cc.offset;
	nbar = cc.bar == nc.bar ? common - cc.offset : map_bar(nc.bar);
	notify_base = nbar + nc.offset;
	notify_mult = nc.mult;
	printf("virtio-bad: common cfg BAR%u+0x%x, notify BAR%u+0x%x (multiplier %u)\n",
	       cc.bar, cc.offset, nc.bar, nc.offset, nc.mult);
	alloc_page(&desc_pg);
	alloc_page(&avail_pg);
	alloc_page(&used_pg);
	alloc_page(&data_pg);
	alloc_page(&ind_pg);
	if (init_device(&why))
		setup_fail("%s", why);
	printf("virtio-bad: queue 0 size %u, features 0x%" PRIx64 "\n", qsize, features);
	run_case("good", 1);
	run_case("a", 0);
	run_case("b", 0);
	run_case("c", 0);
	run_case("d", 0);
	run_case("good-again", 1);
	puts("virtio-bad: done");
	return 0;
}
