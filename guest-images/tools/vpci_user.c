/* vpci_user: a virtio-pci device driven from userspace (see vpci_user.h). */
#define _GNU_SOURCE
#include "vpci_user.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Puts the reason into d->err and returns -err. */
__attribute__((format(printf, 3, 4)))
static int fail(struct vpci_dev *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return err > 0 ? -err : -EIO;
}

void vpci_msleep(unsigned ms)
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

int vpci_find(struct vpci_dev *d, const unsigned long *ids, int nids)
{
	for (int i = 0; i < nids; i++) {
		DIR *dir = opendir(SYSPCI);
		struct dirent *e;

		if (!dir)
			return fail(d, errno, "cannot open " SYSPCI ": %s", strerror(errno));
		while ((e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			if (sys_hex(e->d_name, "vendor") == VIRTIO_VENDOR && sys_hex(e->d_name, "device") == ids[i]) {
				snprintf(d->bdf, sizeof(d->bdf), "%s", e->d_name);
				closedir(dir);
				return i;
			}
		}
		closedir(dir);
	}
	return -ENODEV;
}

int vpci_unbind(struct vpci_dev *d, char *driver, size_t n)
{
	char path[512], link[512];
	ssize_t len;

	driver[0] = 0;
	snprintf(path, sizeof(path), SYSPCI "/%s/driver", d->bdf);
	len = readlink(path, link, sizeof(link) - 1);
	if (len < 0)
		return 0; /* not bound */
	link[len] = 0;
	snprintf(path, sizeof(path), SYSPCI "/%s/driver/unbind", d->bdf);
	if (write_file(path, d->bdf))
		return fail(d, errno, "unbinding %s from %s: %s", d->bdf, strrchr(link, '/') + 1, strerror(errno));
	snprintf(driver, n, "%s", strrchr(link, '/') + 1);
	return 0;
}

/* Reads config space and turns memory space + bus master on (the device must be allowed to DMA). */
static int enable_config(struct vpci_dev *d, uint8_t cfg[256])
{
	char path[512];
	uint16_t cmd;
	int fd, r = 0;

	snprintf(path, sizeof(path), SYSPCI "/%s/config", d->bdf);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return fail(d, errno, "open %s: %s", path, strerror(errno));
	if (pread(fd, cfg, 256, 0) != 256) {
		r = fail(d, errno, "reading 256 bytes of %s: %s", path, strerror(errno));
	} else {
		cmd = (uint16_t)(cfg[4] | cfg[5] << 8) | 0x6;
		if (pwrite(fd, &cmd, 2, 4) != 2)
			r = fail(d, errno, "writing the command register: %s", strerror(errno));
	}
	close(fd);
	return r;
}

/* The capability walk: the first common (type 1) and notify (type 2) structures. */
static int find_caps(struct vpci_dev *d, const uint8_t cfg[256])
{
	struct cap *common_cap = &d->common_cap, *notify_cap = &d->notify_cap;
	unsigned pos, guard = 0;

	if (!(cfg[6] & 0x10))
		return fail(d, ENODEV, "%s has no capability list", d->bdf);
	for (pos = cfg[0x34] & 0xfc; pos && guard < 48; pos = cfg[pos + 1] & 0xfc, guard++) {
		struct cap *c = NULL;

		if (pos > 256 - 16)
			return fail(d, EINVAL, "capability at 0x%x runs past config space", pos);
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
		return fail(d, ENODEV, "%s lacks a virtio %s capability", d->bdf,
			    common_cap->found ? "notify" : "common");
	return 0;
}

static int map_bar(struct vpci_dev *d, unsigned bar, volatile uint8_t **out)
{
	char path[512];
	struct stat st;
	void *p;
	int fd;

	snprintf(path, sizeof(path), SYSPCI "/%s/resource%u", d->bdf, bar);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int r = fail(d, errno, "open %s: %s", path, strerror(errno));

		if (fd >= 0)
			close(fd);
		return r;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int r = fail(d, errno, "mmap %s (%lld bytes): %s", path, (long long)st.st_size, strerror(errno));

		close(fd);
		return r;
	}
	close(fd);
	*out = p;
	return 0;
}

int vpci_map(struct vpci_dev *d)
{
	struct cap *cc = &d->common_cap, *nc = &d->notify_cap;
	volatile uint8_t *nbar;
	uint8_t cfg[256];
	int r;

	*cc = (struct cap){ 0 };
	*nc = (struct cap){ 0 };
	r = enable_config(d, cfg);
	if (!r)
		r = find_caps(d, cfg);
	if (!r)
		r = map_bar(d, cc->bar, &d->common);
	if (r)
		return r;
	d->common += cc->offset;
	if (cc->bar == nc->bar)
		nbar = d->common - cc->offset;
	else if ((r = map_bar(d, nc->bar, &nbar)))
		return r;
	d->notify_base = nbar + nc->offset;
	d->notify_mult = nc->mult;
	return 0;
}

static int alloc_page(struct vpci_dev *d, struct page *pg)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t entry;
	int fd;

	pg->va = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pg->va == MAP_FAILED || mlock(pg->va, (size_t)psz))
		return fail(d, errno, "a locked page: %s", strerror(errno));
	memset(pg->va, 0, (size_t)psz);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || pread(fd, &entry, 8, (off_t)((uintptr_t)pg->va / (uintptr_t)psz * 8)) != 8) {
		int r = fail(d, errno, "reading /proc/self/pagemap: %s", strerror(errno));

		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	if (!(entry >> 63) || !(entry & ((1ull << 55) - 1)))
		return fail(d, EPERM, "pagemap gives no physical address (present=%d; not root?)", (int)(entry >> 63));
	pg->pa = (entry & ((1ull << 55) - 1)) * (uint64_t)psz;
	return 0;
}

int vpci_alloc_pages(struct vpci_dev *d)
{
	struct page *pages[] = { &d->desc_pg, &d->avail_pg, &d->used_pg, &d->data_pg, &d->ind_pg };

	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		int r = alloc_page(d, pages[i]);

		if (r)
			return r;
	}
	return 0;
}

int vpci_reset(struct vpci_dev *d)
{
	wr8(d->common + C_STATUS, 0);
	for (int i = 0; i < 1000; i++) {
		if (rd8(d->common + C_STATUS) == 0)
			return 0;
		vpci_msleep(2);
	}
	return -ETIMEDOUT;
}

/* Feature negotiation: VERSION_1 required, INDIRECT_DESC taken when offered. */
static int negotiate(struct vpci_dev *d)
{
	volatile uint8_t *common = d->common;
	uint64_t offered;

	wr8(common + C_STATUS, S_ACKNOWLEDGE);
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER);
	wr32(common + C_DFSELECT, 0);
	offered = rd32(common + C_DF);
	wr32(common + C_DFSELECT, 1);
	offered |= (uint64_t)rd32(common + C_DF) << 32;
	if (!(offered & (1ull << F_VERSION_1)))
		return fail(d, ENOTSUP, "the device does not offer VIRTIO_F_VERSION_1");
	d->features = (1ull << F_VERSION_1) | (offered & (1ull << F_INDIRECT_DESC));
	wr32(common + C_GFSELECT, 0);
	wr32(common + C_GF, (uint32_t)d->features);
	wr32(common + C_GFSELECT, 1);
	wr32(common + C_GF, (uint32_t)(d->features >> 32));
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (!(rd8(common + C_STATUS) & S_FEATURES_OK))
		return fail(d, ENOTSUP, "the device refused FEATURES_OK");
	return 0;
}

int vpci_init_queue0(struct vpci_dev *d)
{
	volatile uint8_t *common = d->common;
	long psz = sysconf(_SC_PAGESIZE);
	uint16_t max;
	int r;

	if (vpci_reset(d))
		return fail(d, ETIMEDOUT, "the device did not reset (status stays non-zero)");
	memset(d->desc_pg.va, 0, (size_t)psz);
	memset(d->avail_pg.va, 0, (size_t)psz);
	memset(d->used_pg.va, 0, (size_t)psz);
	memset(d->data_pg.va, 0, (size_t)psz);
	r = negotiate(d);
	if (r)
		return r;
	wr16(common + C_MSIX, NO_VECTOR);
	if (rd16(common + C_NUMQ) < 1)
		return fail(d, ENODEV, "the device has no queues");
	wr16(common + C_Q_SELECT, 0);
	max = rd16(common + C_Q_SIZE);
	if (max == 0)
		return fail(d, ENODEV, "queue 0 has size 0");
	/* Largest power of two <= both the device's maximum and QSIZE_MAX. */
	for (d->qsize = QSIZE_MAX; d->qsize > max; d->qsize /= 2)
		;
	wr16(common + C_Q_SIZE, d->qsize);
	wr16(common + C_Q_MSIX, NO_VECTOR);
	wr64(common + C_Q_DESCLO, d->desc_pg.pa);
	wr64(common + C_Q_AVAILLO, d->avail_pg.pa);
	wr64(common + C_Q_USEDLO, d->used_pg.pa);
	((volatile uint16_t *)d->avail_pg.va)[0] = AVAIL_F_NO_INTERRUPT;
	mb();
	wr16(common + C_Q_ENABLE, 1);
	wr8(common + C_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return 0;
}

void vpci_post(struct vpci_dev *d, uint16_t head)
{
	volatile uint16_t *avail = d->avail_pg.va;
	uint16_t noff = rd16(d->common + C_Q_NOFF);

	avail[2 + avail[1] % d->qsize] = head;
	mb();
	avail[1] = avail[1] + 1;
	mb();
	wr16(d->notify_base + (uint32_t)noff * d->notify_mult, 0);
}
